"""ResNet-50 (v1, as Keras's applications build it) in Flax, with weights
converted from Keras's applications file, for feature extraction.

Like vgg.py, the model takes RGB images [B, H, W, 3] in 0..255 and applies
the Caffe preprocessing itself (BGR, ImageNet mean subtracted: Keras's
`resnet50.preprocess_input`). Batch normalization is frozen at the file's
moving statistics: mmcap only extracts features with it, never trains it.
It returns the named layers asked for: `avg_pool` [B, 2048] (the global
average of the last block's output, the usual ResNet feature) and `logits`
[B, 1000] (before the softmax).

Weights: `resnet50_weights_tf_dim_ordering_tf_kernels.h5`
(keras.applications.ResNet50's download), or its `_notop.h5` without the
classifier (then `avg_pool` only), read by the file's layer and weight
names (keras_cnn.py). Nothing is downloaded.
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmcap.errors import InputError
from mmcap.models import keras_cnn

NETWORK = 'ResNet-50'
KERAS_WEIGHTS_FILE = 'resnet50_weights_tf_dim_ordering_tf_kernels.h5'
LAYERS = ('avg_pool', 'logits')
BN_EPSILON = 1.001e-5  # Keras's, for every batch normalization of ResNet


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
  """ResNet-50's sizes: the reference's by default; smaller ones for tests."""

  widths: tuple[int, ...] = (64, 128, 256, 512)  # bottleneck width per stage
  blocks: tuple[int, ...] = (3, 4, 6, 3)  # blocks per stage (conv2 .. conv5)
  image_size: int = 224  # the crop
  num_classes: int = 1000  # 0: no classifier (Keras's _notop weights)
  dtype: str = 'float32'

  @property
  def feature_dim(self) -> int:
    return 4 * self.widths[-1]


class FrozenBatchNorm(nn.Module):
  """Batch normalization at fixed statistics: gamma (x - mean) /
  sqrt(variance + eps) + beta, with Keras's four weights as parameters."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    shape = (x.shape[-1],)
    gamma, beta, mean, variance = (
        self.param(name, init, shape, jnp.float32)
        for name, init in (('gamma', nn.initializers.ones), ('beta', nn.initializers.zeros),
                           ('moving_mean', nn.initializers.zeros),
                           ('moving_variance', nn.initializers.ones)))
    scale = gamma * jax.lax.rsqrt(variance + BN_EPSILON)
    return (x.astype(jnp.float32) * scale + (beta - mean * scale)).astype(x.dtype)


def _conv_bn(x, width: int, kernel: int, stride: int, name: str, dtype) -> jax.Array:
  """Keras's `{name}_conv` then `{name}_bn` ('same' padding for the 3 x 3
  convolutions, 'valid' for the others, as Keras's)."""
  padding = 'SAME' if kernel == 3 else 'VALID'
  x = nn.Conv(width, (kernel, kernel), strides=stride, padding=padding, dtype=dtype,
              name=f'{name}_conv')(x)
  return FrozenBatchNorm(name=f'{name}_bn')(x)


def block_names(config: ResNetConfig) -> list[str]:
  """Keras's names of the residual blocks, in order (conv2_block1, ...)."""
  return [f'conv{stage}_block{block}'
          for stage, count in enumerate(config.blocks, 2) for block in range(1, count + 1)]


class ResNet50(nn.Module):
  """ResNet-50 returning the layers named in `outputs` (see LAYERS)."""

  config: ResNetConfig = ResNetConfig()

  @nn.compact
  def __call__(
      self, images_rgb: jax.Array, outputs: Sequence[str] = ('avg_pool',)
  ) -> dict[str, jax.Array]:
    unknown = set(outputs) - set(layers(self.config))
    if unknown:
      raise InputError(f'ResNet-50 layers {sorted(unknown)}: expected some of'
                       f' {list(layers(self.config))} (logits need a classifier)')
    dtype = jnp.dtype(self.config.dtype)
    x = keras_cnn.caffe_input(images_rgb, dtype)
    x = jnp.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)))
    x = nn.relu(_conv_bn(x, 64, 7, 2, 'conv1', dtype))
    # Zero padding, then a 'valid' max pool, as Keras's (after a ReLU, a zero
    # never wins over the window's values).
    x = nn.max_pool(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), (3, 3), strides=(2, 2))
    for stage, (width, count) in enumerate(zip(self.config.widths, self.config.blocks), 2):
      for block in range(1, count + 1):
        name = f'conv{stage}_block{block}'
        stride = 2 if stage > 2 and block == 1 else 1
        shortcut = (_conv_bn(x, 4 * width, 1, stride, f'{name}_0', dtype) if block == 1
                    else x)
        y = nn.relu(_conv_bn(x, width, 1, stride, f'{name}_1', dtype))
        y = nn.relu(_conv_bn(y, width, 3, 1, f'{name}_2', dtype))
        x = nn.relu(shortcut + _conv_bn(y, 4 * width, 1, 1, f'{name}_3', dtype))
    found = {'avg_pool': jnp.mean(x.astype(jnp.float32), axis=(1, 2))}
    if 'logits' in outputs:
      found['logits'] = nn.Dense(self.config.num_classes, dtype=dtype, name='predictions')(
          found['avg_pool'].astype(dtype))
    return {name: found[name].astype(jnp.float32) for name in outputs}


def flops_per_image(config: ResNetConfig, layer: str) -> float:
  """The convolutions' and the classifier's FLOPs (2 x MACs) of one image
  through `layer` (see LAYERS)."""
  size = config.image_size // 2
  macs, channels = size * size * 7 * 7 * 3 * 64, 64
  size //= 2  # the max pool
  for stage, (width, count) in enumerate(zip(config.widths, config.blocks), 2):
    for block in range(1, count + 1):
      if stage > 2 and block == 1:
        size //= 2
      macs += size * size * (channels * width + 9 * width * width + width * 4 * width)
      if block == 1:
        macs += size * size * channels * 4 * width
      channels = 4 * width
  if layer == 'logits':
    macs += channels * config.num_classes
  return 2.0 * macs


def layers(config: ResNetConfig) -> tuple[str, ...]:
  """The layers a ResNet of `config` has: no logits without a classifier."""
  return LAYERS if config.num_classes else ('avg_pool',)


def _required(config: ResNetConfig) -> list[str]:
  classifier = ['predictions'] if config.num_classes else []
  return ['conv1_conv'] + [f'{name}_3_bn' for name in block_names(config)] + classifier


def config_from_keras_h5(path: str, image_size: int = 224) -> ResNetConfig:
  """The sizes of the ResNet-50 whose weights `path` holds, for images of
  `image_size` (the crop): stages and blocks from the file's layer names,
  widths from their kernels; no classifier for a _notop file."""
  with keras_cnn.open_h5(path, NETWORK, KERAS_WEIGHTS_FILE) as f:
    found = keras_cnn.layer_weights(path, f, ['conv1_conv', 'conv2_block1_1_conv'], NETWORK)
    blocks, widths = [], []
    for stage in range(2, 6):
      names = [n for n in found if n.startswith(f'conv{stage}_block') and n.endswith('_1_conv')]
      if not names:
        raise InputError(f'{path}: no layer conv{stage}_block1_1_conv; expected the'
                         f' weights of {NETWORK}')
      blocks.append(len(names))
      widths.append(found[f'conv{stage}_block1_1_conv'][0].shape[-1])
    num_classes = found['predictions'][0].shape[-1] if 'predictions' in found else 0
  return ResNetConfig(widths=tuple(widths), blocks=tuple(blocks), image_size=image_size,
                      num_classes=num_classes)


def load_keras_h5(path: str, config: ResNetConfig = ResNetConfig()) -> dict:
  """ResNet-50's parameters from a Keras h5 weights file (the applications
  file, or a whole model saved as .h5), checked against `config`'s shapes:
  each layer's weights by its name, in the order of its weight_names
  (kernel, bias; gamma, beta, moving mean, moving variance)."""
  expected = jax.eval_shape(
      lambda: ResNet50(config).init(
          jax.random.key(0), jnp.zeros((1, config.image_size, config.image_size, 3)),
          layers(config))
  )['params']
  params = {}
  with keras_cnn.open_h5(path, NETWORK, KERAS_WEIGHTS_FILE) as f:
    found = keras_cnn.layer_weights(path, f, _required(config), NETWORK)
    for name, shapes in expected.items():
      if name not in found:
        raise InputError(f'{path}: no layer {name!r}; expected the weights of {NETWORK}'
                         f' of stages {config.blocks}')
      keys = (('gamma', 'beta', 'moving_mean', 'moving_variance') if name.endswith('_bn')
              else ('kernel', 'bias'))
      params[name] = keras_cnn.take(path, name, found[name],
                                    {key: shapes[key].shape for key in keys}, NETWORK,
                                    config.image_size)
  return params
