"""Orbax checkpoints of the train state, and a restore that steps past
corrupt ones. docs/RELIABILITY.md lists what each failure does."""

import math
import os
import sys

import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

from mmcap.core.steps import TrainState
from mmcap.errors import InputError


def checkpoint_manager(workdir: str) -> ocp.CheckpointManager:
  """The manager of WORKDIR/checkpoints, keeping the last 3 steps.

  Saves are atomic: Orbax writes a step to `<step>.orbax-checkpoint-tmp` and
  renames it to `<step>` when complete. A save cut short (SIGKILL, power loss)
  leaves only the temporary directory, which Orbax never lists as a step and
  replaces when that step is saved again.
  """
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')),
      options=ocp.CheckpointManagerOptions(max_to_keep=3, create=True),
  )


def require_checkpoints(workdir: str, purpose: str) -> None:
  """Refuses a workdir without checkpoints, before anything is built."""
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise InputError(f'{workdir}: no checkpoints to {purpose}; train first')


def restore_latest(
    manager: ocp.CheckpointManager, abstract_state: TrainState
) -> TrainState | None:
  """The latest checkpoint that restores, or None if there is none.

  A checkpoint that fails to restore while an earlier one succeeds is
  corrupt (a file truncated or deleted after the save): each is reported in
  one line and moved aside to `<step>.corrupt`, out of the manager's sight,
  so that training saves that step again. If none restores, as with a config
  that does not match the checkpoints, the latest one's error is raised and
  nothing is moved.
  """
  previous_hook = sys.unraisablehook

  def hook(unraisable):
    # A failed Orbax restore leaves TensorStore reads that end after its
    # event loop has closed, each then reporting this: noise, dropped.
    if str(unraisable.exc_value) != 'Event loop is closed':
      previous_hook(unraisable)

  errors, state = {}, None
  sys.unraisablehook = hook
  try:
    for step in sorted(manager.all_steps(), reverse=True):
      try:
        state = manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
        break
      except Exception as error:  # pylint: disable=broad-exception-caught
        # Orbax and TensorStore report a bad file with many exception types.
        errors[step] = error
  finally:
    sys.unraisablehook = previous_hook
  if state is None:
    if errors:
      raise errors[max(errors)]
    return None
  for bad_step, error in errors.items():
    aside = manager.directory / f'{bad_step}.corrupt'
    number = 1
    while aside.exists():  # the same step found corrupt before
      aside, number = manager.directory / f'{bad_step}.corrupt.{number}', number + 1
    if jax.process_index() == 0:
      (manager.directory / str(bad_step)).rename(aside)
    detail = ' '.join(str(error).split())[:300]
    print(
        f'warning: checkpoint {bad_step} does not restore'
        f' ({type(error).__name__}: {detail}); moved to {aside}, restored'
        f' step {step}',
        file=sys.stderr,
        flush=True,
    )
  if errors:
    multihost_utils.sync_global_devices('corrupt checkpoints moved aside')
    manager.reload()
  return state


class BestCheckpoint:
  """The train state with the best value so far of one metric, kept in
  WORKDIR/best/ (one checkpoint, with its value) beside the latest ones."""

  def __init__(self, workdir: str, metric: str, lower_is_better: bool):
    self.metric, self.lower_is_better = metric, lower_is_better
    self.manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, 'best')),
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
    if not self.manager.save(
        step, args=ocp.args.StandardSave(state), metrics={'value': float(value)}
    ):
      return False
    self.step, self.value = step, float(value)
    return True

  def restore(self, abstract_state: TrainState) -> TrainState:
    self.manager.wait_until_finished()
    return self.manager.restore(
        self.step, args=ocp.args.StandardRestore(abstract_state)
    )
