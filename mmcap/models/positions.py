"""Work at selected positions only, with static shapes.

Training needs a captioner's per-position layers (the LSTMs' input
projections, the softmax layer) only where a sentence has a target: about
70% of the positions of captions of 8 to 20 words over 20 steps. Each group
of positions is sorted, selected ones first, and cut into `CHUNKS` chunks;
chunk k of every group is computed together in a `lax.scan`, and a
`lax.cond` skips it where no group has a selected position in it. Groups
are the per-device slices of the batch (`data_groups`), so under data
parallelism each device sorts and computes only its own positions.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# Finer chunks skip more unselected positions, coarser ones make larger
# matmuls: 8 was the fastest of 4, 8, 16 and 32 for the loss and the input
# projections on a 2-core CPU (benchmarks/RESULTS.md).
CHUNKS = 8


def data_groups(batch_size: int) -> int:
  """The groups of consecutive examples that are sorted apart: one per
  device where the devices divide the batch (mmcap splits every batch over
  all devices), else one."""
  devices = jax.device_count()
  return devices if batch_size % devices == 0 else 1


class Chunks(NamedTuple):
  """How G groups of N positions are cut: `order` [G, N] lists each group's
  positions selected-first, `rows` positions per chunk, and `most` is the
  largest number of selected positions in a group."""

  order: jax.Array
  rows: int
  most: jax.Array

  @classmethod
  def of(cls, selected_gn: jax.Array) -> 'Chunks':
    rows = max(-(-selected_gn.shape[1] // CHUNKS), 1)
    order = jnp.argsort(~selected_gn, axis=1, stable=True)
    return cls(order, rows, jnp.max(jnp.sum(selected_gn, axis=1)))

  @property
  def count(self) -> int:
    return -(-self.order.shape[1] // self.rows)

  def split(self, a: jax.Array) -> jax.Array:
    """[G, N, ...] -> [chunks, G, rows, ...], in sorted order."""
    groups, num = self.order.shape
    a = jnp.take_along_axis(a, self.order.reshape(self.order.shape + (1,) * (a.ndim - 2)), 1)
    a = jnp.pad(a, [(0, 0), (0, self.count * self.rows - num)] + [(0, 0)] * (a.ndim - 2))
    return jnp.moveaxis(a.reshape((groups, self.count, self.rows) + a.shape[2:]), 1, 0)

  def merge(self, a: jax.Array) -> jax.Array:
    """The inverse of `split`: [chunks, G, rows, ...] -> [G, N, ...]."""
    groups, num = self.order.shape
    a = jnp.moveaxis(a, 0, 1).reshape((groups, self.count * self.rows) + a.shape[3:])
    inverse = jnp.argsort(self.order, axis=1)
    return jnp.take_along_axis(a, inverse.reshape(inverse.shape + (1,) * (a.ndim - 2)), 1)

  def scan(self, compute, skipped, totals, chunked: tuple):
    """`lax.scan` of `compute(totals, *chunk) -> (totals, output)` over the
    chunks of `chunked` (each [chunks, G, rows, ...]), where a chunk without
    a selected position gives (totals, `skipped`) instead."""

    def body(totals, inputs):
      index, *chunk = inputs
      return jax.lax.cond(index * self.rows < self.most,
                          lambda t: compute(t, *chunk), lambda t: (t, skipped), totals)

    return jax.lax.scan(body, totals, (jnp.arange(self.count), *chunked))


@jax.custom_vjp
def dense_at(
    x_gnd: jax.Array, kernel_dk: jax.Array, bias_k: jax.Array, selected_gn: jax.Array
) -> jax.Array:
  """x . kernel + bias [G, N, K] in float32 (the product accumulated and
  the bias added in float32) at the selected positions of x; 0 at the
  others, and no gradient flows from them."""
  return _dense_at_fwd(x_gnd, kernel_dk, bias_k, selected_gn)[0]


def _dense_at_fwd(x_gnd, kernel_dk, bias_k, selected_gn):
  chunks = Chunks.of(selected_gn)
  groups, width = x_gnd.shape[0], kernel_dk.shape[1]

  # A chunk computed for one group can hold unselected positions of another.
  def compute(totals, x_grd, selected_gr):
    y = jnp.einsum('grd,dk->grk', x_grd, kernel_dk, preferred_element_type=jnp.float32)
    return totals, jnp.where(selected_gr[..., None], y + bias_k.astype(jnp.float32), 0.0)

  x_chunks = chunks.split(x_gnd)
  _, y = chunks.scan(compute, jnp.zeros((groups, chunks.rows, width), jnp.float32), None,
                     (x_chunks, chunks.split(selected_gn)))
  return chunks.merge(y), (x_chunks, kernel_dk, bias_k, chunks.order, chunks.most, selected_gn)


def _dense_at_bwd(residuals, d_y_gnk):
  x_chunks, kernel_dk, bias_k, order, most, selected_gn = residuals
  groups, rows, dim = x_chunks.shape[1], x_chunks.shape[2], kernel_dk.shape[0]
  chunks = Chunks(order, rows, most)

  def compute(totals, x_grd, d_y_grk, selected_gr):
    d_kernel, d_bias = totals
    d_y_grk = jnp.where(selected_gr[..., None], d_y_grk, 0.0).astype(kernel_dk.dtype)
    d_kernel += jnp.einsum('grd,grk->gdk', x_grd, d_y_grk, preferred_element_type=jnp.float32)
    d_bias += jnp.sum(d_y_grk, axis=1, dtype=jnp.float32)
    d_x = jnp.einsum('grk,dk->grd', d_y_grk, kernel_dk, preferred_element_type=jnp.float32)
    return (d_kernel, d_bias), d_x.astype(x_chunks.dtype)

  # Per group until the end, so that a group on its own device stays there.
  zeros = (jnp.zeros((groups,) + kernel_dk.shape, jnp.float32),
           jnp.zeros((groups,) + bias_k.shape, jnp.float32))
  (d_kernel, d_bias), d_x = chunks.scan(
      compute, jnp.zeros((groups, rows, dim), x_chunks.dtype), zeros,
      (x_chunks, chunks.split(d_y_gnk), chunks.split(selected_gn)))
  return (chunks.merge(d_x), jnp.sum(d_kernel, 0).astype(kernel_dk.dtype),
          jnp.sum(d_bias, 0).astype(bias_k.dtype), np.zeros(selected_gn.shape, jax.dtypes.float0))


dense_at.defvjp(_dense_at_fwd, _dense_at_bwd)


def prefix(positions_bt: jax.Array) -> jax.Array:
  """Each row's steps up to its last position in `positions_bt` (bool [B,
  T]): all that a recurrence must compute to reach them."""
  steps = jnp.arange(positions_bt.shape[1])
  last = jnp.max(jnp.where(positions_bt, steps + 1, 0), axis=1, keepdims=True)
  return steps < last


def to_groups(a: jax.Array, features: bool) -> jax.Array:
  """A batch's array [B, ...] as [G, positions], or with `features` as
  [G, positions, D] (D its last axis), in `data_groups(B)` groups."""
  groups = data_groups(a.shape[0])
  return a.reshape((groups, -1) + ((a.shape[-1],) if features else ()))
