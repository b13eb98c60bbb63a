"""The recurrence core: pure step functions scanned over time.

Only the truly sequential work is inside the scan: one fused [B, H] x [H, 4H]
matmul and the gate arithmetic. Input projections are computed for all time
steps at once outside it (`LSTM.gate_inputs`), and a static input such as the
image is projected once per sequence (`LSTM.static_gates`) and added to every
step. Gates are ordered i, f, o, g; states are kept in float32.
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


def scan_time(step, carry, inputs_btx: jax.Array, unroll: int):
  """lax.scan of `step(carry, x_t) -> (carry, y_t)` over axis 1 (time)."""
  carry, ys_tbx = jax.lax.scan(
      step, carry, jnp.swapaxes(inputs_btx, 0, 1), unroll=unroll
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
    gates_btg = self.gate_inputs(x_btd, static_gates)
    kernel = self.recurrent_kernel.astype(self.dtype)
    step = lambda carry, g: lstm_step(kernel, carry, g)
    _, h_bth = scan_time(
        step, self.initial_carry(x_btd.shape[0]), gates_btg, self.unroll
    )
    return h_bth

  def step(
      self, carry: Carry, x_bd: jax.Array, static_gates: jax.Array | None
  ) -> tuple[Carry, jax.Array]:
    """One time step, for decoding."""
    gates = self.gate_inputs(x_bd, static_gates)
    return lstm_step(self.recurrent_kernel.astype(self.dtype), carry, gates)
