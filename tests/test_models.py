"""LRCN against a slow NumPy implementation of the written equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap import models
from mmcap import train
from mmcap.errors import InputError
from mmcap.data.vocab import PAD_ID

from conftest import tiny_config

VOCAB, FEATURES, BATCH, STEPS = 13, 6, 3, 5


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


def lstm_reference(x_btd, p, static_bd=None, static_p=None):
  """i, f, o, g = split(W_x x_t + W_h h_{t-1} + b [+ W_s s]); step by step."""
  h = np.zeros((x_btd.shape[0], p['recurrent_kernel'].shape[0]))
  c = np.zeros_like(h)
  outputs = []
  for t in range(x_btd.shape[1]):
    gates = x_btd[:, t] @ p['input_proj']['kernel'] + p['input_proj']['bias']
    gates = gates + h @ p['recurrent_kernel']
    if static_bd is not None:
      gates = gates + static_bd @ static_p['kernel']
    i, f, o, g = np.split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    outputs.append(h)
  return np.stack(outputs, 1)


def lrcn_reference(variant, params, features, inputs):
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  words = p['embed']['embedding'][inputs]
  if variant == '1u':
    top = lstm_reference(words, p['lstms_0'], features, p['lstms_0']['static_proj'])
  elif variant == '2u':
    h1 = lstm_reference(words, p['lstms_0'], features, p['lstms_0']['static_proj'])
    top = lstm_reference(h1, p['lstms_1'])
  else:
    h1 = lstm_reference(words, p['lstms_0'])
    top = lstm_reference(h1, p['lstms_1'], features, p['lstms_1']['static_proj'])
  return top @ p['output']['kernel'] + p['output']['bias']


def build(variant, dtype='float32'):
  config = tiny_config().model
  config.variant, config.dtype, config.vocab_multiple = variant, dtype, 8
  config.init_scale = 0.5  # logits of order 1, so the tolerances bite
  model = models.build(config, VOCAB)
  rng = np.random.default_rng(0)
  features = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
  inputs = rng.integers(1, VOCAB, size=(BATCH, STEPS)).astype(np.int32)
  params = model.init(jax.random.key(0), features, inputs)['params']
  return model, params, features, inputs


@pytest.mark.parametrize('variant', ['1u', '2u', '2f'])
def test_forward_equals_numpy_equations(variant):
  model, params, features, inputs = build(variant)
  logits = model.apply({'params': params}, features, inputs)
  assert logits.shape == (BATCH, STEPS, 16)  # 13 padded to a multiple of 8
  np.testing.assert_allclose(
      logits[..., :VOCAB], lrcn_reference(variant, params, features, inputs)[..., :VOCAB],
      rtol=1e-5, atol=1e-5)
  assert (logits[..., VOCAB:] <= -1e8).all()  # padding columns masked


@pytest.mark.parametrize('variant', ['1u', '2u', '2f'])
def test_decode_steps_equal_teacher_forcing(variant):
  model, params, features, inputs = build(variant)
  full = model.apply({'params': params}, features, inputs)
  state = model.apply({'params': params}, features, method=model.init_decode)
  for t in range(STEPS):
    logits, state = model.apply({'params': params}, state, inputs[:, t],
                                method=model.decode_step)
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_the_loss():
  model, params, features, inputs = build('2f')
  targets = np.concatenate([inputs[:, 1:], np.full((BATCH, 1), 2)], 1).astype(np.int32)
  targets[0, 3:] = PAD_ID  # a shorter caption
  batch = {'features': features, 'inputs': inputs, 'targets': targets}
  longer = {
      'features': features,
      'inputs': np.pad(inputs, ((0, 0), (0, 4))),
      'targets': np.pad(targets, ((0, 0), (0, 4))),
  }
  longer['inputs'][0, 4:] = 7  # junk after the end must not matter either
  nll, tokens = train.token_nll(model, params, batch)
  nll_long, tokens_long = train.token_nll(model, params, longer)
  assert tokens == tokens_long == BATCH * STEPS - 2
  np.testing.assert_allclose(nll, nll_long, rtol=1e-6)


def test_bfloat16_compute_stays_close_with_float32_params():
  model32, params, features, inputs = build('2f')
  model16 = build('2f', 'bfloat16')[0]
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  logits16 = model16.apply({'params': params}, features, inputs)
  logits32 = model32.apply({'params': params}, features, inputs)
  assert logits16.dtype == jnp.float32
  np.testing.assert_allclose(logits16[..., :VOCAB], logits32[..., :VOCAB], atol=2e-2)


def test_gradients_are_finite():
  model, params, features, inputs = build('2f')
  batch = {'features': features, 'inputs': inputs, 'targets': inputs}
  grads = jax.grad(lambda p: train.token_nll(model, p, batch)[0])(params)
  assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


def test_unknown_model_is_named():
  config = tiny_config().model
  config.variant = '3x'
  with pytest.raises(InputError, match='--config.model.variant=.3x.'):
    models.build(config, VOCAB)
