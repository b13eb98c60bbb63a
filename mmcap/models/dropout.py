"""Dropout that draws only as many random bits as its rate needs.

`flax.linen.Dropout` draws a 32-bit uniform per element, and on a CPU the
threefry generator is most of dropout's cost: m-RNN's dropout on m(t) took
about a tenth of its training step at the PyTorch comparison's size. A rate
of 0.5 needs one random bit per element to be exact. Where rate x 2^b is a
whole number for b of 1, 2, 4, 8 or 16, each element takes b bits of a
32-bit random word and is kept where they are at least rate x 2^b; other
rates draw as Flax does. Either way an element is kept with probability
exactly 1 - rate (up to float32 for Flax's draw), independently of every
other, and scaled by 1 / (1 - rate).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

BIT_WIDTHS = (1, 2, 4, 8, 16)


def exact_bits(rate: float) -> int | None:
  """The fewest bits per element (of BIT_WIDTHS) that give `rate` exactly,
  or None."""
  for bits in BIT_WIDTHS:
    if float(rate * 2**bits).is_integer():
      return bits
  return None


def keep_mask(rng: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
  """Independent Bernoulli(1 - rate) keep decisions of `shape`: `exact_bits`
  bits each where that is exact, else as `jax.random.bernoulli`."""
  bits = exact_bits(rate)
  if bits is None:
    return jax.random.bernoulli(rng, 1.0 - rate, shape)
  # Packed along the last axis only, so that the draws of a batch split
  # over devices split with it.
  *leading, last = shape or (1,)
  per_word = 32 // bits
  num_words = -(-last // per_word)
  words = jax.random.bits(rng, (*leading, num_words, 1), jnp.uint32)
  draws = (words >> jnp.arange(0, 32, bits, dtype=jnp.uint32)) & (2**bits - 1)
  draws = draws.reshape(*leading, num_words * per_word)[..., :last]
  return draws.reshape(shape) >= int(rate * 2**bits)


class Dropout(nn.Module):
  """Inverted dropout with the 'dropout' rng, as `flax.linen.Dropout(rate)`
  computes it (without its broadcast_dims and rng options), with
  `keep_mask`'s draws."""

  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return x
    if self.rate == 1.0:
      return jnp.zeros_like(x)
    keep = keep_mask(self.make_rng('dropout'), self.rate, x.shape)
    return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))
