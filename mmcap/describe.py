"""What every task that writes sentences runs (captioning: images; video
description: videos): the captioner of `config.model` over a vocabulary, its
next-word loss, its per-sentence NLL and decoder jitted on the mesh with
generated ids turned into text, and the caption pipelines over the task's
prepared examples."""

import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from mmcap import decode
from mmcap import losses
from mmcap import models
from mmcap.data import pipeline
from mmcap.data.vocab import Vocabulary
from mmcap.errors import InputError

Batch = dict[str, Any]


class Describer:
  """A captioner, its jitted computations and its data: batches sharded by
  `data`, parameters and results `replicated`; `to_global` makes a global
  batch of this process's rows (core/placement.py). `examples` is the
  prepared dataset (None where only captions of new inputs are wanted), its
  `train_splits` trained on, and evaluation reads `eval_batch_size` rows a
  process at a time. It is what the sentence evaluators
  (evaluation/sentences.py) and the caption mode work on."""

  def __init__(
      self,
      config: ml_collections.ConfigDict,
      vocab: Vocabulary,
      examples: pipeline.Examples | None,
      train_splits: list[str],
      eval_batch_size: int,
      data: jax.sharding.Sharding,
      replicated: jax.sharding.Sharding,
      to_global: Callable[[Batch], Batch],
  ):
    if config.loss_normalization not in losses.NORMALIZATIONS:
      raise InputError(
          f'--config.loss_normalization={config.loss_normalization!r}:'
          f' expected one of {losses.NORMALIZATIONS}'
      )
    self.config, self.vocab, self.examples = config, vocab, examples
    self.train_splits = train_splits
    self.eval_batch_size, self.to_global = eval_batch_size, to_global
    self.model = models.build(config.model, len(vocab))
    self.eval_step = jax.jit(
        functools.partial(losses.sentence_nll, self.model),
        in_shardings=(replicated, data),
        out_shardings=replicated,
    )
    self.decode = jax.jit(
        decode.decoder(self.model, config.decode, config.dataset.max_steps),
        in_shardings=(replicated, data),
        out_shardings=replicated,
    )

  def init_params(self, rng: jax.Array, features: Any):
    """Fresh parameters, shaped by one example's `features` ([1, ...])."""
    inputs = jnp.zeros((1, self.config.dataset.max_steps), jnp.int32)
    return self.model.init(rng, features, inputs)['params']

  def loss(self, params, batch, rng: jax.Array):
    """The NLL per target token, or per sentence (config.loss_normalization)."""
    return losses.next_word_loss(
        self.model, params, batch, rng, self.config.loss_normalization
    )

  @staticmethod
  def train_summary(metrics: dict[str, np.ndarray], seconds: float) -> dict[str, float]:
    tokens = float(np.sum(metrics['num_tokens']))
    return {
        'perplexity': float(np.exp(np.sum(metrics['nll']) / max(tokens, 1.0))),
        'tokens_per_sec': tokens / seconds,
    }

  def train_batches(self, batch_size: int, skip_batches: int) -> Iterator[Batch]:
    """This process's endless training batches of captions (core/task.py)."""
    return pipeline.train_batches(
        self.examples, self.train_splits, batch_size, self.config.dataset.max_steps,
        self.config.dataset.shuffle_buffer, seed=self.config.seed,
        skip_batches=skip_batches, process_index=jax.process_index(),
        process_count=jax.process_count(),
        per_process_shards=self.config.dataset.per_process_shards,
    )

  def eval_batches(self, split: str, per_caption: bool) -> Iterator[Batch]:
    """This process's share of a split, per caption or per example, in full
    batches (image_id -1 marks padding)."""
    return pipeline.eval_batches(
        self.examples, split, self.eval_batch_size, self.config.dataset.max_steps,
        per_caption=per_caption, process_index=jax.process_index(),
        process_count=jax.process_count(),
    )

  def references(self, split: str) -> dict[int, list[str]]:
    """The reference sentences of each example of a split, by id."""
    return pipeline.read_references(self.examples, split)

  @functools.cached_property
  def train_references(self) -> dict[str, dict[int, list[str]]]:
    """The reference sentences of each training split, by id."""
    return {split: self.references(split) for split in self.train_splits}

  def input_batches(self, features: Any, ids: np.ndarray) -> Iterator[Batch]:
    """This process's share of new inputs (`features`: an array or a dict of
    arrays, [N, ...]; their results ids [N]) in full batches; id -1 marks
    padding."""
    rows = np.arange(len(ids))
    share = rows[jax.process_index() :: jax.process_count()]
    per_process = -(-len(rows) // jax.process_count())  # every process's count
    num_batches = -(-per_process // self.eval_batch_size)
    for b in range(num_batches):
      chosen = share[b * self.eval_batch_size : (b + 1) * self.eval_batch_size]
      padding = self.eval_batch_size - len(chosen)

      def pad(x, fill=0):
        x = np.asarray(x)[chosen]
        return np.pad(x, [(0, padding)] + [(0, 0)] * (x.ndim - 1), constant_values=fill)

      yield {
          'image_id': pad(ids, fill=-1).astype(np.int32),
          'features': jax.tree.map(pad, features),
      }

  def sentence_nll(self, params, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """Each caption's summed NLL and token count, for this process's rows."""
    return self.eval_step(params, self.to_global(batch))

  def captions(self, params, batches: Iterator[Batch]) -> dict[int, str]:
    """Captions (by config.decode) of batches of features with ids, over all
    processes; id -1 marks padding."""
    captions = {}
    for batch in batches:
      batch = self.to_global(batch)
      tokens = np.asarray(self.decode(params, batch['features']))
      ids = np.asarray(multihost_utils.process_allgather(batch['image_id'], tiled=True))
      for example_id, row in zip(ids, tokens):
        if example_id >= 0:
          captions[int(example_id)] = ' '.join(self.vocab.decode(row))
    return captions
