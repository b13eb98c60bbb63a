"""The captioning task: a prepared dataset of image features and captions,
a captioner (LRCN, m-RNN, RNN-Base), its next-word loss, decoding and
evaluators, plugged into the core through the Task protocol."""

import os
from collections.abc import Iterator

from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mmcap.core import evals
from mmcap.core.placement import Placement, process_batch_size
from mmcap.core.task import Batch, Evaluation
from mmcap.data import demo
from mmcap.data import prepared
from mmcap.data import pipeline
from mmcap.data import records
from mmcap.data import sources
from mmcap.data.vocab import Vocabulary
from mmcap.describe import Describer
from mmcap.errors import InputError
from mmcap.tasks.captioning import evaluators

IMAGE_MODELS = ('lrcn', 'mrnn', 'rnn_base')


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
    if config.model.name not in IMAGE_MODELS:
      raise InputError(
          f'--config.model.name={config.model.name!r}: expected one of'
          f' {list(IMAGE_MODELS)} for images (S2VT reads video frames:'
          " config.task='video')"
      )
    examples, self.train_splits = None, []
    if with_dataset:
      self.dataset_dir, self.info = prepared.resolve(
          config.dataset, os.path.join(workdir, 'demo_data'),
          lambda path: demo.prepare(config.dataset.demo, path), records.load_info,
      )
      self.train_splits = prepared.split_list(config.dataset.train_splits, 'train_splits')
      eval_splits = [e.split for e in config.evals.values() if e.enabled]
      examples = pipeline.images(self.dataset_dir, self.info)
      examples.files(self.train_splits + eval_splits)
      vocab_dir = self.dataset_dir
    else:
      if not epath.Path(workdir, prepared.RUN_INFO_FILE).exists():
        raise InputError(
            f'{workdir}: no trained run here ({prepared.RUN_INFO_FILE} is missing)'
        )
      self.info = records.load_info(workdir)
      vocab_dir = workdir
    self.feature_dim = self.info['feature_dim']
    self.vocab = Vocabulary.load(os.path.join(vocab_dir, records.VOCAB_FILE))
    self.eval_batch_size = process_batch_size(config.eval_batch_size, 'eval_batch_size')
    self.describer = Describer(
        config, self.vocab, examples, self.train_splits, self.eval_batch_size,
        placement.data, placement.replicated, placement.to_global,
    )
    self.model, self.examples = self.describer.model, examples

  # The Task protocol (mmcap/core/task.py).

  def init_params(self, rng: jax.Array):
    return self.describer.init_params(rng, jnp.zeros((1, self.feature_dim), jnp.float32))

  def loss(self, params, batch, rng: jax.Array):
    return self.describer.loss(params, batch, rng)

  def train_batches(self, batch_size: int, skip_batches: int) -> Iterator[Batch]:
    return self.describer.train_batches(batch_size, skip_batches)

  def train_summary(self, metrics: dict[str, np.ndarray], seconds: float) -> dict[str, float]:
    return self.describer.train_summary(metrics, seconds)

  def evaluate(self, settings: ml_collections.ConfigDict, params) -> Evaluation:
    return evaluators.KINDS[settings.kind](self, settings, params)

  def workdir_files(self) -> dict:
    return {records.VOCAB_FILE: self.vocab.to_json(), prepared.RUN_INFO_FILE: self.info}

  # The inputs of the caption mode (mmcap/caption.py).

  def new_inputs(self, path: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Features to caption from a file (.npy (N, D) or vgg_feats.mat (D, N)),
    their image ids (the rows) and no names."""
    features = sources.load_features(path, None, self.feature_dim)
    return features, np.arange(len(features)), {}
