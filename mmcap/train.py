"""train_and_evaluate and evaluate_workdir: the task named by a config (the
registry of tasks), run on the core.

Importable from Colab: `train.train_and_evaluate(config, workdir)` trains
(resuming from `workdir` if it holds a checkpoint), evaluates and returns the
results that WORKDIR/results.json holds.
"""

import ml_collections

from mmcap.core import loop
from mmcap.core.checkpoints import require_checkpoints
from mmcap.core.config import validate
from mmcap.core.placement import Placement
from mmcap.core.task import Task
from mmcap.errors import InputError
from mmcap.tasks.activity.task import ActivityTask
from mmcap.tasks.captioning.task import CaptioningTask
from mmcap.tasks.video.task import VideoTask

TASKS = {'captioning': CaptioningTask, 'activity': ActivityTask, 'video': VideoTask}


def build_task(
    config: ml_collections.ConfigDict, workdir: str, placement: Placement
) -> Task:
  """The task named by `config.task`, with its dataset and model."""
  if config.task not in TASKS:
    raise InputError(f'--config.task={config.task!r}: expected one of {list(TASKS)}')
  return TASKS[config.task](config, workdir, placement)


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str
) -> dict[str, float]:
  """Trains the config's task in `workdir`, then runs its evaluators."""
  validate(config)
  placement = Placement.over_all_devices()
  task = build_task(config, workdir, placement)
  return loop.train_and_evaluate(task, config, workdir, placement)


def evaluate_workdir(
    config: ml_collections.ConfigDict, workdir: str
) -> dict[str, float]:
  """--mode=evaluate: the latest checkpoint of `workdir`, evaluated as at the
  end of training; rewrites WORKDIR/results.json."""
  validate(config)
  require_checkpoints(workdir, 'evaluate')
  placement = Placement.over_all_devices()
  task = build_task(config, workdir, placement)
  return loop.evaluate_workdir(task, config, workdir, placement)
