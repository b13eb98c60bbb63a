"""train_and_evaluate: one train loop for every captioning model.

Data flows one way: prepared dataset -> tf.data numpy batches -> global arrays
sharded over a 1-D 'data' mesh of all devices -> jitted train step (state
replicated, donated) -> Orbax checkpoints and metrics -> final evaluation
written to WORKDIR/results.json.
"""

import functools
import json
import os
import time
from typing import Any

from absl import logging
from clu import metric_writers
import flax
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from mmcap import decode
from mmcap import models
from mmcap.data import demo
from mmcap.data import pipeline
from mmcap.data import records
from mmcap.data.vocab import PAD_ID, Vocabulary
from mmcap.errors import InputError
from mmcap.evaluation import metrics as metrics_lib


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


def token_nll(model, params, batch, rng=None) -> tuple[jax.Array, jax.Array]:
  """Summed masked next-word NLL (nats) and the number of target tokens."""
  logits = model.apply(
      {'params': params},
      batch['features'],
      batch['inputs'],
      train=rng is not None,
      rngs={'dropout': rng} if rng is not None else {},
  )
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch['targets'])
  weights = (batch['targets'] != PAD_ID).astype(jnp.float32)
  return jnp.sum(nll * weights), jnp.sum(weights)


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


def _write_json(path: str, value) -> None:
  """Writes JSON atomically: a reader sees the old file or the whole new one."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)


class Trainer:
  """The model, data and compiled functions of one run, shared by all phases."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.config = config
    self.workdir = workdir
    num_devices = jax.device_count()
    for name in ('batch_size', 'eval_batch_size'):
      if config[name] <= 0 or config[name] % num_devices:
        raise InputError(
            f'--config.{name}={config[name]}: must be a positive multiple of'
            f' the {num_devices} devices'
        )
    self.dataset_dir = resolve_dataset(config.dataset, workdir)
    self.info = records.load_info(self.dataset_dir)
    self.train_splits = _splits(config.dataset.train_splits, 'train_splits')
    self.eval_splits = _splits(config.dataset.eval_splits, 'eval_splits')
    for split in self.train_splits + self.eval_splits:
      records.split_files(self.dataset_dir, self.info, [split])
    self.vocab = Vocabulary.load(
        os.path.join(self.dataset_dir, records.VOCAB_FILE)
    )
    self.model = models.build(config.model, len(self.vocab))
    if config.loss_normalization not in LOSS_NORMALIZATIONS:
      raise InputError(
          f'--config.loss_normalization={config.loss_normalization!r}:'
          f' expected one of {LOSS_NORMALIZATIONS}'
      )
    self.optimizer = make_optimizer(config.optimizer)

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
            train_step,
            model=self.model,
            optimizer=self.optimizer,
            normalization=config.loss_normalization,
        ),
        in_shardings=(self.state_sharding, self.data_sharding),
        out_shardings=(self.state_sharding, self.replicated),
        donate_argnums=0,
    )
    self.eval_step = jax.jit(
        functools.partial(token_nll, self.model),
        in_shardings=(self.replicated, self.data_sharding),
        out_shardings=self.replicated,
    )
    self.greedy = jax.jit(
        functools.partial(
            decode.greedy, self.model, max_steps=config.dataset.max_steps
        ),
        in_shardings=(self.replicated, self.data_sharding),
        out_shardings=self.replicated,
    )

  def _init_state(self, rng: jax.Array) -> TrainState:
    params_rng, dropout_rng = jax.random.split(rng)
    steps = self.config.dataset.max_steps
    params = self.model.init(
        params_rng,
        jnp.zeros((1, self.info['feature_dim']), jnp.float32),
        jnp.zeros((1, steps), jnp.int32),
    )['params']
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=self.optimizer.init(params),
        rng=dropout_rng,
    )

  def initial_state(self) -> TrainState:
    return jax.jit(self._init_state, out_shardings=self.state_sharding)(
        jax.random.key(self.config.seed)
    )

  def to_global(self, batch: pipeline.Batch) -> dict[str, jax.Array]:
    return {
        k: jax.make_array_from_process_local_data(self.data_sharding, v)
        for k, v in batch.items()
    }

  def eval_batches(self, split: str, per_caption: bool):
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

  def perplexity(self, params, split: str) -> float:
    sum_nll, num_tokens = 0.0, 0.0
    for batch in self.eval_batches(split, per_caption=True):
      batch_nll, batch_tokens = self.eval_step(params, self.to_global(batch))
      sum_nll += float(batch_nll)
      num_tokens += float(batch_tokens)
    return metrics_lib.perplexity(sum_nll, num_tokens)

  def captions(self, params, split: str) -> dict[int, str]:
    """Greedy captions of every image of a split, by image id."""
    captions = {}
    for batch in self.eval_batches(split, per_caption=False):
      batch = self.to_global(batch)
      tokens = np.asarray(self.greedy(params, batch['features']))
      image_ids = np.asarray(
          multihost_utils.process_allgather(batch['image_id'], tiled=True)
      )
      for image_id, ids in zip(image_ids, tokens):
        if image_id >= 0:
          captions[int(image_id)] = ' '.join(self.vocab.decode(ids))
    return captions


def evaluate(trainer: Trainer, params, step: int) -> dict[str, float]:
  """Perplexity on every eval split; greedy captions and metrics on the last."""
  results: dict[str, float] = {'step': step}
  for split in trainer.eval_splits:
    results[f'{split}/perplexity'] = trainer.perplexity(params, split)
  split = trainer.eval_splits[-1]
  captions = trainer.captions(params, split)
  references = pipeline.read_references(trainer.dataset_dir, trainer.info, split)
  for name, value in metrics_lib.caption_metrics(references, captions).items():
    results[f'{split}/{name}'] = value
  train_refs = [
      ref
      for split_name in trainer.train_splits
      for refs in pipeline.read_references(
          trainer.dataset_dir, trainer.info, split_name
      ).values()
      for ref in refs
  ]
  baseline = metrics_lib.most_frequent(train_refs)
  baseline_metrics = metrics_lib.caption_metrics(
      references, {i: baseline for i in references}
  )
  for name, value in baseline_metrics.items():
    results[f'{split}/most_frequent_caption_{name}'] = value
  if jax.process_index() == 0:
    _write_json(
        os.path.join(trainer.workdir, f'captions_{split}.json'),
        [{'image_id': i, 'caption': c} for i, c in sorted(captions.items())],
    )
    print(f'sample {split} captions (model | a reference):')
    for image_id in sorted(captions)[: trainer.config.num_sample_captions]:
      print(f'  {image_id}: {captions[image_id]} | {references[image_id][0]}')
    print(f'most frequent training caption (baseline): {baseline!r}')
  return results


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str
) -> dict[str, float]:
  """Trains (resuming from `workdir` if it holds a checkpoint) and evaluates."""
  trainer = Trainer(config, workdir)
  os.makedirs(workdir, exist_ok=True)
  is_main = jax.process_index() == 0
  if is_main:
    trainer.vocab.save(os.path.join(workdir, records.VOCAB_FILE))
    _write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  manager = ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')),
      options=ocp.CheckpointManagerOptions(max_to_keep=3, create=True),
  )
  start_step = manager.latest_step()
  if start_step is None:
    state, start_step = trainer.initial_state(), 0
  else:
    state = manager.restore(
        start_step, args=ocp.args.StandardRestore(trainer.abstract_state)
    )
    logging.info('Resumed from step %d of %s', start_step, workdir)
    print(f'resumed from checkpoint at step {start_step}')

  writer = metric_writers.SummaryWriter(os.path.join(workdir, 'tensorboard'))
  batches = pipeline.train_batches(
      trainer.dataset_dir,
      trainer.info,
      trainer.train_splits,
      config.batch_size // jax.process_count(),
      config.dataset.max_steps,
      config.dataset.shuffle_buffer,
      seed=config.seed,
      skip_batches=start_step,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  pending, last_time, last_step = [], time.perf_counter(), start_step
  for step in range(start_step + 1, config.num_train_steps + 1):
    state, step_metrics = trainer.train_step(state, trainer.to_global(next(batches)))
    pending.append(step_metrics)
    if step % config.log_every_steps == 0 or step == config.num_train_steps:
      fetched = jax.device_get(pending)
      pending = []
      now = time.perf_counter()
      scalars = {
          k: float(np.mean([m[k] for m in fetched]))
          for k in ('loss', 'nll_per_token', 'grad_norm', 'param_norm')
      }
      if not np.isfinite(scalars['loss']):
        raise FloatingPointError(
            f'loss is {scalars["loss"]} at step {step}; stopping'
        )
      scalars['perplexity'] = float(np.exp(scalars.pop('nll_per_token')))
      scalars['steps_per_sec'] = (step - last_step) / (now - last_time)
      scalars['tokens_per_sec'] = sum(m['num_tokens'] for m in fetched) / (
          now - last_time
      )
      last_time, last_step = now, step
      writer.write_scalars(step, scalars)
      if is_main:
        print(
            f'step {step}: loss {scalars["loss"]:.4f} perplexity'
            f' {scalars["perplexity"]:.3f} steps/s {scalars["steps_per_sec"]:.1f}'
            f' tokens/s {scalars["tokens_per_sec"]:.0f}',
            flush=True,
        )
    if step % config.checkpoint_every_steps == 0 or step == config.num_train_steps:
      manager.save(step, args=ocp.args.StandardSave(state))
  manager.wait_until_finished()

  results = evaluate(trainer, state.params, int(state.step))
  writer.write_scalars(int(state.step), {f'final/{k}': v for k, v in results.items()})
  writer.flush()
  if is_main:
    _write_json(os.path.join(workdir, 'results.json'), results)
    print('results:', json.dumps(results, indent=2))
  return results
