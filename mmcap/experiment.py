"""An experiment: the data, model, shardings and compiled functions of a run.

Training, evaluation and captioning share it. Batches are sharded along a 1-D
'data' mesh of all devices; the train state is replicated. A workdir holds
what is needed to rebuild the model without the dataset: config.json,
vocab.json and dataset_info.json, written when training starts.
"""

import functools
import json
import os
import sys
from collections.abc import Iterator

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from mmcap import decode
from mmcap import models
from mmcap import steps
from mmcap.data import demo
from mmcap.data import pipeline
from mmcap.data import records
from mmcap.data.vocab import Vocabulary
from mmcap.errors import InputError


def resolve_dataset(config: ml_collections.ConfigDict, workdir: str) -> str:
  """The prepared dataset directory; generates the demo set on first use."""
  if config.source == 'demo':
    path = os.path.join(workdir, 'demo_data')
    if not os.path.exists(path) and jax.process_index() == 0:
      demo.prepare(config.demo, path)
    multihost_utils.sync_global_devices('demo dataset ready')
    made_with = records.load_info(path)['source'].get('demo_config')
    if made_with != config.demo.to_dict():
      raise InputError(
          f'{path} was generated with other --config.dataset.demo settings'
          f' ({made_with}); use a new --workdir'
      )
    return path
  if config.source == 'prepared':
    if not config.dir:
      raise InputError(
          '--config.dataset.dir is required when dataset.source="prepared"'
      )
    return config.dir
  raise InputError(
      f'--config.dataset.source={config.source!r}: expected "demo" or "prepared"'
  )


def _splits(value: str, flag: str) -> list[str]:
  splits = [s for s in value.split(',') if s]
  if not splits:
    raise InputError(f'--config.dataset.{flag} is empty')
  return splits


def write_json(path: str, value) -> None:
  """Writes JSON atomically: a reader sees the old file or the whole new one."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)


def write_captions(path: str, captions: dict[int, str]) -> None:
  """A COCO results file: [{"image_id": ..., "caption": ...}], by image id."""
  write_json(path, [{'image_id': i, 'caption': c} for i, c in sorted(captions.items())])


def checkpoint_manager(workdir: str) -> ocp.CheckpointManager:
  """The manager of WORKDIR/checkpoints, keeping the last 3 steps.

  Saves are atomic: Orbax writes a step to `<step>.orbax-checkpoint-tmp` and
  renames it to `<step>` when complete. A save cut short (SIGKILL, power loss)
  leaves only the temporary directory, which Orbax never lists as a step and
  replaces when that step is saved again.
  """
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')),
      options=ocp.CheckpointManagerOptions(max_to_keep=3, create=True),
  )


class Experiment:
  """Model, optional dataset and compiled functions of one run.

  With `with_dataset=False` the vocabulary and feature size come from the
  workdir of a trained run, so new features can be captioned anywhere.
  """

  def __init__(
      self,
      config: ml_collections.ConfigDict,
      workdir: str,
      with_dataset: bool = True,
  ):
    self.config = config
    self.workdir = workdir
    num_devices = jax.device_count()
    for name in ('batch_size', 'eval_batch_size'):
      if config[name] <= 0 or config[name] % num_devices:
        raise InputError(
            f'--config.{name}={config[name]}: must be a positive multiple of'
            f' the {num_devices} devices'
        )
    if with_dataset:
      self.dataset_dir = resolve_dataset(config.dataset, workdir)
      self.info = records.load_info(self.dataset_dir)
      self.train_splits = _splits(config.dataset.train_splits, 'train_splits')
      self.eval_splits = _splits(config.dataset.eval_splits, 'eval_splits')
      for split in self.train_splits + self.eval_splits:
        records.split_files(self.dataset_dir, self.info, [split])
      vocab_dir = self.dataset_dir
    else:
      if not os.path.exists(os.path.join(workdir, records.INFO_FILE)):
        raise InputError(
            f'{workdir}: no trained run here ({records.INFO_FILE} is missing)'
        )
      self.info = records.load_info(workdir)
      vocab_dir = workdir
    self.feature_dim = self.info['feature_dim']
    self.vocab = Vocabulary.load(os.path.join(vocab_dir, records.VOCAB_FILE))
    self.model = models.build(config.model, len(self.vocab))
    if config.loss_normalization not in steps.LOSS_NORMALIZATIONS:
      raise InputError(
          f'--config.loss_normalization={config.loss_normalization!r}:'
          f' expected one of {steps.LOSS_NORMALIZATIONS}'
      )
    self.optimizer = steps.make_optimizer(config.optimizer)
    decoder = decode.decoder(self.model, config.decode, config.dataset.max_steps)

    mesh = jax.make_mesh(
        (num_devices,), ('data',), axis_types=(jax.sharding.AxisType.Auto,)
    )
    self.replicated = jax.NamedSharding(mesh, jax.P())
    self.data_sharding = jax.NamedSharding(mesh, jax.P('data'))
    abstract_state = jax.eval_shape(self._init_state, jax.random.key(0))
    self.state_sharding = jax.tree.map(lambda _: self.replicated, abstract_state)
    self.abstract_state = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        abstract_state,
        self.state_sharding,
    )
    self.train_step = jax.jit(
        functools.partial(
            steps.train_step,
            model=self.model,
            optimizer=self.optimizer,
            normalization=config.loss_normalization,
        ),
        in_shardings=(self.state_sharding, self.data_sharding),
        out_shardings=(self.state_sharding, self.replicated),
        donate_argnums=0,
    )
    self.eval_step = jax.jit(
        functools.partial(steps.sentence_nll, self.model),
        in_shardings=(self.replicated, self.data_sharding),
        out_shardings=self.replicated,
    )
    self.decode = jax.jit(
        decoder,
        in_shardings=(self.replicated, self.data_sharding),
        out_shardings=self.replicated,
    )

  def _init_state(self, rng: jax.Array) -> steps.TrainState:
    params_rng, dropout_rng = jax.random.split(rng)
    params = self.model.init(
        params_rng,
        jnp.zeros((1, self.feature_dim), jnp.float32),
        jnp.zeros((1, self.config.dataset.max_steps), jnp.int32),
    )['params']
    return steps.TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=self.optimizer.init(params),
        rng=dropout_rng,
    )

  def initial_state(self) -> steps.TrainState:
    return jax.jit(self._init_state, out_shardings=self.state_sharding)(
        jax.random.key(self.config.seed)
    )

  def restore(self, manager: ocp.CheckpointManager) -> steps.TrainState | None:
    """The latest checkpoint that restores, or None if there is none.

    A checkpoint that fails to restore while an earlier one succeeds is
    corrupt (a file truncated or deleted after the save): each is reported in
    one line and moved aside to `<step>.corrupt`, out of the manager's sight,
    so that training saves that step again. If none restores, as with a config
    that does not match the checkpoints, the latest one's error is raised and
    nothing is moved.
    """
    previous_hook = sys.unraisablehook

    def hook(unraisable):
      # A failed Orbax restore leaves TensorStore reads that end after its
      # event loop has closed, each then reporting this: noise, dropped.
      if str(unraisable.exc_value) != 'Event loop is closed':
        previous_hook(unraisable)

    errors, state = {}, None
    sys.unraisablehook = hook
    try:
      for step in sorted(manager.all_steps(), reverse=True):
        try:
          state = manager.restore(
              step, args=ocp.args.StandardRestore(self.abstract_state)
          )
          break
        except Exception as error:  # pylint: disable=broad-exception-caught
          # Orbax and TensorStore report a bad file with many exception types.
          errors[step] = error
    finally:
      sys.unraisablehook = previous_hook
    if state is None:
      if errors:
        raise errors[max(errors)]
      return None
    for bad_step, error in errors.items():
      aside = manager.directory / f'{bad_step}.corrupt'
      if jax.process_index() == 0:
        (manager.directory / str(bad_step)).rename(aside)
      detail = ' '.join(str(error).split())[:300]
      print(
          f'warning: checkpoint {bad_step} does not restore'
          f' ({type(error).__name__}: {detail}); moved to {aside}, restored'
          f' step {step}',
          file=sys.stderr,
          flush=True,
      )
    if errors:
      multihost_utils.sync_global_devices('corrupt checkpoints moved aside')
      manager.reload()
    return state

  def to_global(self, batch: pipeline.Batch) -> dict[str, jax.Array]:
    return {
        k: jax.make_array_from_process_local_data(self.data_sharding, v)
        for k, v in batch.items()
    }

  def eval_batches(self, split: str, per_caption: bool) -> Iterator[pipeline.Batch]:
    return pipeline.eval_batches(
        self.dataset_dir,
        self.info,
        split,
        self.config.eval_batch_size // jax.process_count(),
        self.config.dataset.max_steps,
        per_caption=per_caption,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )

  def captions(self, params, batches: Iterator[pipeline.Batch]) -> dict[int, str]:
    """Captions (by config.decode) of batches of features with image ids;
    image id -1 marks padding."""
    captions = {}
    for batch in batches:
      batch = self.to_global(batch)
      tokens = np.asarray(self.decode(params, batch['features']))
      image_ids = np.asarray(
          multihost_utils.process_allgather(batch['image_id'], tiled=True)
      )
      for image_id, ids in zip(image_ids, tokens):
        if image_id >= 0:
          captions[int(image_id)] = ' '.join(self.vocab.decode(ids))
    return captions
