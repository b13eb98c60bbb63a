"""train_and_evaluate: one train loop for every captioning model.

Data flows one way: prepared dataset -> tf.data numpy batches -> global arrays
sharded over the devices -> the jitted train step (mmcap/steps.py) -> Orbax
checkpoints and metrics -> final evaluation written to WORKDIR/results.json.
"""

import collections
import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator

from clu import metric_writers
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from mmcap.data import pipeline
from mmcap.data import records
from mmcap.evaluate import evaluate, write_results
from mmcap.experiment import Experiment, checkpoint_manager, write_json


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str
) -> dict[str, float]:
  """Trains (resuming from `workdir` if it holds a checkpoint) and evaluates.

  SIGTERM (how preemptible machines are stopped) saves a checkpoint at the
  current step and exits with status 143 (128 + SIGTERM) without evaluating:
  not 0, so that a scheduler does not take the run for finished. A non-finite
  loss, gradient norm or parameter norm raises FloatingPointError naming its
  step, at the next log step or checkpoint, before that checkpoint is saved.
  See docs/RELIABILITY.md.
  """
  experiment = Experiment(config, workdir)
  os.makedirs(workdir, exist_ok=True)
  is_main = jax.process_index() == 0
  if is_main:
    experiment.vocab.save(os.path.join(workdir, records.VOCAB_FILE))
    write_json(os.path.join(workdir, records.INFO_FILE), experiment.info)
    write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  manager = checkpoint_manager(workdir)
  state = experiment.restore(manager)
  if state is None:
    state = experiment.initial_state()
  else:
    print(f'resumed from checkpoint at step {int(state.step)}')
  start_step = int(state.step)

  writer = metric_writers.SummaryWriter(os.path.join(workdir, 'tensorboard'))
  batches = pipeline.train_batches(
      experiment.dataset_dir,
      experiment.info,
      experiment.train_splits,
      config.batch_size // jax.process_count(),
      config.dataset.max_steps,
      config.dataset.shuffle_buffer,
      seed=config.seed,
      skip_batches=start_step,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  batches = _on_device(batches, experiment.to_global)
  pending, last_time, last_step = [], time.perf_counter(), start_step
  with _sigterm_received() as sigterm:
    try:
      for step in range(start_step + 1, config.num_train_steps + 1):
        state, step_metrics = experiment.train_step(state, next(batches))
        pending.append(step_metrics)
        stop = sigterm.is_set()
        log = step % config.log_every_steps == 0 or step == config.num_train_steps
        save = (
            step % config.checkpoint_every_steps == 0
            or step == config.num_train_steps
            or stop
        )
        if log or save:
          fetched = jax.device_get(pending)
          _check_finite(fetched, step + 1 - len(fetched), manager.latest_step())
        if log:
          pending = []
          now = time.perf_counter()
          scalars = {
              k: float(np.mean([m[k] for m in fetched]))
              for k in ('loss', 'nll_per_token', 'grad_norm', 'param_norm')
          }
          scalars['perplexity'] = float(np.exp(scalars.pop('nll_per_token')))
          scalars['steps_per_sec'] = (step - last_step) / (now - last_time)
          scalars['tokens_per_sec'] = sum(m['num_tokens'] for m in fetched) / (
              now - last_time
          )
          last_time, last_step = now, step
          writer.write_scalars(step, scalars)
          if is_main:
            print(
                f'step {step}: loss {scalars["loss"]:.4f} perplexity'
                f' {scalars["perplexity"]:.3f} steps/s'
                f' {scalars["steps_per_sec"]:.1f} tokens/s'
                f' {scalars["tokens_per_sec"]:.0f}',
                flush=True,
            )
        if save:
          manager.save(step, args=ocp.args.StandardSave(state))
        if stop:
          break
    finally:
      manager.wait_until_finished()  # never exit with a save half-written
    if sigterm.is_set():
      writer.flush()
      print(
          f'SIGTERM at step {int(state.step)}: checkpoint saved, exiting',
          flush=True,
      )
      raise SystemExit(128 + signal.SIGTERM)

  results = evaluate(experiment, state.params, int(state.step))
  writer.write_scalars(int(state.step), {f'final/{k}': v for k, v in results.items()})
  writer.flush()
  write_results(workdir, results)
  return results


def _on_device(batches: Iterator, to_global, ahead: int = 2) -> Iterator:
  """Batches made global device arrays `ahead` steps before they are used,
  so that their transfer overlaps the steps before (dispatch is async)."""
  queue = collections.deque(map(to_global, itertools.islice(batches, ahead)))
  while queue:
    yield queue.popleft()
    queue.extend(map(to_global, itertools.islice(batches, 1)))


@contextlib.contextmanager
def _sigterm_received() -> Iterator[threading.Event]:
  """An event that SIGTERM sets, instead of ending the process, while inside.

  Python handles signals in the main thread only; elsewhere SIGTERM keeps its
  previous handling and the event is never set.
  """
  received = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield received
    return
  previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.set())
  try:
    yield received
  finally:
    signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _check_finite(
    metrics: list[dict[str, np.ndarray]], first_step: int, last_saved: int | None
) -> None:
  """Raises FloatingPointError at the first step of `metrics` (steps from
  `first_step` on) whose loss, gradient norm or parameter norm is not
  finite."""
  for step, m in enumerate(metrics, first_step):
    values = {k: float(m[k]) for k in ('loss', 'grad_norm', 'param_norm')}
    if not all(np.isfinite(v) for v in values.values()):
      found = ', '.join(f'{k} {v}' for k, v in values.items())
      raise FloatingPointError(
          f'not finite at step {step}: {found}; stopped before saving it'
          f' (latest checkpoint: step {last_saved})'
      )
