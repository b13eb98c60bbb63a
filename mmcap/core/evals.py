"""Evaluators as config data: which evaluations run, and when; the best
checkpoint; the final results.

Each entry of `config.evals` is one evaluator, made by `evaluator()`: the
`kind` of evaluation (each task lists the kinds it runs), the `split` it runs
on, whether it is `enabled`, and `every_steps`: 0 runs it only at the end of
training (and with --mode=evaluate), N > 0 also every N steps during
training. Its other fields are options of its kind. An evaluator's metrics
are named 'split/name' (e.g. 'test/bleu_4').

`config.best_metric` (e.g. 'val/perplexity'; '' for none) names a metric of
an evaluator that runs during training: the state with its best value is kept
in WORKDIR/best/. Lower is better for perplexities, bits, ranks and losses
(names ending in one of LOWER_IS_BETTER), higher for every other metric.
The final results hold every enabled evaluator's metrics for the last step
and, under 'best/', for the best one.
"""

import json
import os
from typing import Any

import jax
import ml_collections

from mmcap.core.checkpoints import BestCheckpoint
from mmcap.core.steps import TrainState
from mmcap.core.task import Evaluation, Params, Task
from mmcap.errors import InputError
from mmcap.files import write_json

LOWER_IS_BETTER = ('perplexity', 'bits_per_word', 'bits_per_sentence', 'medr', 'meanr', 'loss')


def evaluator(
    kind: str, split: str, *, enabled: bool = True, every_steps: int = 0, **options: Any
) -> ml_collections.ConfigDict:
  """One entry of `config.evals`."""
  return ml_collections.ConfigDict(
      dict(kind=kind, split=split, enabled=enabled, every_steps=every_steps, **options)
  )


def check(config: ml_collections.ConfigDict, kinds: tuple[str, ...]) -> None:
  """Refuses an evaluator of an unknown kind, and a best metric that no
  evaluator computes during training."""
  for name, settings in config.evals.items():
    if settings.kind not in kinds:
      raise InputError(
          f'--config.evals.{name}.kind={settings.kind!r}: expected one of'
          f' {list(kinds)}'
      )
  if config.best_metric:
    if '/' not in config.best_metric or not _periodic(config):
      raise InputError(
          f'--config.best_metric={config.best_metric!r}: expected "split/name" of'
          f' a metric of an enabled evaluator with every_steps > 0 on that split'
          f" (or '' for none)"
      )


def _periodic(config: ml_collections.ConfigDict) -> list[str]:
  """The evaluators that run during training on the best metric's split."""
  split = config.best_metric.partition('/')[0]
  return [n for n, s in config.evals.items()
          if s.enabled and s.every_steps and s.split == split]


def lower_is_better(metric: str) -> bool:
  return metric.endswith(LOWER_IS_BETTER)


def due(evals: ml_collections.ConfigDict, step: int) -> list[str]:
  """The evaluators to run during training after `step`."""
  return [
      name
      for name, settings in evals.items()
      if settings.enabled and settings.every_steps and step % settings.every_steps == 0
  ]


def run(
    task: Task, evals: ml_collections.ConfigDict, names: list[str], params: Params
) -> Evaluation:
  """The named evaluators' metrics and files, merged."""
  merged = Evaluation({})
  for name in names:
    found = task.evaluate(evals[name], params)
    merged.metrics.update(found.metrics)
    merged.files.update(found.files)
  return merged


def during_training(
    task: Task,
    config: ml_collections.ConfigDict,
    step: int,
    state: TrainState,
    best: BestCheckpoint | None,
) -> dict[str, float]:
  """Runs the evaluators due after `step`, prints their metrics and offers
  the state to `best`; returns the metrics."""
  names = due(config.evals, step)
  if not names:
    return {}
  found = run(task, config.evals, names, state.params).metrics
  note = ''
  if best and best.metric in found:
    if best.offer(step, found[best.metric], state):
      note = f' (best {best.metric} so far)'
    else:
      note = f' (best {best.metric}: {best.value:.4g} at step {best.step})'
  elif best and set(_periodic(config)) <= set(names):
    raise InputError(
        f'--config.best_metric={config.best_metric!r}: not among the metrics'
        f' of the evaluators of its split ({sorted(found)})'
    )
  if jax.process_index() == 0:
    shown = ', '.join(f'{k} {v:.4g}' for k, v in found.items())
    print(f'eval at step {step}: {shown}{note}', flush=True)
  return found


def final_results(
    task: Task,
    config: ml_collections.ConfigDict,
    workdir: str,
    state: TrainState,
    best: BestCheckpoint | None,
    abstract_state: TrainState,
) -> dict[str, float]:
  """Every enabled evaluator on the last state and on the best one (keys
  'best/...'; its files as 'best_...' when it is not the last); the
  evaluators' files and results.json written to the workdir."""
  names = [name for name, settings in config.evals.items() if settings.enabled]
  last = run(task, config.evals, names, state.params)
  results = {'step': int(state.step), **last.metrics}
  files = dict(last.files)
  if best is not None and best.step is not None:
    results['best/step'] = best.step
    if best.step == int(state.step):
      found = last
    else:
      found = run(task, config.evals, names, best.restore(abstract_state).params)
      files.update({f'best_{name}': value for name, value in found.files.items()})
    results.update({f'best/{k}': v for k, v in found.metrics.items()})
  if jax.process_index() == 0:
    for name, value in files.items():
      write_json(os.path.join(workdir, name), value)
    write_json(os.path.join(workdir, 'results.json'), results)
    print('results:', json.dumps(results, indent=2))
  return results
