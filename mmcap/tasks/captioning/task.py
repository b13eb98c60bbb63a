"""The captioning task: a prepared dataset of image features and captions,
a captioner (LRCN, m-RNN, RNN-Base), its next-word loss, decoding and
evaluators, plugged into the core through the Task protocol."""

import functools
import os
from collections.abc import Iterator

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from mmcap import decode
from mmcap import losses
from mmcap import models
from mmcap.core import evals
from mmcap.core.placement import Placement, process_batch_size
from mmcap.core.task import Batch, Evaluation
from mmcap.data import demo
from mmcap.data import prepared
from mmcap.data import pipeline
from mmcap.data import records
from mmcap.data.vocab import Vocabulary
from mmcap.errors import InputError
from mmcap.tasks.captioning import evaluators

class CaptioningTask:
  """Images -> sentences.

  With `with_dataset=False` the vocabulary and feature size come from the
  workdir of a trained run, so new features can be captioned anywhere.
  """

  def __init__(
      self,
      config: ml_collections.ConfigDict,
      workdir: str,
      placement: Placement,
      with_dataset: bool = True,
  ):
    self.config, self.workdir, self.placement = config, workdir, placement
    evals.check(config, tuple(evaluators.KINDS))
    if with_dataset:
      self.dataset_dir, self.info = prepared.resolve(
          config.dataset, os.path.join(workdir, 'demo_data'),
          lambda path: demo.prepare(config.dataset.demo, path), records.load_info,
      )
      self.train_splits = prepared.split_list(config.dataset.train_splits, 'train_splits')
      eval_splits = [e.split for e in config.evals.values() if e.enabled]
      records.split_files(self.dataset_dir, self.info, self.train_splits + eval_splits)
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
    if config.loss_normalization not in losses.NORMALIZATIONS:
      raise InputError(
          f'--config.loss_normalization={config.loss_normalization!r}:'
          f' expected one of {losses.NORMALIZATIONS}'
      )
    self.eval_batch_size = process_batch_size(config.eval_batch_size, 'eval_batch_size')
    decoder = decode.decoder(self.model, config.decode, config.dataset.max_steps)
    self.eval_step = jax.jit(
        functools.partial(losses.sentence_nll, self.model),
        in_shardings=(placement.replicated, placement.data),
        out_shardings=placement.replicated,
    )
    self.decode = jax.jit(
        decoder,
        in_shardings=(placement.replicated, placement.data),
        out_shardings=placement.replicated,
    )

  # The Task protocol (mmcap/core/task.py).

  def init_params(self, rng: jax.Array):
    return self.model.init(
        rng,
        jnp.zeros((1, self.feature_dim), jnp.float32),
        jnp.zeros((1, self.config.dataset.max_steps), jnp.int32),
    )['params']

  def loss(self, params, batch, rng: jax.Array):
    """The NLL per target token, or per sentence (config.loss_normalization)."""
    return losses.next_word_loss(
        self.model, params, batch, rng, self.config.loss_normalization
    )

  def train_batches(self, batch_size: int, skip_batches: int) -> Iterator[Batch]:
    return pipeline.train_batches(
        self.dataset_dir,
        self.info,
        self.train_splits,
        batch_size,
        self.config.dataset.max_steps,
        self.config.dataset.shuffle_buffer,
        seed=self.config.seed,
        skip_batches=skip_batches,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )

  def train_summary(self, metrics: dict[str, np.ndarray], seconds: float) -> dict[str, float]:
    tokens = float(np.sum(metrics['num_tokens']))
    return {
        'perplexity': float(np.exp(np.sum(metrics['nll']) / max(tokens, 1.0))),
        'tokens_per_sec': tokens / seconds,
    }

  def evaluate(self, settings: ml_collections.ConfigDict, params) -> Evaluation:
    return evaluators.KINDS[settings.kind](self, settings, params)

  def workdir_files(self) -> dict:
    return {records.VOCAB_FILE: self.vocab.to_json(), records.INFO_FILE: self.info}

  # Shared by the evaluators and the caption mode.

  @functools.cached_property
  def train_references(self) -> dict[str, dict[int, list[str]]]:
    """The reference sentences of each training split, by image id."""
    return {
        split: pipeline.read_references(self.dataset_dir, self.info, split)
        for split in self.train_splits
    }

  def eval_batches(self, split: str, per_caption: bool) -> Iterator[Batch]:
    """This process's share of a split, in full batches (image_id -1 marks
    padding)."""
    return pipeline.eval_batches(
        self.dataset_dir,
        self.info,
        split,
        self.eval_batch_size,
        self.config.dataset.max_steps,
        per_caption=per_caption,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )

  def captions(self, params, batches: Iterator[Batch]) -> dict[int, str]:
    """Captions (by config.decode) of batches of features with image ids;
    image id -1 marks padding."""
    captions = {}
    for batch in batches:
      batch = self.placement.to_global(batch)
      tokens = np.asarray(self.decode(params, batch['features']))
      image_ids = np.asarray(
          multihost_utils.process_allgather(batch['image_id'], tiled=True)
      )
      for image_id, ids in zip(image_ids, tokens):
        if image_id >= 0:
          captions[int(image_id)] = ' '.join(self.vocab.decode(ids))
    return captions
