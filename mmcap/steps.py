"""The pure functions under jax.jit: the masked loss and the train step.

The train state is a plain pytree (step, params, optimizer state, rng); the
optimizer is an optax chain chosen by config.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from mmcap.data.vocab import PAD_ID
from mmcap.errors import InputError


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Clipping, L2 weight decay (coupled, as in Caffe), then SGD or Adam."""
  schedule = optax.exponential_decay(
      config.learning_rate,
      transition_steps=config.lr_decay_steps,
      decay_rate=config.lr_decay_factor,
      staircase=True,
  )
  if config.name == 'sgd':
    opt = optax.sgd(schedule, momentum=config.momentum or None)
  elif config.name == 'adam':
    opt = optax.adam(schedule)
  else:
    raise InputError(
        f'--config.optimizer.name={config.name!r}: expected "sgd" or "adam"'
    )
  return optax.chain(
      optax.clip_by_global_norm(config.grad_clip_norm),
      optax.add_decayed_weights(config.weight_decay),
      opt,
  )


def sentence_nll(model, params, batch, rng=None) -> tuple[jax.Array, jax.Array]:
  """Each sentence's summed next-word NLL (nats) [B] and its number of target
  tokens [B]; <pad> targets count for nothing."""
  logits = model.apply(
      {'params': params},
      batch['features'],
      batch['inputs'],
      train=rng is not None,
      rngs={'dropout': rng} if rng is not None else {},
  )
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch['targets'])
  weights = (batch['targets'] != PAD_ID).astype(jnp.float32)
  return jnp.sum(nll * weights, axis=1), jnp.sum(weights, axis=1)


def token_nll(model, params, batch, rng=None) -> tuple[jax.Array, jax.Array]:
  """Summed masked next-word NLL (nats) and the number of target tokens."""
  nll, tokens = sentence_nll(model, params, batch, rng)
  return jnp.sum(nll), jnp.sum(tokens)


LOSS_NORMALIZATIONS = ('token', 'sentence')


def train_step(state: TrainState, batch, *, model, optimizer, normalization):
  """One optimizer step on the NLL per target token or per sentence."""
  rng = jax.random.fold_in(state.rng, state.step)
  if normalization == 'token':
    count = jnp.sum(batch['targets'] != PAD_ID)
  else:
    count = jnp.sum(jnp.any(batch['targets'] != PAD_ID, axis=1))
  count = jnp.maximum(count, 1).astype(jnp.float32)

  def loss_fn(params):
    sum_nll, num_tokens = token_nll(model, params, batch, rng)
    return sum_nll / count, num_tokens

  (loss, num_tokens), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params
  )
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  new_state = state.replace(
      step=state.step + 1, params=params, opt_state=opt_state
  )
  return new_state, {
      'loss': loss,
      'nll_per_token': loss * count / jnp.maximum(num_tokens, 1.0),
      'num_tokens': num_tokens,
      'grad_norm': optax.global_norm(grads),
      'param_norm': optax.global_norm(params),
  }
