"""Activity rows of `python -m mmcap.benchmark`: the training step of LRCN
and of the single-frame baseline on synthetic clips, at the reference size
(fc6 features D = 4096, LSTM 256 or fc7 4096, 101 classes, 24 clips of 16
frames) and at a CPU size."""

import dataclasses
import functools
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from mmcap import losses
from mmcap.core import benchmark
from mmcap.models import activity

SIZES = {
    'paper': dict(features=4096, lstm=256, fc7=4096, classes=101, clip=16, batch=24),
    'cpu': dict(features=256, lstm=64, fc7=256, classes=101, clip=16, batch=24),
}
SIZES['compare'] = SIZES['paper']  # the PyTorch comparison: the reference size
MODELS = ('activity_lrcn', 'activity_single_frame')


def model_config(name: str, size: dict, settings: benchmark.Settings) -> ml_collections.ConfigDict:
  lrcn = name == 'activity_lrcn'
  return ml_collections.ConfigDict(dict(
      name='lrcn' if lrcn else 'single_frame',
      hidden_dim=size['lstm'] if lrcn else size['fc7'],
      input_dropout=0.9 if lrcn else 0.5, output_dropout=0.5, init_scale=0.01,
      # As the configs run it: the LSTM fully unrolled over a clip.
      dtype=settings.dtype, unroll=settings.unroll or (size['clip'] if lrcn else 1)))


def closed_form_flops_per_frame(config: ml_collections.ConfigDict, size: dict) -> float:
  """The dense layers' FLOPs per training frame: 6 x MACs (forward, and the
  gradients of the weights and of the input), but 4 x for the first layer,
  whose input, the frame features, needs no gradient."""
  d, h, c = size['features'], config.hidden_dim, size['classes']
  if config.name == 'lrcn':
    return 4 * 4 * h * d + 6 * (4 * h * h + h * c)
  return 4 * d * h + 6 * h * c


def _train(name: str, settings: benchmark.Settings) -> dict:
  size = SIZES[settings.size]
  config = model_config(name, size, settings)
  model = activity.build(config, size['classes'])
  batch_size = settings.batch_size or size['batch']
  rng = np.random.default_rng(0)
  batch = {
      'clip': rng.normal(size=(batch_size, size['clip'], size['features'])).astype(np.float32),
      'mask': np.ones((batch_size, size['clip']), np.float32),
      'label': rng.integers(size['classes'], size=batch_size).astype(np.int32),
  }
  params = jax.jit(model.init)(jax.random.key(0), batch['clip'][:1])['params']
  unrolled = model.clone(config=dataclasses.replace(model.config, unroll=size['clip']))
  frames = batch_size * size['clip']
  flops = closed_form_flops_per_frame(config, size) * frames
  twin = None
  if settings.compare == 'torch':
    from mmcap import torch_twin  # pylint: disable=g-import-not-at-top
    twin = torch_twin.train_call(torch_twin.activity(model, params), torch_twin.frame_loss,
                                 batch, settings)
  row = benchmark.train_row(
      functools.partial(losses.frame_loss, model), functools.partial(losses.frame_loss, unrolled),
      params, batch, {'clips': batch_size, 'frames': frames}, flops, settings, twin)
  return {'benchmark': 'train', 'model': name, 'unroll': config.unroll,
          'batch_size': batch_size} | row


def rows(names: list[str], settings: benchmark.Settings) -> Iterator[dict]:
  """The training step of each asked-for activity model."""
  if 'train' in settings.benchmarks:
    for name in names:
      yield _train(name, settings)
