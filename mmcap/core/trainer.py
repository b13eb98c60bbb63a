"""A task's train state and compiled train step, placed on the mesh: the
state replicated and donated, batches sharded along 'data'."""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from mmcap.core import checkpoints
from mmcap.core import steps
from mmcap.core.placement import Placement
from mmcap.core.task import Task


class Trainer:
  """`initial_state`, `restore` and the jitted `train_step` of a task."""

  def __init__(
      self, task: Task, config: ml_collections.ConfigDict, placement: Placement
  ):
    self.task = task
    self.optimizer = steps.make_optimizer(config.optimizer)
    abstract_state = jax.eval_shape(self._init_state, jax.random.key(0))
    self.state_sharding = jax.tree.map(lambda _: placement.replicated, abstract_state)
    self.abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        abstract_state,
        self.state_sharding,
    )
    self.train_step = jax.jit(
        functools.partial(
            steps.train_step,
            loss_fn=task.loss,
            optimizer=self.optimizer,
            loss_weight=config.loss_weight,
        ),
        in_shardings=(self.state_sharding, placement.data),
        out_shardings=(self.state_sharding, placement.replicated),
        donate_argnums=0,
    )

  def _init_state(self, rng: jax.Array) -> steps.TrainState:
    params_rng, dropout_rng = jax.random.split(rng)
    params = self.task.init_params(params_rng)
    return steps.TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=self.optimizer.init(params),
        rng=dropout_rng,
    )

  def initial_state(self, seed: int) -> steps.TrainState:
    return jax.jit(self._init_state, out_shardings=self.state_sharding)(
        jax.random.key(seed)
    )

  def restore(self, workdir: str) -> steps.TrainState | None:
    """The latest checkpoint of `workdir` that restores (see
    checkpoints.restore_latest)."""
    return checkpoints.restore_latest(
        checkpoints.checkpoints_dir(workdir), self.abstract_state
    )
