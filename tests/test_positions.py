"""Work at selected positions only (models/positions.py): `dense_at` equals
a plain dense layer at the selected positions, gives 0 elsewhere, and its
gradient equals autodiff of the plain layer masked to them, whatever the
pattern of selected positions in each group."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap.models import positions

from test_vocabulary import GROUPS, PATTERNS, POSITIONS

DIM, WIDTH = 6, 10


def plain_dense_at(x, kernel, bias, selected):
  return jnp.where(selected[..., None], jnp.dot(x, kernel) + bias, 0.0)


@jax.jit
def chunked_and_plain(x, kernel, bias, selected, cotangent):
  """Values and vector-Jacobian products in (x, kernel, bias)."""
  results = []
  for fn in (positions.dense_at, plain_dense_at):
    value, vjp = jax.vjp(lambda x, k, b: fn(x, k, b, selected), x, kernel, bias)
    results.append((value, vjp(cotangent)))
  return results


@pytest.mark.parametrize('patterns', GROUPS, ids='-'.join)
def test_dense_at_and_its_gradient_equal_the_plain_layer_masked(patterns):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, POSITIONS, DIM)).astype(np.float32)
  kernel = rng.normal(size=(DIM, WIDTH)).astype(np.float32)
  bias = rng.normal(size=WIDTH).astype(np.float32)
  cotangent = rng.normal(size=(2, POSITIONS, WIDTH)).astype(np.float32)
  selected = np.stack([PATTERNS[p] for p in patterns]).astype(bool)
  (value, grads), (expected, expected_grads) = chunked_and_plain(
      x, kernel, bias, selected, cotangent)
  np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
  assert np.all(np.asarray(value)[~selected] == 0.0)
  for grad, expected_grad in zip(grads, expected_grads):
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-5)


def test_bfloat16_inputs_give_float32_values_and_bfloat16_gradients():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(1, 24, DIM)), jnp.bfloat16)
  kernel = jnp.asarray(rng.normal(size=(DIM, WIDTH)), jnp.bfloat16)
  bias = jnp.zeros(WIDTH, jnp.float32)
  selected = np.arange(24)[None] < 17
  value, vjp = jax.vjp(lambda x, k, b: positions.dense_at(x, k, b, selected), x, kernel, bias)
  assert value.dtype == jnp.float32
  expected = np.dot(np.float32(x), np.float32(kernel))
  np.testing.assert_allclose(value[selected], expected[selected], rtol=1e-2, atol=1e-2)
  grads = vjp(jnp.ones_like(value))
  assert [g.dtype for g in grads] == [jnp.bfloat16, jnp.bfloat16, jnp.float32]


def test_chunks_split_and_merge_are_inverse():
  selected = np.stack([PATTERNS['scattered'], PATTERNS['tail_padding']]).astype(bool)
  chunks = positions.Chunks.of(jnp.asarray(selected))
  a = np.arange(2 * POSITIONS * 3).reshape(2, POSITIONS, 3)
  split = chunks.split(jnp.asarray(a))
  assert split.shape == (chunks.count, 2, chunks.rows, 3)
  # Selected positions first, in their order.
  first = np.asarray(split[0, 1, :, 0])
  np.testing.assert_array_equal(first[:5], a[1, :5, 0])
  np.testing.assert_array_equal(chunks.merge(split), a)
