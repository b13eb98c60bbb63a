"""Caption decoding through a model's step interface, with fixed shapes.

A model exposes `init_decode(features) -> state` (image terms computed once)
and `decode_step(state, tokens) -> (logits, state)`, so no prefix is re-run.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmcap.data.vocab import BOS_ID, EOS_ID, PAD_ID


def greedy(
    model: nn.Module, params, features_bf: jax.Array, max_steps: int
) -> jax.Array:
  """Most likely word at each step: [B, max_steps] ids, <pad> after <eos>.

  Pure; callers jit it with `model` and `max_steps` bound, and shardings.
  """
  variables = {'params': params}
  state = model.apply(variables, features_bf, method=model.init_decode)
  batch = features_bf.shape[0]

  def step(carry, _):
    state, tokens, done = carry
    logits, state = model.apply(variables, state, tokens, method=model.decode_step)
    tokens = jnp.where(done, PAD_ID, jnp.argmax(logits, -1).astype(jnp.int32))
    return (state, tokens, done | (tokens == EOS_ID)), tokens

  start = (state, jnp.full((batch,), BOS_ID, jnp.int32), jnp.zeros(batch, bool))
  _, tokens_tb = jax.lax.scan(step, start, None, length=max_steps)
  return tokens_tb.T
