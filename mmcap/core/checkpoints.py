"""Orbax checkpoints of the train state: saves whose failure stops the run,
and a restore that steps past corrupt ones. docs/RELIABILITY.md lists what
each failure does."""

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

from etils import epath
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

from mmcap import files
from mmcap.core.steps import TrainState
from mmcap.errors import (CheckpointWriteError, InputError, ignoring_closed_event_loops,
                          one_line)

T = TypeVar('T')


def checkpoints_dir(workdir: str) -> str:
  return os.path.join(workdir, 'checkpoints')


def checkpoint_manager(workdir: str) -> ocp.CheckpointManager:
  """The manager of WORKDIR/checkpoints, keeping the last 3 steps.

  Saves are atomic: Orbax writes a step to `<step>.orbax-checkpoint-tmp` and
  renames it to `<step>` when complete. A save cut short (SIGKILL, power loss)
  leaves only the temporary directory, which Orbax never lists as a step and
  replaces when that step is saved again.
  """
  return ocp.CheckpointManager(
      files.absolute(checkpoints_dir(workdir)),
      options=ocp.CheckpointManagerOptions(max_to_keep=3, create=True),
  )


def require_checkpoints(workdir: str, purpose: str) -> None:
  """Refuses a workdir without checkpoints, before anything is built."""
  if not epath.Path(checkpoints_dir(workdir)).is_dir():
    raise InputError(f'{workdir}: no checkpoints to {purpose}; train first')


def saved_steps(directory: str) -> list[int]:
  """The steps whose save completed in a checkpoints directory: Orbax
  renames a step's temporary directory to `<step>` when it is complete, or
  in a bucket (no atomic rename) writes `<step>/commit_success.txt` last."""
  if not epath.Path(directory).is_dir():
    return []
  steps = [p for p in epath.Path(directory).iterdir() if p.name.isdecimal()]
  if files.is_url(directory):
    steps = [p for p in steps if (p / 'commit_success.txt').exists()]
  return sorted(int(p.name) for p in steps)


def save(manager: ocp.CheckpointManager, step: int, state: TrainState) -> None:
  """Starts saving `state` at `step` (the write continues in the background);
  a failed save, this one's or an earlier one's, raises CheckpointWriteError."""
  _reporting_write_errors(manager, lambda: manager.save(step, args=ocp.args.StandardSave(state)))


def check_saves(manager: ocp.CheckpointManager) -> None:
  """Raises CheckpointWriteError if a background save has failed; does not
  wait."""
  _reporting_write_errors(manager, manager.check_for_errors)


def wait_for_saves(manager: ocp.CheckpointManager) -> None:
  """Waits for the save in progress; raises CheckpointWriteError if it
  failed."""
  _reporting_write_errors(manager, manager.wait_until_finished)


def _reporting_write_errors(manager: ocp.CheckpointManager, call: Callable[[], T]) -> T:
  """`call()`'s result; its error, as one a failed save raises, becomes a
  CheckpointWriteError naming the directory and the latest complete step."""
  try:
    return call()
  except Exception as error:  # pylint: disable=broad-exception-caught
    # Orbax reports a failed write (read-only, disk full, I/O error) with the
    # exception of whatever failed, from its background threads.
    steps = saved_steps(str(manager.directory))
    raise CheckpointWriteError(
        f'{manager.directory}: checkpoint not saved ({_one_line(error)}); run'
        f' stopped, latest complete checkpoint: {steps[-1] if steps else "none"}'
    ) from error


def _one_line(error: Exception) -> str:
  return f'{type(error).__name__}: {one_line(str(error), 300)}'


def restore_latest(
    directory: str, abstract_state: TrainState
) -> TrainState | None:
  """The latest checkpoint in `directory` that restores, or None if there is
  none.

  A checkpoint that fails to restore while an earlier one succeeds is
  corrupt (a file truncated or deleted after the save): each is reported in
  one line and moved aside to `<step>.corrupt` (or `<step>.corrupt.N`), out
  of Orbax's sight, so that training saves that step again. If none
  restores, as with a config that does not match the checkpoints, an
  InputError names the latest one's error and nothing is moved. Each step is
  read by a manager of its own: a failed restore leaves a manager unable to
  read the next step.
  """
  errors, state = {}, None
  with _quiet_failed_reads():
    for step in reversed(saved_steps(directory)):
      try:
        state = _restore_step(directory, step, abstract_state)
        break
      except Exception as error:  # pylint: disable=broad-exception-caught
        # Orbax and TensorStore report a bad file with many exception types.
        errors[step] = error
        _ignore_abandoned_reads()
  if state is None:
    if errors:
      latest = max(errors)
      raise InputError(
          f'{directory}: no checkpoint restores (step {latest}:'
          f' {_one_line(errors[latest])}); the config does not match them, or'
          ' all are damaged; nothing was moved'
      ) from errors[latest]
    return None
  for bad_step, error in errors.items():
    aside = _unused_name(os.path.join(directory, f'{bad_step}.corrupt'))
    if jax.process_index() == 0:
      epath.Path(directory, str(bad_step)).rename(aside)
    print(
        f'warning: checkpoint {bad_step} does not restore ({_one_line(error)});'
        f' moved to {aside}, restored step {step}',
        file=sys.stderr,
        flush=True,
    )
  if errors:
    multihost_utils.sync_global_devices('corrupt checkpoints moved aside')
  return state


@contextlib.contextmanager
def _quiet_failed_reads() -> Iterator[None]:
  """Drops the reports of the TensorStore reads a failed restore leaves,
  which end after its event loop has closed."""
  previous_hook = sys.unraisablehook
  sys.unraisablehook = ignoring_closed_event_loops(previous_hook)
  try:
    yield
  finally:
    sys.unraisablehook = previous_hook


def _ignore_abandoned_reads() -> None:
  """Drops, for the rest of the process, the warnings of the metadata reads a
  failed restore abandons: Python reports each when its coroutine is
  collected, at a time that depends on the threads (often at exit, after the
  run's one-line error)."""
  warnings.filterwarnings(
      'ignore', message=r"coroutine '.*' was never awaited", category=RuntimeWarning)


def _restore_step(directory: str, step: int, abstract_state: TrainState) -> TrainState:
  options = ocp.CheckpointManagerOptions(create=False)
  with ocp.CheckpointManager(files.absolute(directory), options=options) as manager:
    return manager.restore(step, args=ocp.args.StandardRestore(abstract_state))


def _unused_name(path: str) -> str:
  """`path`, or `path.N` for the first N not taken (a step found corrupt
  before keeps its first copy)."""
  candidate, number = path, 1
  while epath.Path(candidate).exists():
    candidate, number = f'{path}.{number}', number + 1
  return candidate


class BestCheckpoint:
  """The train state with the best value so far of one metric, kept in
  WORKDIR/best/ (one checkpoint, with its value) beside the latest ones."""

  def __init__(self, workdir: str, metric: str, lower_is_better: bool):
    self.metric, self.lower_is_better = metric, lower_is_better
    self.manager = ocp.CheckpointManager(
        files.absolute(os.path.join(workdir, 'best')),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1,
            best_fn=lambda metrics: metrics['value'],
            best_mode='min' if lower_is_better else 'max',
            keep_checkpoints_without_metrics=False,
            create=True,
        ),
    )
    self.step = self.manager.best_step()
    self.value = None if self.step is None else self.manager.metrics(self.step)['value']
    if self.value is not None and not math.isfinite(self.value):
      self.step = self.value = None

  def offer(self, step: int, value: float, state: TrainState) -> bool:
    """Saves `state` if `value` is finite and beats the best so far; whether
    it did. A best from a later step (saved before the run was stopped and
    resumed from an earlier checkpoint) gives way to a better one."""
    if not math.isfinite(value):
      return False
    if self.value is not None:
      better = value < self.value if self.lower_is_better else value > self.value
      if not better or step == self.step:
        return False
    for later in self.manager.all_steps():
      if later >= step:  # Orbax saves only steps after its latest
        self.manager.delete(later)
    if not _reporting_write_errors(self.manager, lambda: self.manager.save(
        step, args=ocp.args.StandardSave(state), metrics={'value': float(value)}
    )):
      return False
    self.step, self.value = step, float(value)
    return True

  def restore(self, abstract_state: TrainState) -> TrainState:
    """The best state; an InputError in one line if it does not restore."""
    wait_for_saves(self.manager)
    try:
      with _quiet_failed_reads():
        return self.manager.restore(
            self.step, args=ocp.args.StandardRestore(abstract_state)
        )
    except Exception as error:  # pylint: disable=broad-exception-caught
      raise InputError(
          f'{self.manager.directory}: the best checkpoint (step {self.step})'
          f' does not restore ({_one_line(error)}); move it away to evaluate'
          ' without it'
      ) from error
