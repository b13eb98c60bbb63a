"""The recurrence core: pure step functions scanned over time.

Only the truly sequential work is inside the scan: for the LSTM one fused
[B, H] x [H, 4H] matmul and the gate arithmetic, for m-RNN's ReLU recurrence
one [B, H] x [H, H] matmul and a ReLU. Input projections are computed for all
time steps at once outside it (`LSTM.gate_inputs`), and a static input such as
the image is projected once per sequence (`LSTM.static_gates`) and added to
every step. Gates are ordered i, f, o, g; states are kept in float32.
"""

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmcap.models.positions import data_groups, dense_at, to_groups

Carry = tuple[jax.Array, jax.Array]

# Decoding looks each word's input terms up in a table of every word's when
# batch x WORD_TABLE_STEPS >= vocabulary: the table costs V rows once per
# decoding call, a lookup saves B rows a step, and captions run up to about
# 20 steps.
WORD_TABLE_STEPS = 20


def symmetric_uniform(scale: float) -> Callable[..., jax.Array]:
  """U(-scale, scale), the initializer of the reference Caffe nets."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


def lstm_cell(carry: Carry, gates: jax.Array) -> tuple[Carry, jax.Array]:
  """The LSTM's gate arithmetic, c = f*c + i*g, h = o*tanh(c), from its
  pre-activations `gates` [B, 4H] (x.W_x + b + h.W_h, float32); the carry
  (h, c) is float32."""
  _, c = carry
  i, f, o, g = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return (h, c), h


def relu_cell(r: jax.Array, pre: jax.Array) -> tuple[jax.Array, jax.Array]:
  """m-RNN's recurrent layer, r(t) = ReLU(U_r . r(t-1) + w(t)), from its
  pre-activation `pre` [B, H] (float32)."""
  r = jax.nn.relu(pre)
  return r, r


Cell = Callable[[Any, jax.Array], tuple[Any, jax.Array]]


def _hidden(carry):
  """The part of a carry that the recurrent kernel multiplies: its first
  leaf (the LSTM's h, m-RNN's r)."""
  return jax.tree.leaves(carry)[0]


def _add_to_hidden(carry, x: jax.Array):
  leaves, treedef = jax.tree.flatten(carry)
  return jax.tree.unflatten(treedef, [leaves[0] + x] + leaves[1:])


def recurrent_step(
    cell: Cell, kernel: jax.Array, carry, inputs: jax.Array
) -> tuple[Any, jax.Array]:
  """One step: `cell(carry, inputs + hidden . kernel)`."""
  return cell(carry, _preactivation(kernel, carry, inputs))


def _preactivation(kernel: jax.Array, carry, inputs: jax.Array) -> jax.Array:
  """inputs + hidden . kernel; the kernel is in the compute dtype, the
  product accumulates in float32."""
  return inputs + jnp.dot(
      _hidden(carry).astype(kernel.dtype), kernel, preferred_element_type=jnp.float32
  )


def _masked_cell(cell: Cell, carry, pre: jax.Array, keep: jax.Array | None):
  """The new carry; where keep is 0, the old one (a padded step is no step)."""
  new, _ = cell(carry, pre)
  if keep is None:
    return new
  return jax.tree.map(lambda n, o: jnp.where(keep[..., None] > 0, n, o), new, carry)


# Inside the scan, every array of rows is [G, R, ...]: G groups (the
# per-device slices of the batch) of R rows. A step computes the first
# `rows` rows of every group, or all of them for None.


def _first_rows(tree, rows: int | None):
  return tree if rows is None else jax.tree.map(lambda a: a[:, :rows], tree)


def _with_first_rows(tree, part, rows: int | None):
  """`tree` with its first rows replaced by `part` (all of it for None)."""
  if rows is None:
    return part
  return jax.tree.map(lambda a, p: a.at[:, :rows].set(p), tree, part)


def _on_first_rows(sizes: tuple[int, ...], size_index, fn, carry):
  """`fn(rows)(carry's first rows)` -> (new part, per-row output), with
  rows = sizes[size_index] (a traced index: one branch per size, 0 rows
  for none); the carry's other rows stay as they were and the output is 0
  there."""
  num_rows = jax.tree.leaves(carry)[0].shape[1]
  output_shape = jax.eval_shape(fn(None), carry)[1]

  def branch(size):
    rows = None if size == num_rows else size

    def apply(carry):
      if size == 0:
        return carry, jnp.zeros(output_shape.shape, output_shape.dtype)
      part, output = fn(rows)(_first_rows(carry, rows))
      if rows is not None:
        pad = [(0, 0), (0, num_rows - rows)] + [(0, 0)] * (output.ndim - 2)
        output = jnp.pad(output, pad)
      return _with_first_rows(carry, part, rows), output

    return apply

  return jax.lax.switch(size_index, [branch(size) for size in sizes], carry)


def _scan_forward(cell, kernel, carry, inputs_t, keep_t, sizes, size_t, unroll):
  """The time-major scan over inputs [T, G, R, ...]: ((final carry, hidden
  states), (every step's previous carry and pre-activation, for the
  gradient)). Step t computes the first sizes[size_t[t]] rows only."""

  def step(carry, xs):
    inputs, keep, size_index = xs

    def on_rows(rows):
      def fn(part):
        pre = _preactivation(kernel, part, _first_rows(inputs, rows))
        return _masked_cell(cell, part, pre, _first_rows(keep, rows)), pre
      return fn

    new, pre = _on_first_rows(sizes, size_index, on_rows, carry)
    return new, (_hidden(new), (carry, pre))

  final, (hidden_t, residuals) = jax.lax.scan(
      step, carry, (inputs_t, keep_t, size_t), unroll=unroll
  )
  return (final, hidden_t), residuals


def _take_rows(a_gr: jax.Array, index_gr: jax.Array) -> jax.Array:
  index = index_gr.reshape(index_gr.shape + (1,) * (a_gr.ndim - 2))
  return jnp.take_along_axis(a_gr, index, axis=1, mode='promise_in_bounds')


@jax.custom_vjp
def permute_rows(a_gr: jax.Array, order_gr: jax.Array) -> jax.Array:
  """The rows of each group of `a_gr` [G, R, ...] in the order of
  `order_gr` [G, R], a permutation of each group's rows. Its gradient is
  the inverse permutation, a gather like the forward: autodiff of a gather
  scatter-adds into zeros, a third of the cost of a row-sorted recurrence's
  permutations."""
  return _take_rows(a_gr, order_gr)


def _permute_rows_fwd(a_gr, order_gr):
  return _take_rows(a_gr, order_gr), order_gr


def _permute_rows_bwd(order_gr, d_gr):
  return (_take_rows(d_gr, jnp.argsort(order_gr, axis=1)),
          np.zeros(order_gr.shape, jax.dtypes.float0))


permute_rows.defvjp(_permute_rows_fwd, _permute_rows_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 5, 7))
def _scan(cell, kernel, carry, inputs_t, keep_t, sizes, size_t, unroll):
  return _scan_forward(cell, kernel, carry, inputs_t, keep_t, sizes, size_t, unroll)[0]


def _scan_fwd(cell, kernel, carry, inputs_t, keep_t, sizes, size_t, unroll):
  outputs, (carries, pres) = _scan_forward(
      cell, kernel, carry, inputs_t, keep_t, sizes, size_t, unroll)
  return outputs, (kernel, carries, pres, keep_t, size_t)


def _scan_bwd(cell, sizes, unroll, residuals, cotangents):
  kernel, carries, pres, keep_t, size_t = residuals
  d_final, d_hidden_t = cotangents

  def step(d_carry, xs):
    carry, pre, keep, size_index, d_hidden = xs

    def on_rows(rows):
      def fn(d_part):
        _, vjp = jax.vjp(
            lambda c, p: _masked_cell(cell, c, p, _first_rows(keep, rows)),
            _first_rows(carry, rows), _first_rows(pre, rows),
        )
        d_part, d_pre = vjp(d_part)
        d_recurrent = jnp.dot(
            d_pre.astype(kernel.dtype), kernel.T, preferred_element_type=jnp.float32
        )
        return _add_to_hidden(d_part, d_recurrent), d_pre
      return fn

    return _on_first_rows(sizes, size_index, on_rows, _add_to_hidden(d_carry, d_hidden))

  d_carry, d_pres = jax.lax.scan(
      step, d_final, (carries, pres, keep_t, size_t, d_hidden_t), reverse=True,
      unroll=unroll,
  )
  d_kernel = jnp.einsum(
      'tgrh,tgrk->hk',
      _hidden(carries).astype(kernel.dtype),
      d_pres.astype(kernel.dtype),
      preferred_element_type=jnp.float32,
  )
  d_keep = None if keep_t is None else jnp.zeros_like(keep_t)
  d_size = np.zeros(size_t.shape, jax.dtypes.float0)
  return d_kernel.astype(kernel.dtype), d_carry, d_pres, d_keep, d_size


_scan.defvjp(_scan_fwd, _scan_bwd)


def scan_recurrence(
    cell: Cell,
    kernel: jax.Array,
    carry,
    inputs_btg: jax.Array,
    keep_bt: jax.Array | None = None,
    unroll: int = 1,
    lengths_b: jax.Array | None = None,
    row_blocks: int = 1,
):
  """The final carry and the hidden states [B, T, H] of `recurrent_step`
  scanned over axis 1 of `inputs_btg` (float32 pre-activations without the
  recurrent term); a step whose `keep_bt` is 0 leaves the carry as it was.

  With `lengths_b` (not with keep_bt) and more than one of `row_blocks`,
  the hidden states are needed only at each row's first lengths_b steps:
  the rest, and the final carry, are any finite values. Each device's rows
  (the batch's `data_groups`) are then run longest first, cut into
  `row_blocks` equal blocks, and step t computes only the blocks up to the
  last that holds a row with a step t in any group, or none (one compiled
  branch per block count): for captions of 8 to 20 words over 20 steps,
  about a fifth of the loop's work is skipped with 4 blocks.

  Only the recurrent matmul and the cell are inside the loop. The gradient is
  written by hand so that the kernel's is one [H, T*B] x [T*B, G] matmul after
  the backward loop: autodiff of lax.scan accumulates it with a thin
  [H, B] x [B, G] matmul at every step, which costs LRCN about a third of its
  training step on a CPU.
  """
  batch, steps = inputs_btg.shape[:2]
  if keep_bt is not None and lengths_b is not None:
    raise ValueError('scan_recurrence takes keep_bt or lengths_b, not both')
  ragged = lengths_b is not None and row_blocks > 1
  groups = data_groups(batch) if ragged else 1
  rows = batch // groups
  # [B, ...] -> [G, R, ...]; the scan's inputs time-major, [T, G, R, ...].
  to_groups = lambda a: a.reshape((groups, rows) + a.shape[1:])
  time_major = lambda a_gr: None if a_gr is None else jnp.moveaxis(a_gr, 2, 0)
  if not ragged:
    sizes, size_t, order = (rows,), jnp.zeros((steps,), jnp.int32), None
  else:
    lengths_gr = to_groups(lengths_b)
    order = jnp.argsort(-lengths_gr, axis=1, stable=True)
    needed = jnp.max(jnp.sum(lengths_gr[..., None] > jnp.arange(steps), axis=1), axis=0)
    sizes = tuple(sorted({0} | {-(-rows * (k + 1) // row_blocks) for k in range(row_blocks)}))
    size_t = jnp.searchsorted(jnp.asarray(sizes), needed).astype(jnp.int32)

  def permuted(a_gr, permutation):  # rows of each group in `permutation`'s order
    return a_gr if permutation is None else permute_rows(a_gr, permutation)

  carry = jax.tree.map(lambda a: permuted(to_groups(a), order), carry)
  keep = None if keep_bt is None else to_groups(keep_bt)
  carry, hidden_t = _scan(cell, kernel, carry, time_major(permuted(to_groups(inputs_btg), order)),
                          time_major(keep), sizes, size_t, unroll)
  unsorted = None if order is None else jnp.argsort(order, axis=1)
  from_groups = lambda a: a.reshape((batch,) + a.shape[2:])
  carry = jax.tree.map(lambda a: from_groups(permuted(a, unsorted)), carry)
  hidden = permuted(jnp.moveaxis(hidden_t, 0, 2), unsorted)
  return carry, from_groups(hidden)


class LSTM(nn.Module):
  """An LSTM layer with a sequence input and an optional static input."""

  hidden_dim: int
  init_scale: float = 0.08
  dtype: Any = jnp.float32
  unroll: int = 1
  row_blocks: int = 1  # see scan_recurrence: used where a call gives positions

  def setup(self):
    init = symmetric_uniform(self.init_scale)
    gates = 4 * self.hidden_dim
    self.input_proj = nn.Dense(gates, kernel_init=init, dtype=self.dtype)
    self.static_proj = nn.Dense(
        gates, use_bias=False, kernel_init=init, dtype=self.dtype
    )
    self.recurrent_kernel = self.param(
        'recurrent_kernel', init, (self.hidden_dim, gates)
    )

  def initial_carry(self, batch_size: int) -> Carry:
    zeros = jnp.zeros((batch_size, self.hidden_dim), jnp.float32)
    return zeros, zeros

  def static_gates(self, static_bd: jax.Array) -> jax.Array:
    """The static input's gate term, [B, 4H], computed once per sequence."""
    return self.static_proj(static_bd).astype(jnp.float32)

  def gate_inputs(
      self, x: jax.Array, static_gates: jax.Array | None,
      positions: jax.Array | None = None,
  ) -> jax.Array:
    """x.W_x + b (+ static term) for any leading shape [B, ...] of x. With
    `positions` (bool, x's leading shape), x.W_x + b only there and 0
    elsewhere, the others never projected (models/positions.py: the bias
    added in float32, where Flax's Dense rounds to the compute dtype first);
    needs the layer's parameters, so only in `apply`."""
    if positions is None:
      gates = self.input_proj(x).astype(jnp.float32)
    else:
      dense = self.input_proj.variables['params']
      gates = dense_at(
          to_groups(x, features=True).astype(self.dtype), dense['kernel'].astype(self.dtype),
          dense['bias'], to_groups(positions, features=False),
      ).reshape(x.shape[:-1] + (-1,))
    if static_gates is not None:
      gates += static_gates.reshape(
          static_gates.shape[:1] + (1,) * (x.ndim - 2) + static_gates.shape[1:]
      )
    return gates

  def __call__(
      self, x_btd: jax.Array, static_gates: jax.Array | None = None,
      positions: jax.Array | None = None,
  ) -> jax.Array:
    """Hidden states [B, T, H] from zero initial state; with `positions`
    [B, T] (bool, each row's first steps: `positions.prefix`), valid there
    only: the input projection is computed there only, and the recurrence
    over `row_blocks` (scan_recurrence)."""
    return self.recur(self.gate_inputs(x_btd, static_gates, positions), positions)

  def recur(self, gates_btg: jax.Array, positions: jax.Array | None = None) -> jax.Array:
    """Hidden states [B, T, H] from hoisted gate inputs [B, T, 4H]; with
    `positions` (as in __call__), valid there only."""
    carry = self.initial_carry(gates_btg.shape[0])
    if positions is None:
      return self.scan(carry, gates_btg)[1]
    kernel = self.recurrent_kernel.astype(self.dtype)
    return scan_recurrence(lstm_cell, kernel, carry, gates_btg, unroll=self.unroll,
                           lengths_b=jnp.sum(positions, axis=1), row_blocks=self.row_blocks)[1]

  def scan(
      self, carry: Carry, gates_btg: jax.Array, mask_bt: jax.Array | None = None
  ) -> tuple[Carry, jax.Array]:
    """The final state and the hidden states [B, T, H] from `carry` and
    hoisted gate inputs; a step with mask 0 leaves the state as it was (a
    padded step is no step)."""
    kernel = self.recurrent_kernel.astype(self.dtype)
    return scan_recurrence(lstm_cell, kernel, carry, gates_btg, mask_bt, self.unroll)

  def step_gates(self, carry: Carry, gates_bg: jax.Array) -> tuple[Carry, jax.Array]:
    """One time step from hoisted gate inputs [B, 4H]."""
    return recurrent_step(lstm_cell, self.recurrent_kernel.astype(self.dtype), carry, gates_bg)


class ReluRNN(nn.Module):
  """m-RNN's recurrent layer; its input w(t) already has the state's size."""

  hidden_dim: int
  init_scale: float = 0.08
  dtype: Any = jnp.float32
  unroll: int = 1

  def setup(self):
    self.recurrent_kernel = self.param(
        'recurrent_kernel',
        symmetric_uniform(self.init_scale),
        (self.hidden_dim, self.hidden_dim),
    )

  def initial_state(self, batch_size: int) -> jax.Array:
    return jnp.zeros((batch_size, self.hidden_dim), jnp.float32)

  def __call__(self, w_bth: jax.Array) -> jax.Array:
    """States r [B, T, H] from a zero initial state."""
    kernel = self.recurrent_kernel.astype(self.dtype)
    initial = self.initial_state(w_bth.shape[0])
    return scan_recurrence(
        relu_cell, kernel, initial, w_bth.astype(jnp.float32), unroll=self.unroll
    )[1]

  def step(self, r: jax.Array, w_bh: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One time step, for decoding."""
    kernel = self.recurrent_kernel.astype(self.dtype)
    return recurrent_step(relu_cell, kernel, r, w_bh.astype(jnp.float32))

