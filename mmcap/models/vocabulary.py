"""The softmax layer over the vocabulary, and the training loss through it.

Every captioner ends in a `VocabularyLogits` named `output`. Training does
not need its logits at every position: `weighted_nll_sum` computes the
summed NLL of the target tokens and its gradient together, at the target
positions only (models/positions.py). That saves the logits of padding
positions (about 30% of them for captions of 8 to 20 words over 20 steps)
and keeps at most one chunk's [rows, vocabulary] logits in memory.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmcap.models.positions import Chunks, to_groups
from mmcap.models.recurrence import symmetric_uniform


def padded_size(vocab_size: int, multiple: int) -> int:
  """The number of logits: the vocabulary rounded up to `multiple`."""
  return -(-vocab_size // multiple) * multiple


def _column_mask(vocab_size: int, padded: int) -> jax.Array:
  """0 for a word, -1e9 for a padding column: added to the logits, a
  constant whose gradient is the identity (a `where` would cost a select
  over the logits in the backward pass)."""
  return jnp.where(jnp.arange(padded) < vocab_size, 0.0, -1e9)


class VocabularyLogits(nn.Module):
  """The softmax layer's logits over the vocabulary padded to a multiple of
  `vocab_multiple` (for matmul tiling), the padding columns masked."""

  vocab_size: int
  vocab_multiple: int
  init_scale: float = 0.08
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    padded = padded_size(self.vocab_size, self.vocab_multiple)
    logits = nn.Dense(
        padded, kernel_init=symmetric_uniform(self.init_scale), dtype=self.dtype
    )(x).astype(jnp.float32)
    return logits + _column_mask(self.vocab_size, padded)

  def weighted_nll_sum(
      self, x: jax.Array, targets: jax.Array, weights: jax.Array
  ) -> jax.Array:
    """sum(weights * NLL of targets) over every position of `x` [B, ..., D]
    (targets and weights [B, ...]); positions of weight 0 are never
    projected. Needs the layer's parameters, so only in `apply`."""
    dense = self.variables['params']['Dense_0']
    return weighted_nll_sum(
        to_groups(x, features=True).astype(self.dtype),
        dense['kernel'].astype(self.dtype),
        dense['bias'],
        to_groups(jnp.asarray(targets), features=False),
        to_groups(jnp.asarray(weights, jnp.float32), features=False),
        self.vocab_size,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def weighted_nll_sum(
    x_gnd: jax.Array,
    kernel_dv: jax.Array,
    bias_v: jax.Array,
    targets_gn: jax.Array,
    weights_gn: jax.Array,
    vocab_size: int,
) -> jax.Array:
  """sum weights * -log softmax(x . kernel + bias + mask)[targets] over G
  groups of N positions; the gradient is computed with it (softmax -
  one-hot, times the weight, in the same pass as the loss), so the logits
  are never kept for a backward pass. Not differentiable in `weights_gn`."""
  return _nll_and_grads(x_gnd, kernel_dv, bias_v, targets_gn, weights_gn, vocab_size)[0]


def _nll_and_grads(x_gnd, kernel_dv, bias_v, targets_gn, weights_gn, vocab_size):
  """The weighted NLL sum and its float32 gradients in x, kernel and bias,
  computed in chunks of the weighted positions (models/positions.py).
  Everything but the final sums stays per group, so a group on its own
  device stays there."""
  groups, _, dim = x_gnd.shape
  padded = kernel_dv.shape[1]
  chunks = Chunks.of(weights_gn != 0)
  shift = bias_v.astype(jnp.float32) + _column_mask(vocab_size, padded)

  def compute(totals, x_grd, targets_gr, weights_gr):
    nll_sum, d_kernel, d_bias = totals
    logits = jnp.einsum('grd,dv->grv', x_grd, kernel_dv,
                        preferred_element_type=jnp.float32) + shift
    log_z = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
    target_logit = jnp.take_along_axis(logits, targets_gr[..., None], axis=-1)
    nll_sum += jnp.sum(weights_gr * (log_z - target_logit)[..., 0], axis=1)
    d_logits = weights_gr[..., None] * (
        jnp.exp(logits - log_z) - jax.nn.one_hot(targets_gr, padded, dtype=jnp.float32))
    d_logits = d_logits.astype(kernel_dv.dtype)
    d_kernel += jnp.einsum('grd,grv->gdv', x_grd, d_logits, preferred_element_type=jnp.float32)
    d_bias += jnp.sum(d_logits, axis=1, dtype=jnp.float32)
    d_x = jnp.einsum('grv,dv->grd', d_logits, kernel_dv, preferred_element_type=jnp.float32)
    return (nll_sum, d_kernel, d_bias), d_x

  zeros = (jnp.zeros((groups,), jnp.float32), jnp.zeros((groups, dim, padded), jnp.float32),
           jnp.zeros((groups, padded), jnp.float32))
  (nll_sum, d_kernel, d_bias), d_x = chunks.scan(
      compute, jnp.zeros((groups, chunks.rows, dim), jnp.float32), zeros,
      tuple(map(chunks.split, (x_gnd, targets_gn, weights_gn))))
  return jnp.sum(nll_sum), (chunks.merge(d_x), jnp.sum(d_kernel, 0), jnp.sum(d_bias, 0))


def _weighted_nll_sum_fwd(x_gnd, kernel_dv, bias_v, targets_gn, weights_gn, vocab_size):
  nll_sum, grads = _nll_and_grads(x_gnd, kernel_dv, bias_v, targets_gn, weights_gn, vocab_size)
  grads = tuple(g.astype(a.dtype) for g, a in zip(grads, (x_gnd, kernel_dv, bias_v)))
  return nll_sum, (grads, targets_gn, weights_gn)


def _weighted_nll_sum_bwd(vocab_size, residuals, cotangent):
  del vocab_size
  grads, targets_gn, weights_gn = residuals
  return (*((cotangent * g).astype(g.dtype) for g in grads),
          np.zeros(targets_gn.shape, jax.dtypes.float0), jnp.zeros_like(weights_gn))


weighted_nll_sum.defvjp(_weighted_nll_sum_fwd, _weighted_nll_sum_bwd)
