"""The activity recognition task: a prepared video dataset of one stream, an
activity model (LRCN or single frame), its per-frame loss and its
clip-averaged video accuracy, plugged into the core through the Task
protocol."""

import functools
import os
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mmcap import losses
from mmcap.core import evals
from mmcap.core.placement import Placement, process_batch_size
from mmcap.core.task import Batch, Evaluation
from mmcap.data import clips
from mmcap.data import demo_videos
from mmcap.data import prepared
from mmcap.data import video_records
from mmcap.errors import InputError
from mmcap.models import activity
from mmcap.tasks.activity import evaluators


def clip_probabilities(model, params, batch) -> dict[str, jax.Array]:
  """Each clip's per-frame softmax summed over its real frames [B, C], its
  number of real frames, label and video."""
  probabilities = jax.nn.softmax(model.apply({'params': params}, batch['clip']), axis=-1)
  return {
      'sums': jnp.sum(probabilities * batch['mask'][..., None], axis=1),
      'frames': jnp.sum(batch['mask'], axis=1),
      'label': batch['label'],
      'video': batch['video'],
  }


class ActivityTask:
  """Video clips -> class."""

  def __init__(
      self, config: ml_collections.ConfigDict, workdir: str, placement: Placement
  ):
    self.config, self.workdir, self.placement = config, workdir, placement
    evals.check(config, tuple(evaluators.KINDS))
    stream = config.dataset.stream
    if stream not in video_records.STREAMS:
      raise InputError(
          f'--config.dataset.stream={stream!r}: expected one of {list(video_records.STREAMS)}'
      )
    self.dataset_dir, self.info = prepared.resolve(
        config.dataset, os.path.join(workdir, 'demo_data', stream),
        lambda path: demo_videos.prepare(config.dataset.demo, path, stream),
        video_records.load_info,
    )
    if self.info['stream'] != config.dataset.stream:
      raise InputError(
          f'--config.dataset.stream={config.dataset.stream!r}, but'
          f' {self.dataset_dir} holds the {self.info["stream"]!r} stream'
      )
    self.train_splits = prepared.split_list(config.dataset.train_splits, 'train_splits')
    eval_splits = [e.split for e in config.evals.values() if e.enabled]
    video_records.split_files(self.dataset_dir, self.info, self.train_splits + eval_splits)
    for field in ('clip_length', 'eval_stride'):
      if config.dataset[field] < 1:
        raise InputError(f'--config.dataset.{field}={config.dataset[field]}: expected >= 1')
    self.classes = self.info['classes']
    self.model = activity.build(config.model, len(self.classes))
    self.eval_batch_size = process_batch_size(config.eval_batch_size, 'eval_batch_size')
    self.eval_step = jax.jit(
        functools.partial(clip_probabilities, self.model),
        in_shardings=(placement.replicated, placement.data),
        out_shardings=placement.replicated,
    )

  # The Task protocol (mmcap/core/task.py).

  def init_params(self, rng: jax.Array):
    frames = jnp.zeros((1, self.config.dataset.clip_length, self.info['feature_dim']))
    return self.model.init(rng, frames)['params']

  def loss(self, params, batch, rng: jax.Array):
    return losses.frame_loss(self.model, params, batch, rng)

  def train_batches(self, batch_size: int, skip_batches: int) -> Iterator[Batch]:
    return clips.train_clips(
        self.dataset_dir, self.info, self.train_splits, batch_size,
        self.config.dataset.clip_length, self.config.dataset.shuffle_buffer,
        seed=self.config.seed, skip_batches=skip_batches,
        process_index=jax.process_index(), process_count=jax.process_count(),
        per_process_shards=self.config.dataset.per_process_shards,
    )

  def train_summary(self, metrics: dict[str, np.ndarray], seconds: float) -> dict[str, float]:
    frames = float(np.sum(metrics['frames']))
    return {
        'frame_accuracy': 100.0 * float(np.sum(metrics['correct'])) / max(frames, 1.0),
        'clips_per_sec': len(metrics['frames']) * self.config.batch_size / seconds,
        'frames_per_sec': frames / seconds,
    }

  def evaluate(self, settings: ml_collections.ConfigDict, params) -> Evaluation:
    return evaluators.KINDS[settings.kind](self, settings, params)

  def workdir_files(self) -> dict:
    return {prepared.RUN_INFO_FILE: self.info}

  def eval_batches(self, split: str) -> Iterator[Batch]:
    """This process's share of a split's evaluation clips."""
    return clips.eval_clips(
        self.dataset_dir, self.info, split, self.eval_batch_size,
        self.config.dataset.clip_length, self.config.dataset.eval_stride,
        process_index=jax.process_index(), process_count=jax.process_count(),
    )
