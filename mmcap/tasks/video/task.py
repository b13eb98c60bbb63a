"""The video description task: a prepared video-caption dataset, a captioner
reading each video's frames (S2VT) or a vector of it (mean-pool, semantic:
LRCN, m-RNN), its next-word loss, decoding and evaluators, plugged into the
core through the Task protocol. The model, loss, decoding and caption
metrics are image captioning's (mmcap/describe.py, evaluation/sentences.py).

With `with_dataset=False` the vocabulary, feature size and frame selection
come from the workdir of a trained run, so new videos' feature files can be
captioned anywhere.
"""

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
from mmcap.data import demo_video_captions
from mmcap.data import frame_files
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data import video_captions
from mmcap.data.vocab import Vocabulary
from mmcap.describe import Describer
from mmcap.errors import InputError
from mmcap.tasks.video import evaluators


def frame_selection(config: ml_collections.ConfigDict) -> video_captions.FrameSelection:
  """What the config's model reads of a video: S2VT the frames, the others
  a vector (mean-pool or semantic)."""
  dataset = config.dataset
  selection = video_captions.FrameSelection(
      dataset.video_input, dataset.frame_stride, dataset.max_frames
  )
  if (config.model.name == 's2vt') != (dataset.video_input == 'frames'):
    raise InputError(
        f'--config.dataset.video_input={dataset.video_input!r} with'
        f' --config.model.name={config.model.name!r}: S2VT reads'
        " video_input='frames', the other captioners 'mean_pool' or 'semantic'"
    )
  return selection


class VideoTask:
  """Videos -> sentences."""

  def __init__(
      self,
      config: ml_collections.ConfigDict,
      workdir: str,
      placement: Placement,
      with_dataset: bool = True,
  ):
    self.config, self.workdir, self.placement = config, workdir, placement
    evals.check(config, tuple(evaluators.KINDS))
    self.selection = frame_selection(config)
    examples, self.train_splits = None, []
    if with_dataset:
      self.dataset_dir, self.info = prepared.resolve(
          config.dataset, os.path.join(workdir, 'demo_data'),
          lambda path: demo_video_captions.prepare(config.dataset.demo, path),
          video_captions.load_info,
      )
      self.train_splits = prepared.split_list(config.dataset.train_splits, 'train_splits')
      eval_splits = [e.split for e in config.evals.values() if e.enabled]
      examples = video_captions.examples(self.dataset_dir, self.info, self.selection)
      examples.files(self.train_splits + eval_splits)
      vocab_dir = self.dataset_dir
    else:
      if not epath.Path(workdir, prepared.RUN_INFO_FILE).exists():
        raise InputError(f'{workdir}: no trained run here ({prepared.RUN_INFO_FILE} is missing)')
      self.info = video_captions.load_info(workdir)
      vocab_dir = workdir
    self.selection.check(self.info, prepared.info_path(vocab_dir))
    self.feature_dim = self.info['feature_dim']
    self.vocab = Vocabulary.load(os.path.join(vocab_dir, records.VOCAB_FILE))
    self.eval_batch_size = process_batch_size(config.eval_batch_size, 'eval_batch_size')
    self.describer = Describer(
        config, self.vocab, examples, self.train_splits, self.eval_batch_size,
        placement.data, placement.replicated, placement.to_global,
    )

  # The Task protocol (mmcap/core/task.py).

  def init_params(self, rng: jax.Array):
    one_video = self.selection.select(np.zeros((1, self.feature_dim), np.float32))
    return self.describer.init_params(rng, jax.tree.map(lambda x: jnp.asarray(x)[None], one_video))

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

  def new_inputs(self, directory: str) -> tuple[dict | np.ndarray, np.ndarray, dict[int, str]]:
    """The inputs of a directory of <video>.npy feature files (selected as in
    training), their ids (video_captions.result_ids) and names by id."""
    videos = frame_files.read_dir(directory, self.feature_dim)
    if self.selection.video_input == 'semantic' and any(len(v) > 1 for v in videos.values()):
      raise InputError(
          f"{directory}: video_input='semantic' takes one vector per video, but"
          ' some files hold several frames'
      )
    selected = [self.selection.select(frames) for frames in videos.values()]
    ids = video_captions.result_ids(list(videos))
    features = jax.tree.map(lambda *rows: np.stack(rows), *selected)
    return features, np.asarray(ids), dict(zip(ids, videos))
