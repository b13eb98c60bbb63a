"""Evaluators as config data: which evaluations run, and when.

Each entry of `config.evals` is one evaluator, made by `evaluator()`: the
`kind` of evaluation (each task lists the kinds it runs), the `split` it runs
on, whether it is `enabled`, and `every_steps`: 0 runs it only at the end of
training (and with --mode=evaluate), N > 0 also every N steps during
training. Its other fields are options of its kind. An evaluator's metrics
are named 'split/name' (e.g. 'test/bleu_4'); the results of a run are those
of every enabled evaluator, merged.
"""

from typing import Any

import jax
import ml_collections

from mmcap.core.task import Evaluation, Params, Task
from mmcap.errors import InputError


def evaluator(
    kind: str, split: str, *, enabled: bool = True, every_steps: int = 0, **options: Any
) -> ml_collections.ConfigDict:
  """One entry of `config.evals`."""
  return ml_collections.ConfigDict(
      dict(kind=kind, split=split, enabled=enabled, every_steps=every_steps, **options)
  )


def check(evals: ml_collections.ConfigDict, kinds: tuple[str, ...]) -> None:
  """Refuses an evaluator of an unknown kind or with a negative period."""
  for name, settings in evals.items():
    if settings.kind not in kinds:
      raise InputError(
          f'--config.evals.{name}.kind={settings.kind!r}: expected one of'
          f' {list(kinds)}'
      )
    if settings.every_steps < 0:
      raise InputError(
          f'--config.evals.{name}.every_steps={settings.every_steps}: expected'
          ' 0 (only at the end) or a positive number of steps'
      )


def due(evals: ml_collections.ConfigDict, step: int) -> list[str]:
  """The evaluators to run during training after `step`."""
  return [
      name
      for name, settings in evals.items()
      if settings.enabled and settings.every_steps and step % settings.every_steps == 0
  ]


def final(evals: ml_collections.ConfigDict) -> list[str]:
  """The evaluators to run at the end of training: every enabled one."""
  return [name for name, settings in evals.items() if settings.enabled]


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


def print_metrics(step: int, metrics: dict[str, float]) -> None:
  if jax.process_index() == 0:
    shown = ', '.join(f'{k} {v:.4g}' for k, v in metrics.items())
    print(f'eval at step {step}: {shown}', flush=True)
