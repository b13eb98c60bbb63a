"""train_and_evaluate: the one train loop, for every task and model.

Data flows one way: the task's numpy batches -> global arrays sharded over
the devices -> the jitted train step -> Orbax checkpoints and metrics ->
evaluators -> WORKDIR/results.json. docs/RELIABILITY.md describes what a
stopped or failing run keeps.
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
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from mmcap.core import checkpoints
from mmcap.core import evals
from mmcap.core import workdir as workdir_identity
from mmcap.core.checkpoints import BestCheckpoint, checkpoint_manager
from mmcap.core.placement import Placement, process_batch_size
from mmcap.core.task import Task
from mmcap.core.trainer import Trainer
from mmcap.errors import InputError


def train_and_evaluate(
    task: Task,
    config: ml_collections.ConfigDict,
    workdir: str,
    placement: Placement,
) -> dict[str, float]:
  """Trains (resuming from `workdir` if it holds a checkpoint) and evaluates.

  SIGTERM (how preemptible machines are stopped) or Ctrl-C (SIGINT) saves a
  checkpoint at the current step and exits with status 143 (128 + SIGTERM;
  130 for SIGINT) without evaluating; in a run of several processes, a
  signal to any one of them stops all of them at the same step, each with
  status 143:
  not 0, so that a scheduler does not take the run for finished. A non-finite
  loss, gradient norm or parameter norm raises FloatingPointError naming its
  step, at the next log step or checkpoint, before that checkpoint is saved.
  """
  batch_size = process_batch_size(config.batch_size, 'batch_size')
  identity_files = task.workdir_files()
  workdir_identity.check(workdir, config, identity_files)
  trainer = Trainer(task, config, placement)
  is_main = jax.process_index() == 0
  if is_main:
    workdir_identity.record(workdir, config, identity_files)
  state = trainer.restore(workdir)
  if state is None:
    state = trainer.initial_state(config.seed)
  else:
    print(f'resumed from checkpoint at step {int(state.step)}')
  manager = checkpoint_manager(workdir)
  best = _best_checkpoint(config, workdir)
  start_step = int(state.step)

  writer = metric_writers.create_default_writer(
      os.path.join(workdir, 'tensorboard'), just_logging=not is_main, asynchronous=False
  )
  batches = _on_device(
      task.train_batches(batch_size, skip_batches=start_step), placement.to_global
  )
  pending, last_time, last_step = [], time.perf_counter(), start_step
  with _stop_signals() as stop_signal:
    try:
      for step in range(start_step + 1, config.num_train_steps + 1):
        state, step_metrics = trainer.train_step(state, next(batches))
        pending.append(step_metrics)
        stop = stop_signal.at(step)
        log = step % config.log_every_steps == 0 or step == config.num_train_steps
        save = (
            step % config.checkpoint_every_steps == 0
            or step == config.num_train_steps
            or stop
        )
        checkpoints.check_saves(manager)
        if log or save:
          fetched = jax.device_get(pending)
          _check_finite(fetched, step + 1 - len(fetched), manager.latest_step())
        if log:
          pending, now = [], time.perf_counter()
          scalars = _summary(task, fetched, now - last_time, step - last_step)
          last_time, last_step = now, step
          writer.write_scalars(step, scalars)
          if is_main:
            _print_log(step, scalars, config.num_train_steps)
        if save:
          checkpoints.save(manager, step, state)
        if stop:
          break
        found = evals.during_training(task, config, step, state, best)
        if found:
          writer.write_scalars(step, found)
    finally:
      # Never exit with a save half-written.
      checkpoints.wait_for_saves(manager)
      if best:
        checkpoints.wait_for_saves(best.manager)
    if stop_signal.received is not None:
      writer.flush()
      print(
          f'{stop_signal.received.name} at step {int(state.step)}: checkpoint'
          ' saved, exiting',
          flush=True,
      )
      raise SystemExit(128 + stop_signal.received)

  results = evals.final_results(
      task, config, workdir, state, best, trainer.abstract_state
  )
  writer.write_scalars(int(state.step), {f'final/{k}': v for k, v in results.items()})
  writer.flush()
  return results


def evaluate_workdir(
    task: Task, config: ml_collections.ConfigDict, workdir: str, placement: Placement
) -> dict[str, float]:
  """--mode=evaluate: the latest (and the best) checkpoint of a workdir,
  evaluated by the enabled evaluators, as at the end of training."""
  workdir_identity.check(workdir, config, task.workdir_files())
  trainer = Trainer(task, config, placement)
  state = trainer.restore(workdir)
  if state is None:
    raise InputError(f'{workdir}/checkpoints: no checkpoint; train first')
  best = _best_checkpoint(config, workdir)
  return evals.final_results(task, config, workdir, state, best, trainer.abstract_state)


def _best_checkpoint(config: ml_collections.ConfigDict, workdir: str) -> BestCheckpoint | None:
  if not config.best_metric:
    return None
  return BestCheckpoint(
      workdir, config.best_metric, evals.lower_is_better(config.best_metric)
  )


def _summary(task: Task, fetched: list[dict], seconds: float, num_steps: int) -> dict:
  """The log scalars of the steps since the last log."""
  stacked = {k: np.stack([m[k] for m in fetched]) for k in fetched[0]}
  core = {k: float(np.mean(stacked.pop(k))) for k in ('loss', 'grad_norm', 'param_norm')}
  return {
      'loss': core['loss'],
      **task.train_summary(stacked, seconds),
      'grad_norm': core['grad_norm'],
      'param_norm': core['param_norm'],
      'steps_per_sec': num_steps / seconds,
  }


def _print_log(step: int, scalars: dict[str, float], num_train_steps: int) -> None:
  shown = {k: v for k, v in scalars.items() if k not in ('grad_norm', 'param_norm')}
  words = ' '.join(
      f'{k.replace("_per_sec", "/s")} {v:.0f}' if v >= 1000 else
      f'{k.replace("_per_sec", "/s")} {v:.4g}'
      for k, v in shown.items()
  )
  eta = (num_train_steps - step) / max(scalars['steps_per_sec'], 1e-9)
  print(f'step {step}: {words} eta {_clock(eta)}', flush=True)


def _clock(seconds: float) -> str:
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'


def _on_device(batches: Iterator, to_global, ahead: int = 2) -> Iterator:
  """Batches made global device arrays `ahead` steps before they are used,
  so that their transfer overlaps the steps before (dispatch is async)."""
  queue = collections.deque(map(to_global, itertools.islice(batches, ahead)))
  while queue:
    yield queue.popleft()
    queue.extend(map(to_global, itertools.islice(batches, 1)))


class _StopSignal:
  """Whether the loop must stop at a step, and the signal that said so."""

  received: signal.Signals | None = None
  interrupted: bool = False  # Ctrl-C once already: a second one ends the process
  multiprocess: bool = False

  def at(self, step: int) -> bool:
    """True when the run must save and stop after `step`: at once in one
    process; in several, at the step that JAX's preemption sync point
    chooses for all of them once any one was told to stop, so that they
    all save the same step (Orbax's saves are collective)."""
    if self.multiprocess and multihost_utils.reached_preemption_sync_point(step):
      self.received = self.received or signal.SIGTERM
      return True
    return not self.multiprocess and self.received is not None


@contextlib.contextmanager
def _stop_signals() -> Iterator[_StopSignal]:
  """While inside, SIGTERM and SIGINT (Ctrl-C) are recorded instead of ending
  the process, so that the loop stops between steps, with its checkpoint
  saved. A KeyboardInterrupt raised anywhere in a step could leave XLA's and
  Orbax's threads working on buffers that the exiting interpreter frees. A
  second Ctrl-C ends the process at once.

  In a multi-process run, JAX's preemption notifier handles SIGTERM (and
  tells the other processes); Ctrl-C becomes a SIGTERM to this process, so
  every process stops at the same step with status 143. Outside the loop a
  SIGTERM waits for it (start-up) or is not acted on (the final evaluation,
  which ends by itself).
  Python handles signals in the main thread only; elsewhere the signals keep
  their previous handling and nothing is recorded.
  """
  stop = _StopSignal()
  stop.multiprocess = jax.process_count() > 1
  if threading.current_thread() is not threading.main_thread():
    yield stop
    return

  def record(signum, frame):
    del frame
    if signum == signal.SIGINT and stop.interrupted:
      os._exit(128 + signum)  # pylint: disable=protected-access
    stop.interrupted = stop.interrupted or signum == signal.SIGINT
    if stop.multiprocess:
      # JAX's notifier tells every process; all stop at one step, with 143.
      os.kill(os.getpid(), signal.SIGTERM)
    else:
      stop.received = stop.received or signal.Signals(signum)

  handled = (signal.SIGINT,) if stop.multiprocess else (signal.SIGTERM, signal.SIGINT)
  previous = {s: signal.signal(s, record) for s in handled}
  try:
    yield stop
  finally:
    for s, handler in previous.items():
      signal.signal(s, signal.SIG_DFL if handler is None else handler)


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
