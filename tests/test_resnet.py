"""mmcap's Flax ResNet-50 against Keras's, on the same weights: Keras's own
ResNet builder makes the model (at full size, and with narrow stages for a
fast test) with random weights, batch-normalization statistics included,
and writes them in the legacy .h5 layout of its applications files; mmcap
loads that file and must give Keras's avg_pool and logits."""

import dataclasses

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from mmcap.errors import InputError
from mmcap.models import resnet

from test_vgg import real_looking_images, save_legacy_h5

keras = pytest.importorskip('keras')
from keras.src.applications import resnet as keras_resnet  # pylint: disable=g-import-not-at-top,wrong-import-position

SMALL = resnet.ResNetConfig(widths=(4, 8, 8, 16), blocks=(2, 1, 1, 2), image_size=64,
                            num_classes=10)


def keras_resnet50(config: resnet.ResNetConfig):
  """Keras's ResNet v1 of `config`'s stages (ResNet-50 at the defaults),
  its classifier without the softmax (none for num_classes 0, as in the
  _notop file), every weight random (Keras starts batch normalization at
  the identity, which would test nothing); outputs avg_pool (and logits)."""

  def stack_fn(x):
    for stage, (width, count) in enumerate(zip(config.widths, config.blocks), 2):
      x = keras_resnet.stack_residual_blocks_v1(
          x, width, count, stride1=1 if stage == 2 else 2, name=f'conv{stage}')
    return x

  model = keras_resnet.ResNet(
      stack_fn, preact=False, use_bias=True, weights=None, include_top=bool(config.num_classes),
      pooling='avg', classes=config.num_classes or 1000,
      input_shape=(config.image_size, config.image_size, 3), classifier_activation=None)
  rng = np.random.default_rng(0)
  for layer in model.layers:
    weights = layer.get_weights()
    if isinstance(layer, keras.layers.BatchNormalization):
      gamma, beta, mean, variance = (w.shape for w in weights)
      weights = [rng.uniform(0.5, 1.5, gamma), rng.normal(0, 0.1, beta),
                 rng.normal(0, 0.1, mean), rng.uniform(0.5, 2.0, variance)]
    elif weights:  # a convolution or the classifier: He-like kernels, random biases
      kernel, bias = weights
      fan_in = np.prod(kernel.shape[:-1])
      weights = [rng.normal(0, np.sqrt(2 / fan_in), kernel.shape), rng.normal(0, 0.1, bias.shape)]
    layer.set_weights([w.astype(np.float32) for w in weights])
  outputs = [model.get_layer('avg_pool').output] + [model.output] * bool(config.num_classes)
  return keras.Model(model.inputs, outputs)


def compare(model, config, path, count):
  images = real_looking_images(count, config.image_size)
  want = model(keras.applications.resnet50.preprocess_input(images.copy()))
  want = want if isinstance(want, list) else [want]
  params = resnet.load_keras_h5(str(path), config)
  names = resnet.layers(config)
  got = jax.jit(lambda p, x: resnet.ResNet50(config).apply({'params': p}, x, names))(
      params, jnp.asarray(images))
  for name, value in zip(names, want, strict=True):
    value = np.asarray(value)
    scale = np.abs(value).max()
    assert scale > 0, name
    np.testing.assert_allclose(np.asarray(got[name]), value, rtol=1e-4, atol=1e-4 * scale,
                               err_msg=name)


def test_small_resnet_equals_keras_on_its_weights_file(tmp_path):
  model = keras_resnet50(SMALL)
  path = tmp_path / 'small.h5'
  save_legacy_h5(model, path)
  assert resnet.config_from_keras_h5(str(path), 64) == SMALL
  compare(model, SMALL, path, count=3)


def test_full_size_resnet50_equals_keras_applications_resnet50(tmp_path):
  model = keras_resnet50(resnet.ResNetConfig())
  path = tmp_path / resnet.KERAS_WEIGHTS_FILE
  save_legacy_h5(model, path)
  assert resnet.config_from_keras_h5(str(path)) == resnet.ResNetConfig()
  compare(model, resnet.ResNetConfig(), path, count=1)


def test_notop_weights_give_avg_pool_only(tmp_path):
  # Keras's resnet50_..._notop.h5 has no classifier: avg_pool, the
  # feature, loads from it; logits are refused.
  notop = dataclasses.replace(SMALL, num_classes=0)
  model = keras_resnet50(notop)
  path = tmp_path / 'small_notop.h5'
  save_legacy_h5(model, path)
  assert resnet.config_from_keras_h5(str(path), 64) == notop
  compare(model, notop, path, count=2)
  params = resnet.load_keras_h5(str(path), notop)
  with pytest.raises(InputError, match=r"ResNet-50 layers \['logits'\]: expected some of"
                     r" \['avg_pool'\] \(logits need a classifier\)"):
    resnet.ResNet50(notop).apply({'params': params}, jnp.zeros((1, 64, 64, 3)), ('logits',))


def test_flops_per_image_are_resnet50s_and_xlas():
  # ResNet-50 v1 (strides in the first 1 x 1 convolution of a block, as in
  # the paper and Keras): 3.86 x 10^9 multiply-adds (He et al. count 3.8 x
  # 10^9; v1.5, strides in the 3 x 3, has 4.1). XLA's count is 3% lower
  # (7.50 against 7.72 GFLOP): it leaves out the convolutions' padding taps.
  config = resnet.ResNetConfig()
  assert resnet.flops_per_image(config, 'logits') / 2 == pytest.approx(3.86e9, rel=0.01)
  assert resnet.flops_per_image(config, 'avg_pool') == pytest.approx(
      resnet.flops_per_image(config, 'logits') - 2 * 2048 * 1000)
  model = resnet.ResNet50(config)
  params = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, 224, 224, 3)), resnet.LAYERS))['params']
  lowered = jax.jit(lambda p, x: model.apply({'params': p}, x, ('logits',))).lower(
      params, jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32))
  xla = lowered.compile().cost_analysis()['flops']
  assert 0.95 < xla / resnet.flops_per_image(config, 'logits') < 1.0


def test_weights_of_another_network_or_size_are_refused(tmp_path):
  path = tmp_path / 'small.h5'
  save_legacy_h5(keras_resnet50(SMALL), path)
  wider = dataclasses.replace(SMALL, widths=(8, 8, 8, 16))
  with pytest.raises(InputError, match=r'small.h5: layer conv2_block1_0_bn gamma has shape'
                     r' \(16,\), ResNet-50 expects \(32,\)'):
    resnet.load_keras_h5(str(path), wider)
  deeper = dataclasses.replace(SMALL, blocks=(2, 1, 2, 2))
  with pytest.raises(InputError, match=r"small.h5: no layer 'conv4_block2_3_bn'"):
    resnet.load_keras_h5(str(path), deeper)
  with pytest.raises(InputError, match='obtain resnet50_weights_tf_dim_ordering_tf_kernels.h5'):
    resnet.load_keras_h5(str(tmp_path / 'none.h5'))
