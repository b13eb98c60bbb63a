"""The recurrence core: pure step functions scanned over time.

Only the truly sequential work is inside the scan: for the LSTM one fused
[B, H] x [H, 4H] matmul and the gate arithmetic, for m-RNN's ReLU recurrence
one [B, H] x [H, H] matmul and a ReLU. Input projections are computed for all
time steps at once outside it (`LSTM.gate_inputs`), and a static input such as
the image is projected once per sequence (`LSTM.static_gates`) and added to
every step. Gates are ordered i, f, o, g; states are kept in float32.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Carry = tuple[jax.Array, jax.Array]


def symmetric_uniform(scale: float) -> Callable[..., jax.Array]:
  """U(-scale, scale), the initializer of the reference Caffe nets."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)

  return init


def lstm_step(
    recurrent_kernel: jax.Array, carry: Carry, gate_inputs: jax.Array
) -> tuple[Carry, jax.Array]:
  """One LSTM step: c = f*c + i*g, h = o*tanh(c).

  Args:
    recurrent_kernel: [H, 4H], already in the compute dtype.
    carry: (h, c), each [B, H] float32.
    gate_inputs: [B, 4H] float32, the hoisted x.W_x + b (+ static terms).
  """
  h, c = carry
  gates = gate_inputs + jnp.dot(
      h.astype(recurrent_kernel.dtype),
      recurrent_kernel,
      preferred_element_type=jnp.float32,
  )
  i, f, o, g = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return (h, c), h


def relu_rnn_step(
    recurrent_kernel: jax.Array, r: jax.Array, inputs: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """m-RNN's recurrent layer: r(t) = ReLU(U_r . r(t-1) + w(t)).

  Args:
    recurrent_kernel: [H, H] (U_r transposed), in the compute dtype.
    r: [B, H] float32, the previous state.
    inputs: [B, H] float32, w(t).
  """
  r = jax.nn.relu(
      inputs
      + jnp.dot(
          r.astype(recurrent_kernel.dtype),
          recurrent_kernel,
          preferred_element_type=jnp.float32,
      )
  )
  return r, r


def scan_time(step, carry, inputs_btx: Any, unroll: int):
  """lax.scan of `step(carry, x_t) -> (carry, y_t)` over axis 1 (time) of
  every input array."""
  carry, ys_tbx = jax.lax.scan(
      step, carry, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), inputs_btx), unroll=unroll
  )
  return carry, jnp.swapaxes(ys_tbx, 0, 1)


class LSTM(nn.Module):
  """An LSTM layer with a sequence input and an optional static input."""

  hidden_dim: int
  init_scale: float = 0.08
  dtype: Any = jnp.float32
  unroll: int = 1

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
      self, x: jax.Array, static_gates: jax.Array | None
  ) -> jax.Array:
    """x.W_x + b (+ static term) for any leading shape [B, ...] of x."""
    gates = self.input_proj(x).astype(jnp.float32)
    if static_gates is not None:
      gates += static_gates.reshape(
          static_gates.shape[:1] + (1,) * (x.ndim - 2) + static_gates.shape[1:]
      )
    return gates

  def __call__(
      self, x_btd: jax.Array, static_gates: jax.Array | None = None
  ) -> jax.Array:
    """Hidden states [B, T, H] from zero initial state."""
    return self.recur(self.gate_inputs(x_btd, static_gates))

  def recur(self, gates_btg: jax.Array) -> jax.Array:
    """Hidden states [B, T, H] from hoisted gate inputs [B, T, 4H]."""
    return self.scan(self.initial_carry(gates_btg.shape[0]), gates_btg)[1]

  def scan(
      self, carry: Carry, gates_btg: jax.Array, mask_bt: jax.Array | None = None
  ) -> tuple[Carry, jax.Array]:
    """The final state and the hidden states [B, T, H] from `carry` and
    hoisted gate inputs; a step with mask 0 leaves the state as it was (a
    padded step is no step)."""
    kernel = self.recurrent_kernel.astype(self.dtype)
    if mask_bt is None:
      return scan_time(lambda c, g: lstm_step(kernel, c, g), carry, gates_btg, self.unroll)

    def step(carry, inputs):
      gates, keep = inputs
      new, _ = lstm_step(kernel, carry, gates)
      carry = jax.tree.map(lambda n, o: jnp.where(keep[:, None] > 0, n, o), new, carry)
      return carry, carry[0]

    return scan_time(step, carry, (gates_btg, mask_bt), self.unroll)

  def step(
      self, carry: Carry, x_bd: jax.Array, static_gates: jax.Array | None
  ) -> tuple[Carry, jax.Array]:
    """One time step, for decoding."""
    return self.step_gates(carry, self.gate_inputs(x_bd, static_gates))

  def step_gates(self, carry: Carry, gates_bg: jax.Array) -> tuple[Carry, jax.Array]:
    """One time step from hoisted gate inputs [B, 4H]."""
    return lstm_step(self.recurrent_kernel.astype(self.dtype), carry, gates_bg)


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
    step = lambda r, w: relu_rnn_step(kernel, r, w)
    _, r_bth = scan_time(
        step,
        self.initial_state(w_bth.shape[0]),
        w_bth.astype(jnp.float32),
        self.unroll,
    )
    return r_bth

  def step(self, r: jax.Array, w_bh: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One time step, for decoding."""
    kernel = self.recurrent_kernel.astype(self.dtype)
    return relu_rnn_step(kernel, r, w_bh.astype(jnp.float32))


class VocabularyLogits(nn.Module):
  """The softmax layer's logits over the vocabulary padded to a multiple of
  `vocab_multiple` (for matmul tiling); padding columns get -1e9 added, a
  constant whose gradient is the identity (a `where` would cost a select
  over the logits in the backward pass)."""

  vocab_size: int
  vocab_multiple: int
  init_scale: float = 0.08
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    padded = -(-self.vocab_size // self.vocab_multiple) * self.vocab_multiple
    logits = nn.Dense(
        padded, kernel_init=symmetric_uniform(self.init_scale), dtype=self.dtype
    )(x).astype(jnp.float32)
    return logits + jnp.where(jnp.arange(padded) < self.vocab_size, 0.0, -1e9)
