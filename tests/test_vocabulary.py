"""The training loss through the softmax layer (models/vocabulary.py): its
value and gradient equal autodiff of the plain cross-entropy over full
logits, whatever the padding, for the layer alone and for every captioner."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mmcap import losses
from mmcap.data.vocab import PAD_ID
from mmcap.models import vocabulary

import test_models
import test_video_models

VOCAB, PADDED, DIM = 13, 16, 6


def plain_nll_sum(x, kernel, bias, targets, weights):
  """sum(weights * softmax cross-entropy) over full, masked logits."""
  mask = jnp.where(jnp.arange(PADDED) < VOCAB, 0.0, -1e9)
  logits = jnp.dot(x, kernel, preferred_element_type=jnp.float32) + bias + mask
  return jnp.sum(weights * optax.softmax_cross_entropy_with_integer_labels(logits, targets))


# Weights of two groups of 37 positions each (8 chunks of 5, the last 2
# short), each group with its own pattern: every position weighted; targets
# scattered among padding, so that sorting matters; chunks of padding only;
# nothing weighted.
POSITIONS = 37
PATTERNS = {
    'all': np.ones(POSITIONS),
    'scattered': (np.arange(POSITIONS) % 3 == 0).astype(float),
    'tail_padding': (np.arange(POSITIONS) < 9).astype(float),
    'none': np.zeros(POSITIONS),
}
GROUPS = [('all', 'none'), ('scattered', 'tail_padding'), ('tail_padding', 'all'),
          ('none', 'none')]


@jax.jit
def fused_and_plain(x, kernel, bias, targets, weights):
  """Value and gradients in (x, kernel, bias) of 3 x the weighted NLL sum,
  by weighted_nll_sum and by autodiff over full logits."""
  fused = lambda x, k, b: 3.0 * vocabulary.weighted_nll_sum(x, k, b, targets, weights, VOCAB)
  plain = lambda x, k, b: 3.0 * plain_nll_sum(x, k, b, targets, weights)
  return [jax.value_and_grad(f, argnums=(0, 1, 2))(x, kernel, bias) for f in (fused, plain)]


def random_inputs(rng, groups, positions):
  return (rng.normal(size=(groups, positions, DIM)).astype(np.float32),
          rng.normal(size=(DIM, PADDED)).astype(np.float32),
          rng.normal(size=PADDED).astype(np.float32),
          rng.integers(0, VOCAB, size=(groups, positions)).astype(np.int32))


@pytest.mark.parametrize('patterns', GROUPS, ids='-'.join)
def test_weighted_nll_sum_and_its_gradient_equal_autodiff(patterns):
  x, kernel, bias, targets = random_inputs(np.random.default_rng(0), 2, POSITIONS)
  weights = np.stack([PATTERNS[p] for p in patterns]).astype(np.float32)
  (value, grads), (expected, expected_grads) = fused_and_plain(x, kernel, bias, targets, weights)
  np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
  for grad, expected_grad in zip(grads, expected_grads):
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-5)
  if patterns == ('none', 'none'):
    assert float(value) == 0.0


def test_bfloat16_inputs_stay_close_to_float32():
  x, kernel, _, targets = random_inputs(np.random.default_rng(1), 1, 24)
  bias, weights = np.zeros(PADDED, np.float32), np.ones((1, 24), np.float32)
  loss = lambda x, k: vocabulary.weighted_nll_sum(x, k, bias, targets, weights, VOCAB)
  full, full_grads = jax.value_and_grad(loss, argnums=(0, 1))(x, kernel)
  half, half_grads = jax.value_and_grad(loss, argnums=(0, 1))(
      x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16))
  np.testing.assert_allclose(half, full, rtol=2e-2)
  for grad, full_grad in zip(half_grads, full_grads):
    assert grad.dtype == jnp.bfloat16
    np.testing.assert_allclose(grad.astype(np.float32), full_grad, rtol=5e-2,
                               atol=2e-2 * np.abs(full_grad).max())


def captioner(name):
  """A tiny captioner with its batch: targets of varied lengths, padded."""
  if name == 's2vt':
    model, params, features, inputs = test_video_models.build()
  else:
    model, params, features, inputs = test_models.build(name)
  targets = np.roll(inputs, -1, axis=1)
  targets[0, 2:] = PAD_ID
  targets[1, 1:] = PAD_ID
  targets[-1, 1] = PAD_ID  # a <pad> target mid-row: target positions need not be a prefix
  return model, params, {'features': features, 'inputs': inputs, 'targets': targets}


def plain_next_word_loss(model, params, batch, rng, normalization):
  """The loss from full logits: `token_nll`'s sum over the count."""
  nll, tokens = losses.token_nll(model, params, batch, rng)
  count = tokens if normalization == 'token' else jnp.sum(jnp.any(batch['targets'] != 0, 1))
  return nll / count


@pytest.mark.parametrize('name, normalization', [('2f', 'token'), ('mrnn', 'sentence')])
def test_training_loss_and_gradient_equal_the_full_logits_ones(name, normalization):
  """In training mode, dropout drawn from the same key."""
  model, params, batch = captioner(name)
  rng = jax.random.key(3)
  loss_fn = lambda p: losses.next_word_loss(model, p, batch, rng, normalization)
  plain_fn = functools.partial(plain_next_word_loss, model, batch=batch, rng=rng,
                               normalization=normalization)
  (loss, metrics), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
  expected, expected_grads = jax.jit(jax.value_and_grad(plain_fn))(params)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert metrics['num_tokens'] == np.sum(batch['targets'] != PAD_ID)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-6),
               grads, expected_grads)


@pytest.mark.parametrize('name', ['1u', '2u', 'rnn_base', 's2vt'])
def test_every_captioners_training_loss_equals_the_full_logits_one(name):
  """The other captioners' `readout`, checked by the loss's value (the
  gradient's code is the same as above)."""
  model, params, batch = captioner(name)
  rng = jax.random.key(3)
  loss, _ = jax.jit(lambda p: losses.next_word_loss(model, p, batch, rng, 'token'))(params)
  expected = jax.jit(lambda p: plain_next_word_loss(model, p, batch, rng, 'token'))(params)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
