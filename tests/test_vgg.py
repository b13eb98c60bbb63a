"""mmcap's Flax VGG-16 against Keras's, on the same weights: Keras builds the
model with random weights and writes them in the legacy .h5 layout of its
applications files; mmcap loads that file and must give Keras's fc6, fc7 and
logits."""

import h5py
import numpy as np
import pytest

import jax
import jax.numpy as jnp

from mmcap.errors import InputError
from mmcap.models import vgg

keras = pytest.importorskip('keras')
from keras.src.legacy.saving import legacy_h5_format  # pylint: disable=g-import-not-at-top,wrong-import-position


def real_looking_images(count: int, size: int) -> np.ndarray:
  """Smooth colour gradients with texture, RGB in 0..255."""
  rng = np.random.default_rng(0)
  y, x = np.mgrid[0:size, 0:size] / size
  images = []
  for _ in range(count):
    channels = [255 * np.clip(rng.uniform() * x + rng.uniform() * y
                              + 0.2 * np.sin(rng.uniform(5, 20) * x * y), 0, 1) for _ in range(3)]
    images.append(np.stack(channels, -1) + rng.normal(0, 8, (size, size, 3)))
  return np.clip(images, 0, 255).astype(np.float32)


def keras_vgg(config: vgg.VGGConfig):
  """VGG-16 in Keras with Keras's layer names, of `config`'s widths, its
  classifier without the softmax; random biases so that they are tested."""
  layers = keras.layers
  inputs = keras.Input((config.image_size, config.image_size, 3))
  x, names = inputs, iter(vgg.conv_names())
  for block, (convs, width) in enumerate(zip((2, 2, 3, 3, 3), config.widths), 1):
    for _ in range(convs):
      x = layers.Conv2D(width, 3, padding='same', activation='relu', name=next(names),
                        bias_initializer='random_normal')(x)
    x = layers.MaxPooling2D(2, name=f'block{block}_pool')(x)
  x = layers.Flatten(name='flatten')(x)
  fc1 = layers.Dense(config.dense_dim, activation='relu', name='fc1',
                     bias_initializer='random_normal')(x)
  fc2 = layers.Dense(config.dense_dim, activation='relu', name='fc2',
                     bias_initializer='random_normal')(fc1)
  logits = layers.Dense(config.num_classes, name='predictions',
                        bias_initializer='random_normal')(fc2)
  return keras.Model(inputs, [fc1, fc2, logits])


def save_legacy_h5(model, path):
  """The layout of keras.applications' weights files: layer_names, then a
  group per layer with its weight_names."""
  with h5py.File(path, 'w') as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)


def compare(model, config, path, count):
  images = real_looking_images(count, config.image_size)
  want = model(keras.applications.vgg16.preprocess_input(images.copy()))
  params = vgg.load_keras_h5(str(path), config)
  got = jax.jit(lambda p, x: vgg.VGG16(config).apply({'params': p}, x, ('fc6', 'fc7', 'logits')))(
      params, jnp.asarray(images))
  for name, value in zip(('fc6', 'fc7', 'logits'), want):
    value = np.asarray(value)
    scale = np.abs(value).max()
    assert scale > 0, name
    np.testing.assert_allclose(np.asarray(got[name]), value, rtol=1e-4, atol=1e-4 * scale,
                               err_msg=name)


SMALL = vgg.VGGConfig(widths=(4, 8, 8, 16, 16), image_size=64, dense_dim=32, num_classes=10)


def test_small_vgg_equals_keras_on_its_weights_file(tmp_path):
  model = keras_vgg(SMALL)
  path = tmp_path / 'small.h5'
  save_legacy_h5(model, path)
  model.load_weights(str(path))  # Keras's own legacy loader reads the file
  compare(model, SMALL, path, count=3)


def test_full_size_vgg16_equals_keras_applications_vgg16(tmp_path):
  model = keras.applications.VGG16(weights=None, classifier_activation=None)
  model = keras.Model(model.input, [model.get_layer(n).output for n in ('fc1', 'fc2', 'predictions')])
  path = tmp_path / vgg.KERAS_WEIGHTS_FILE
  save_legacy_h5(model, path)
  compare(model, vgg.VGGConfig(), path, count=1)


def test_pool5_only_and_shapes():
  params = jax.eval_shape(lambda: vgg.VGG16(SMALL).init(
      jax.random.key(0), jnp.zeros((1, 64, 64, 3)), vgg.LAYERS))['params']
  out = jax.eval_shape(lambda p: vgg.VGG16(SMALL).apply({'params': p}, jnp.zeros((2, 64, 64, 3)),
                                                       ('pool5',)), params)
  assert out['pool5'].shape == (2, 2, 2, 16)
  with pytest.raises(InputError, match='fc8'):
    vgg.VGG16(SMALL).apply({'params': params}, jnp.zeros((1, 64, 64, 3)), ('fc8',))


def test_flops_per_image_are_vgg16s_and_xlas():
  """15.47 G multiply-adds to the logits at 224 (the published count, 15.5 G);
  XLA's count of the lowered network is 3% lower (it leaves out the padding
  taps of the 'SAME' convolutions). Lowered only: nothing is computed."""
  config = vgg.VGGConfig()
  assert vgg.flops_per_image(config, 'logits') / 2 == pytest.approx(15.470e9, rel=1e-4)
  assert vgg.flops_per_image(config, 'fc7') == pytest.approx(
      vgg.flops_per_image(config, 'logits') - 2 * 4096 * 1000)
  model = vgg.VGG16(config)
  params = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, 224, 224, 3)), ('logits',))['params'])
  images = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
  lowered = jax.jit(lambda p, x: model.apply({'params': p}, x, ('logits',))).lower(params, images)
  xla = lowered.cost_analysis()['flops'] / 2
  assert 0.95 < xla / vgg.flops_per_image(config, 'logits') < 1.0


def test_missing_weights_file_names_the_file_to_obtain(tmp_path):
  with pytest.raises(InputError, match=f'obtain {vgg.KERAS_WEIGHTS_FILE}'):
    vgg.load_keras_h5(str(tmp_path / 'none.h5'))


def test_weights_of_another_architecture_are_refused(tmp_path):
  path = tmp_path / 'small.h5'
  save_legacy_h5(keras_vgg(SMALL), path)
  with pytest.raises(InputError, match='block1_conv1 kernel has shape .3, 3, 3, 4.*another architecture'):
    vgg.load_keras_h5(str(path))  # the full-size VGG-16
  (tmp_path / 'text.h5').write_text('not hdf5')
  with pytest.raises(InputError, match='not an HDF5 weights file'):
    vgg.load_keras_h5(str(tmp_path / 'text.h5'))
