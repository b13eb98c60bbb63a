"""Dropout (models/dropout.py): each element kept with probability exactly
1 - rate, independently of its neighbours that share a random word, and
scaled as Flax's dropout scales it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap.models import dropout

# 2^20 draws: a fraction's standard deviation is at most 0.0005.
SHAPE = (1024, 1024)
SIGMAS = 5


@pytest.mark.parametrize('rate, bits', [
    (0.5, 1), (0.25, 2), (0.75, 2), (0.375, 4), (3 / 256, 8), (0.3, None),
    (5 / 65536, 16), (0.9, None), (0.1, None),
])
def test_exact_bits(rate, bits):
  assert dropout.exact_bits(rate) == bits


def _within(fraction, p, n):
  return abs(fraction - p) <= SIGMAS * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize('rate', [0.5, 0.25, 0.375, 3 / 256, 12345 / 65536, 0.9])
def test_keep_mask_is_bernoulli_and_independent(rate):
  """Overall, at each element's place within its random word, and for pairs
  of neighbours (the same word's, or adjacent words'), the kept fractions
  are those of independent Bernoulli(1 - rate) draws."""
  keep = np.asarray(jax.jit(dropout.keep_mask, static_argnums=(1, 2))(
      jax.random.key(0), rate, SHAPE)).reshape(-1)
  p, n = 1 - rate, keep.size
  assert _within(keep.mean(), p, n), (keep.mean(), p)
  per_word = 32 // (dropout.exact_bits(rate) or 32)
  for place in range(per_word):
    assert _within(keep[place::per_word].mean(), p, n / per_word), place
  for lag in (1, per_word - 1, per_word):
    if lag:
      both = (keep[:-lag] & keep[lag:]).mean()
      assert _within(both, p * p, n - lag), (lag, both, p * p)


def test_keep_mask_of_any_shape_is_deterministic_in_the_key():
  assert dropout.keep_mask(jax.random.key(3), 0.5, (0, 3)).shape == (0, 3)
  assert dropout.keep_mask(jax.random.key(3), 0.5, ()).shape == ()
  one = dropout.keep_mask(jax.random.key(3), 0.5, (3, 7, 5))
  assert one.shape == (3, 7, 5) and one.dtype == jnp.bool_
  np.testing.assert_array_equal(one, dropout.keep_mask(jax.random.key(3), 0.5, (3, 7, 5)))
  assert np.any(one != dropout.keep_mask(jax.random.key(4), 0.5, (3, 7, 5)))


@pytest.mark.parametrize('rate', [0.5, 0.9])
def test_dropout_scales_kept_elements_and_is_off_in_evaluation(rate):
  x = jax.random.normal(jax.random.key(1), (64, 512)) + 3.0
  layer = dropout.Dropout(rate)
  np.testing.assert_array_equal(layer.apply({}, x, deterministic=True), x)
  y = np.asarray(layer.apply({}, x, deterministic=False, rngs={'dropout': jax.random.key(2)}))
  kept = y != 0
  np.testing.assert_allclose(y[kept], np.asarray(x)[kept] / (1 - rate), rtol=1e-6)
  assert _within(kept.mean(), 1 - rate, kept.size)
  np.testing.assert_array_equal(
      dropout.Dropout(0.0).apply({}, x, deterministic=False), x)


def test_rate_one_drops_everything_with_a_finite_gradient():
  x = jnp.ones((4, 6))
  drop = lambda x: dropout.Dropout(1.0).apply(
      {}, x, deterministic=False, rngs={'dropout': jax.random.key(0)})
  np.testing.assert_array_equal(drop(x), np.zeros((4, 6)))
  np.testing.assert_array_equal(jax.grad(lambda x: jnp.sum(drop(x)))(x), np.zeros((4, 6)))
