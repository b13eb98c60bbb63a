"""VGG-16 in Flax, with the preprocessing of the features the LRCN and m-RNN
references used, and weights converted from Keras's applications file.

The model takes RGB images, [B, H, W, 3] with values in 0..255, and applies
the Caffe preprocessing itself: channels to BGR, the ImageNet mean
[103.939, 116.779, 123.68] (B, G, R) subtracted, as Keras's
`vgg16.preprocess_input` does. Images are resized and cropped before it
(the references: the 224 centre crop of a 256 resize, or 10 crops). It
returns the named layers asked for: `pool5` [B, 7, 7, 512],
`fc6` and `fc7` [B, 4096] (after their ReLU, as Caffe's fc7 blob the
references read), `logits` [B, 1000] (before the softmax).

Weights: `vgg16_weights_tf_dim_ordering_tf_kernels.h5`, the Keras
applications file (keras.applications.VGG16's download), read with h5py by
the file's own layer and weight names (`load_keras_h5`), as Keras's legacy
loader reads it. Nothing is downloaded.
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmcap.errors import InputError
from mmcap.models import keras_cnn

NETWORK = 'VGG-16'
KERAS_WEIGHTS_FILE = 'vgg16_weights_tf_dim_ordering_tf_kernels.h5'
LAYERS = ('pool5', 'fc6', 'fc7', 'logits')
# Keras's layer names for VGG-16's convolutions, block by block.
_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
# mmcap's name of each fully connected layer, and Keras's.
_DENSE = (('fc6', 'fc1'), ('fc7', 'fc2'), ('logits', 'predictions'))


@dataclasses.dataclass(frozen=True)
class VGGConfig:
  """VGG-16's widths: the reference's by default; narrower ones for tests."""

  widths: tuple[int, ...] = (64, 128, 256, 512, 512)  # per block
  image_size: int = 224  # the crop; fc6's input is (image_size / 32)^2 x widths[-1]
  dense_dim: int = 4096
  num_classes: int = 1000
  dtype: str = 'float32'


def conv_names() -> list[str]:
  """Keras's names of the 13 convolutions, in order (block1_conv1, ...)."""
  return [f'block{b}_conv{c}' for b, convs in _BLOCKS for c in range(1, convs + 1)]


class VGG16(nn.Module):
  """VGG-16 returning the layers named in `outputs` (see LAYERS)."""

  config: VGGConfig = VGGConfig()

  @nn.compact
  def __call__(
      self, images_rgb: jax.Array, outputs: Sequence[str] = ('fc7',)
  ) -> dict[str, jax.Array]:
    unknown = set(outputs) - set(LAYERS)
    if unknown:
      raise InputError(f'VGG-16 layers {sorted(unknown)}: expected some of {list(LAYERS)}')
    dtype = jnp.dtype(self.config.dtype)
    x = keras_cnn.caffe_input(images_rgb, dtype)
    names = iter(conv_names())
    for (_, convs), width in zip(_BLOCKS, self.config.widths):
      for _ in range(convs):
        x = nn.relu(nn.Conv(width, (3, 3), padding='SAME', dtype=dtype, name=next(names))(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    found = {'pool5': x}
    x = x.reshape(x.shape[0], -1)  # row-major over (H, W, C), as Keras flattens
    sizes = (self.config.dense_dim,) * 2 + (self.config.num_classes,)
    for (name, _), size in zip(_DENSE, sizes):
      if not set(outputs) - set(found):
        break  # the layers after the last one asked for are not computed
      x = nn.Dense(size, dtype=dtype, name=name)(x)
      found[name] = x if name == 'logits' else nn.relu(x)
      x = found[name]
    return {name: found[name].astype(jnp.float32) for name in outputs}


def flops_per_image(config: VGGConfig, layer: str) -> float:
  """The convolutions' and dense layers' FLOPs (2 x MACs) of one image
  through `layer` (see LAYERS)."""
  macs, size, channels = 0, config.image_size, 3
  for (_, convs), width in zip(_BLOCKS, config.widths):
    for _ in range(convs):
      macs += size * size * 9 * channels * width
      channels = width
    size //= 2
  inputs = size * size * channels
  for (name, _), outputs in zip(_DENSE[:LAYERS.index(layer)],
                                (config.dense_dim,) * 2 + (config.num_classes,)):
    macs += inputs * outputs
    inputs = outputs
  return 2.0 * macs


def _layers(path: str, f) -> dict[str, list]:
  return keras_cnn.layer_weights(path, f, conv_names() + [k for _, k in _DENSE], NETWORK)


def config_from_keras_h5(path: str, image_size: int = 224) -> VGGConfig:
  """The widths of the VGG-16 whose weights `path` holds, for images of
  `image_size` (the crop)."""
  with keras_cnn.open_h5(path, NETWORK, KERAS_WEIGHTS_FILE) as f:
    layers = _layers(path, f)
    widths = tuple(layers[f'block{b}_conv{c}'][0].shape[-1] for b, c in _BLOCKS)
    fc1, predictions = layers['fc1'][0].shape, layers['predictions'][0].shape
  return VGGConfig(widths=widths, image_size=image_size, dense_dim=fc1[-1],
                   num_classes=predictions[-1])


def load_keras_h5(path: str, config: VGGConfig = VGGConfig()) -> dict:
  """VGG-16's parameters from a Keras h5 weights file (the applications
  file, or a whole model saved as .h5), checked against `config`'s shapes.

  Each layer's weights are found by the layer's name in the file's
  `layer_names` and taken in the order of its `weight_names` (kernel, then
  bias), as Keras's legacy loader takes them.
  """
  expected = jax.eval_shape(
      lambda: VGG16(config).init(
          jax.random.key(0), jnp.zeros((1, config.image_size, config.image_size, 3)), LAYERS)
  )['params']
  keras_names = {**{n: n for n in conv_names()}, **dict(_DENSE)}
  params = {}
  with keras_cnn.open_h5(path, NETWORK, KERAS_WEIGHTS_FILE) as f:
    layers = _layers(path, f)
    for name, shapes in expected.items():
      keras_name = keras_names[name]
      params[name] = keras_cnn.take(
          path, keras_name, layers[keras_name],
          {key: shapes[key].shape for key in ('kernel', 'bias')}, NETWORK, config.image_size)
  return params
