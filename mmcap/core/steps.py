"""The pure functions of training: the optimizer and the train step.

The train state is a plain pytree (step, params, optimizer state, rng); the
loss comes from the task. Callers jit these with their shardings
(core/trainer.py).
"""

import dataclasses
import re
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


def _path_name(path) -> str:
  return '/'.join(str(getattr(k, 'key', k)) for k in path)


@dataclasses.dataclass(frozen=True)
class ParamMultipliers:
  """Caffe's per-parameter lr_mult and decay_mult: those of the first
  (regex, lr_mult, decay_mult) entry whose regex matches a parameter's path
  ('output/Dense_0/bias'), else (1, 1)."""

  entries: tuple[tuple[re.Pattern, float, float], ...]

  @classmethod
  def from_config(cls, entries) -> 'ParamMultipliers':
    parsed = []
    for entry in entries:
      try:
        pattern, lr_mult, decay_mult = entry
        parsed.append((re.compile(pattern), float(lr_mult), float(decay_mult)))
      except (re.error, TypeError, ValueError) as e:
        raise InputError(
            f'--config.optimizer.param_multipliers: {entry!r} is not'
            f' (regex, lr_mult, decay_mult): {e}'
        ) from None
    return cls(tuple(parsed))

  def of(self, name: str) -> tuple[float, float]:
    for pattern, lr_mult, decay_mult in self.entries:
      if pattern.search(name):
        return lr_mult, decay_mult
    return 1.0, 1.0

  def check(self, params) -> None:
    """Refuses an entry that matches no parameter (a typo)."""
    names = [_path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    for pattern, _, _ in self.entries:
      if not any(pattern.search(n) for n in names):
        raise InputError(
            f'--config.optimizer.param_multipliers: {pattern.pattern!r} matches'
            f' no parameter (parameters: {names})'
        )


def _per_parameter(multipliers: ParamMultipliers, fn) -> optax.GradientTransformation:
  """A stateless transformation of each update by `fn(update, param,
  lr_mult, decay_mult)`; its init checks that every multiplier matches."""

  def init(params):
    multipliers.check(params)
    return optax.EmptyState()

  def update(updates, state, params):
    def one(path, g, theta):
      return fn(g, theta, *multipliers.of(_path_name(path)))

    return jax.tree_util.tree_map_with_path(one, updates, params), state

  return optax.GradientTransformation(init, update)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The reference Caffe solver's update, for SGD:

    g <- 0 where lr_mult = 0 (a frozen parameter has no gradient in Caffe)
    g <- clip(g) to global L2 norm grad_clip_norm (0: no clipping)
    g <- g + weight_decay * decay_mult * theta              (per parameter)
    v <- momentum * v + lr * lr_mult * g;  theta <- theta - v

  with lr multiplied by lr_decay_factor every lr_decay_steps; the learning
  rate is inside the momentum history, as in Caffe. Adam replaces the last
  line by Adam's update times lr * lr_mult. lr_mult and decay_mult come from
  config.param_multipliers, a tuple of (regex, lr_mult, decay_mult) matched
  against parameter paths.
  """
  if config.name not in ('sgd', 'adam'):
    raise InputError(
        f'--config.optimizer.name={config.name!r}: expected "sgd" or "adam"'
    )
  schedule = optax.exponential_decay(
      config.learning_rate,
      transition_steps=config.lr_decay_steps,
      decay_rate=config.lr_decay_factor,
      staircase=True,
  )
  multipliers = ParamMultipliers.from_config(config.param_multipliers)
  if config.name == 'sgd':
    step = [optax.scale_by_schedule(schedule)]
    step += [optax.trace(decay=config.momentum)] if config.momentum else []
  else:
    step = [optax.scale_by_adam(), optax.scale_by_schedule(schedule)]
  clip = config.grad_clip_norm
  weight_decay = config.weight_decay
  return optax.chain(
      _per_parameter(multipliers, lambda g, theta, lr, decay: g * (lr != 0)),
      optax.clip_by_global_norm(clip) if clip else optax.identity(),
      _per_parameter(multipliers, lambda g, theta, lr, decay: g + weight_decay * decay * theta),
      *step,
      # lr_mult after the step: linear for SGD, and not undone by Adam.
      _per_parameter(multipliers, lambda g, theta, lr, decay: g * lr),
      optax.scale(-1.0),
  )


LossFn = Callable[[Any, Any, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


def train_step(
    state: TrainState,
    batch,
    *,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    loss_weight: float = 1.0,
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimizer step on loss_weight * `loss_fn(params, batch, rng)` (the
  weight scales the gradient before clipping, as Caffe's loss_weight does);
  the loss reported is unweighted. The dropout rng of step k is
  fold_in(state.rng, k), so a resumed run draws the same."""
  rng = jax.random.fold_in(state.rng, state.step)

  def weighted(params):
    loss, metrics = loss_fn(params, batch, rng)
    return loss_weight * loss, (loss, metrics)

  (_, (loss, metrics)), grads = jax.value_and_grad(weighted, has_aux=True)(
      state.params
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
