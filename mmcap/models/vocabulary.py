"""The softmax layer over the vocabulary, and the training loss through it.

Every captioner ends in a `VocabularyLogits` named `output`. Training does
not need its logits at every position: `weighted_nll_sum` computes the
summed NLL of the target tokens and its gradient together, in chunks of
positions with the targets first, and skips the chunks that hold only
<pad>. That saves the logits of padding positions (about 30% of them for
captions of 8 to 20 words over 20 steps) and keeps at most one chunk's
[rows, vocabulary] logits in memory.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmcap.models.recurrence import symmetric_uniform

# The loss's positions are cut into this many chunks: finer chunks skip more
# padding, coarser ones make larger matmuls.
LOSS_CHUNKS = 8


def padded_size(vocab_size: int, multiple: int) -> int:
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
    """sum(weights * NLL of targets) over every position of `x` [..., D]
    (targets and weights [...]); positions of weight 0 are never projected.
    Needs the layer's parameters, so only in `apply`."""
    dense = self.variables['params']['Dense_0']
    return weighted_nll_sum(
        x.reshape(-1, x.shape[-1]).astype(self.dtype),
        dense['kernel'].astype(self.dtype),
        dense['bias'],
        jnp.asarray(targets).reshape(-1),
        jnp.asarray(weights, jnp.float32).reshape(-1),
        self.vocab_size,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def weighted_nll_sum(
    x_nd: jax.Array,
    kernel_dv: jax.Array,
    bias_v: jax.Array,
    targets_n: jax.Array,
    weights_n: jax.Array,
    vocab_size: int,
) -> jax.Array:
  """sum_n weights_n * -log softmax(x_n . kernel + bias + mask)[targets_n];
  the gradient is computed with it (softmax - one-hot, times the weight, in
  the same pass as the loss), so the logits are never kept for a backward
  pass. Not differentiable in `weights_n`."""
  return _nll_and_grads(x_nd, kernel_dv, bias_v, targets_n, weights_n, vocab_size)[0]


def _nll_and_grads(x_nd, kernel_dv, bias_v, targets_n, weights_n, vocab_size):
  """The weighted NLL sum and its gradients in x, kernel and bias."""
  num, dim = x_nd.shape
  padded = kernel_dv.shape[1]
  rows = -(-num // LOSS_CHUNKS)
  chunks = -(-num // rows)
  # Positions with a weight first, in order; then the rest.
  order = jnp.argsort(weights_n == 0, stable=True)
  weighted = jnp.sum(weights_n != 0)
  pad = lambda a: jnp.pad(a[order], [(0, chunks * rows - num)] + [(0, 0)] * (a.ndim - 1))
  x_crd = pad(x_nd).reshape(chunks, rows, dim)
  targets_cr = pad(targets_n).reshape(chunks, rows)
  weights_cr = pad(weights_n).reshape(chunks, rows)
  shift = bias_v.astype(jnp.float32) + _column_mask(vocab_size, padded)

  def chunk(totals, inputs):
    index, x_rd, targets_r, weights_r = inputs

    def compute(totals):
      nll_sum, d_kernel, d_bias = totals
      logits = jnp.dot(x_rd, kernel_dv, preferred_element_type=jnp.float32) + shift
      log_z = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
      target_logit = jnp.take_along_axis(logits, targets_r[:, None], axis=-1)
      nll_sum += jnp.sum(weights_r * (log_z - target_logit)[:, 0])
      d_logits = weights_r[:, None] * (
          jnp.exp(logits - log_z) - jax.nn.one_hot(targets_r, padded, dtype=jnp.float32))
      d_logits = d_logits.astype(kernel_dv.dtype)
      d_kernel += jnp.dot(x_rd.T, d_logits, preferred_element_type=jnp.float32)
      d_bias += jnp.sum(d_logits, axis=0, dtype=jnp.float32)
      d_x = jnp.dot(d_logits, kernel_dv.T, preferred_element_type=jnp.float32)
      return (nll_sum, d_kernel, d_bias), d_x

    skip = lambda totals: (totals, jnp.zeros((rows, dim), jnp.float32))
    return jax.lax.cond(index * rows < weighted, compute, skip, totals)

  zeros = (jnp.zeros((), jnp.float32), jnp.zeros((dim, padded), jnp.float32),
           jnp.zeros((padded,), jnp.float32))
  (nll_sum, d_kernel, d_bias), d_x_crd = jax.lax.scan(
      chunk, zeros, (jnp.arange(chunks), x_crd, targets_cr, weights_cr))
  d_x_nd = d_x_crd.reshape(chunks * rows, dim)[jnp.argsort(order)]
  grads = (d_x_nd.astype(x_nd.dtype), d_kernel.astype(kernel_dv.dtype),
           d_bias.astype(bias_v.dtype))
  return nll_sum, grads


def _weighted_nll_sum_fwd(x_nd, kernel_dv, bias_v, targets_n, weights_n, vocab_size):
  nll_sum, grads = _nll_and_grads(x_nd, kernel_dv, bias_v, targets_n, weights_n, vocab_size)
  return nll_sum, (grads, targets_n, weights_n)


def _weighted_nll_sum_bwd(vocab_size, residuals, cotangent):
  del vocab_size
  (d_x, d_kernel, d_bias), targets_n, weights_n = residuals
  scale = lambda g: (cotangent * g).astype(g.dtype)
  return (scale(d_x), scale(d_kernel), scale(d_bias),
          np.zeros(targets_n.shape, jax.dtypes.float0), jnp.zeros_like(weights_n))


weighted_nll_sum.defvjp(_weighted_nll_sum_fwd, _weighted_nll_sum_bwd)
