"""The pure functions of training: the optimizer and the train step.

The train state is a plain pytree (step, params, optimizer state, rng); the
loss comes from the task. Callers jit these with their shardings
(core/trainer.py).
"""

from collections.abc import Callable
from typing import Any

import flax
import jax
import ml_collections
import optax

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


LossFn = Callable[[Any, Any, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


def train_step(
    state: TrainState,
    batch,
    *,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimizer step on `loss_fn(params, batch, rng)`; the dropout rng of
  step k is fold_in(state.rng, k), so a resumed run draws the same."""
  rng = jax.random.fold_in(state.rng, state.step)
  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, batch, rng
  )
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  new_state = state.replace(
      step=state.step + 1, params=params, opt_state=opt_state
  )
  return new_state, {
      'loss': loss,
      **metrics,
      'grad_norm': optax.global_norm(grads),
      'param_norm': optax.global_norm(params),
  }
