"""Activity recognition models (LRCN, CVPR 2015, and its single-frame
baseline), from per-frame CNN features. Both give class logits at every frame,
[B, T, C]; the loss is at every frame and predictions are averaged over a
video's frames (mmcap/tasks/activity).

  lrcn          features -> ReLU -> dropout (0.9 in the reference) -> LSTM
                (256; U(-0.01, 0.01), bias 0; input projection for all frames
                at once, outside the scan) -> dropout 0.5 -> linear classifier
  single_frame  features -> ReLU -> dropout -> [linear hidden layer (the
                reference's fc7, 4096) -> ReLU -> dropout 0.5] -> linear
                classifier, each frame on its own

Weights of the linear layers are N(0, 0.01^2), biases 0 (0.1 for the hidden
layer), as in the reference prototxts.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from mmcap.errors import InputError
from mmcap.models.captioner import DTYPES
from mmcap.models.dropout import Dropout
from mmcap.models.recurrence import LSTM

NAMES = ('lrcn', 'single_frame')


@dataclasses.dataclass(frozen=True)
class ActivityConfig:
  """An activity model's hyperparameters: the fields of `config.model`, plus
  the number of classes, which comes from the dataset."""

  num_classes: int
  name: str = 'lrcn'  # or 'single_frame'
  hidden_dim: int = 256  # LSTM units; single_frame: the hidden layer (0: none)
  input_dropout: float = 0.9  # on the ReLU of the frame features
  output_dropout: float = 0.5  # on the LSTM output / the hidden layer
  init_scale: float = 0.01  # the LSTM's U(-init_scale, init_scale)
  dtype: str = 'float32'  # compute dtype; parameters stay float32
  unroll: int = 1  # lax.scan unroll of the LSTM

  def __post_init__(self):
    for field, allowed in (('name', NAMES), ('dtype', tuple(DTYPES))):
      if getattr(self, field) not in allowed:
        raise InputError(
            f'--config.model.{field}={getattr(self, field)!r}: expected one of'
            f' {list(allowed)}'
        )
    for field in ('input_dropout', 'output_dropout'):
      if not 0 <= getattr(self, field) < 1:
        raise InputError(
            f'--config.model.{field}={getattr(self, field)}: expected a rate in [0, 1)'
        )

  @property
  def compute_dtype(self) -> Any:
    return DTYPES[self.dtype]


def _classifier(config: ActivityConfig) -> nn.Dense:
  return nn.Dense(
      config.num_classes,
      kernel_init=nn.initializers.normal(0.01),
      dtype=config.compute_dtype,
      name='classifier',
  )


class LRCNActivity(nn.Module):
  """Per-frame features -> LSTM -> class logits at every frame."""

  config: ActivityConfig

  @nn.compact
  def __call__(self, frames_btd: jax.Array, train: bool = False) -> jax.Array:
    config = self.config
    x = Dropout(config.input_dropout)(jax.nn.relu(frames_btd), deterministic=not train)
    h = LSTM(config.hidden_dim, config.init_scale, config.compute_dtype, config.unroll,
             name='lstm')(x)
    h = Dropout(config.output_dropout)(h, deterministic=not train)
    return _classifier(config)(h).astype(jnp.float32)


class SingleFrame(nn.Module):
  """Each frame classified on its own: the single-frame baseline."""

  config: ActivityConfig

  @nn.compact
  def __call__(self, frames_btd: jax.Array, train: bool = False) -> jax.Array:
    config = self.config
    x = Dropout(config.input_dropout)(jax.nn.relu(frames_btd), deterministic=not train)
    if config.hidden_dim:
      x = nn.Dense(config.hidden_dim, kernel_init=nn.initializers.normal(0.01),
                   bias_init=nn.initializers.constant(0.1), dtype=config.compute_dtype,
                   name='hidden')(x)
      x = Dropout(config.output_dropout)(jax.nn.relu(x), deterministic=not train)
    return _classifier(config)(x).astype(jnp.float32)


def build(config: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """The activity model named by `config.name` (config: `config.model`)."""
  model_config = ActivityConfig(num_classes=num_classes, **config.to_dict())
  return (LRCNActivity if model_config.name == 'lrcn' else SingleFrame)(model_config)
