"""A prepared video-caption dataset: per-frame features and captions of each
video on disk, and how the caption pipelines read them.

Layout of a prepared directory:

  metadata.json        format 'video_captions', format version, feature_dim,
                       storage dtype, vocab_size, per split: video, caption
                       and frame counts, the most frames of a video, shard
                       file names; the source (dataset_info.json in
                       directories prepared before the TFDS metadata)
  vocab.json           the Vocabulary (vocab.py), as for images
  {split}-{i:05d}-of-{n:05d}.tfrecord
  dataset_info.json, features.json
                       TFDS's metadata: the TFDS dataset 'mmcap_video_captions'

Schema: one `tf.train.Example` per video:

  video/name        bytes[1]   e.g. 'vid1' (MSVD), 'video7010' (MSR-VTT)
  video/result_id   int64[1]   its id in results files (`VideoCaptions.video_id`)
  video/num_frames  int64[1]   T
  video/features    bytes[1]   T x D features, row-major, little-endian
                               float16 or float32 (the storage dtype)
  caption/*                    as for images (records.py)

A video with one stored vector (MSVD's pooled file, or a semantic
representation such as a CRF's probabilities) has T = 1. All frames are
stored; which ones a model sees is set when reading (`FrameSelection`).
A split's videos are written in a random order (seeded). The directory is
written under a temporary name and renamed when complete.
"""

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from mmcap.data import pipeline
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data.vocab import Vocabulary
from mmcap.errors import InputError
from mmcap.files import write_json

FORMAT = 'video_captions'
FORMAT_VERSION = 1
SPLITS = ('train', 'val', 'test')
STORAGE_DTYPES = ('float16', 'float32')
# What a captioner reads of a video (config.dataset.video_input).
VIDEO_INPUTS = ('mean_pool', 'semantic', 'frames')


@dataclasses.dataclass(frozen=True)
class VideoCaptions:
  """One video and its reference sentences (each a tuple of tokens)."""

  name: str
  split: str  # 'train', 'val' or 'test'
  sentences: tuple[tuple[str, ...], ...]
  sentids: tuple[int, ...]
  video_id: int  # its id in results files (`result_ids`)


def result_ids(names: Sequence[str]) -> list[int]:
  """Each video's id in results files: the number its name ends with
  ('vid1' -> 1, 'video7010' -> 7010) where every name has a distinct one
  below 2**31 (ids are int32 on the device), else its position in `names`."""
  digits = [name[len(name.rstrip('0123456789')):] for name in names]
  if all(digits):
    numbers = [int(d) for d in digits]
    if len(set(numbers)) == len(names) and max(numbers) < 2**31:
      return numbers
  return list(range(len(names)))


def write_dataset(
    videos: Sequence[VideoCaptions],
    load_frames: Callable[[VideoCaptions], np.ndarray],
    vocab: Vocabulary,
    output_dir: str,
    source: dict,
    storage_dtype: str = 'float32',
    videos_per_shard: int = 500,
    order_seed: int = 0,
) -> None:
  """Writes the videos' frames, `load_frames(video)` -> [T, D], and their
  captions as TFRecord shards, with the vocabulary and an info file; atomic
  at the directory level. Frames that are not finite in the storage dtype,
  or of another D than the first video's, are refused (nothing is left)."""
  if storage_dtype not in STORAGE_DTYPES:
    raise InputError(f'storage dtype {storage_dtype!r}: expected one of {STORAGE_DTYPES}')
  prepared.check_positive('videos_per_shard', videos_per_shard)
  records.check_captions(
      ((f'video {v.name!r}', v.sentids, v.sentences) for v in videos),
      vocab, source.get('captions', '<captions>'),
  )
  with prepared.atomic_directory(output_dir) as tmp_dir:
    rng = np.random.default_rng(order_seed)
    splits, feature_dim = {}, None
    for split in SPLITS:
      members = [v for v in videos if v.split == split]
      if not members:
        continue
      frame_counts = []

      def serialize(video: VideoCaptions, _) -> bytes:
        nonlocal feature_dim
        frames = _checked_frames(video, load_frames(video), storage_dtype, feature_dim)
        feature_dim = frames.shape[1]
        frame_counts.append(frames.shape[0])
        return _example(video, frames, vocab).SerializeToString()

      shards = prepared.write_shards(
          tmp_dir, split, members, videos_per_shard, rng, serialize,
          captions_of=lambda video: len(video.sentences),
      )
      splits[split] = {
          'num_videos': len(members),
          'num_captions': sum(len(v.sentences) for v in members),
          'num_frames': int(sum(frame_counts)),
          'max_frames': int(max(frame_counts)),
          **shards,
      }
    info = {
        'format': FORMAT, 'format_version': FORMAT_VERSION,
        'feature_dim': feature_dim, 'storage_dtype': storage_dtype,
        'vocab_size': len(vocab), 'splits': splits, 'source': source,
    }
    vocab.save(os.path.join(tmp_dir, records.VOCAB_FILE))
    prepared.write_tfds_metadata(
        tmp_dir, 'mmcap_video_captions', FORMAT_VERSION, _tfds_features(), splits, 'videos',
        'Videos (their per-frame CNN features) and captions, prepared by mmcap.'
        f' video/features: num_frames x {feature_dim} little-endian {storage_dtype}'
        ' values, row-major.')
    write_json(os.path.join(tmp_dir, prepared.INFO_FILE), info)  # last: see atomic_directory


def _checked_frames(
    video: VideoCaptions, frames: np.ndarray, storage_dtype: str, feature_dim: int | None
) -> np.ndarray:
  frames = np.asarray(frames)
  if frames.ndim != 2 or not frames.shape[0] or not frames.shape[1]:
    raise InputError(f'video {video.name}: expected [T, D] features with T, D >= 1,'
                     f' got shape {frames.shape}')
  if feature_dim is not None and frames.shape[1] != feature_dim:
    raise InputError(
        f'video {video.name}: {frames.shape[1]}-d features, the others {feature_dim}-d'
    )
  with np.errstate(over='ignore', invalid='ignore'):  # refused below, by name
    stored = frames.astype(np.dtype(storage_dtype).newbyteorder('<'))
  if not np.all(np.isfinite(stored)):
    raise InputError(
        f'video {video.name}: features not finite as {storage_dtype} (NaN, Inf,'
        ' or beyond its range)'
    )
  return stored


def _tfds_features() -> dict:
  """The schema as TFDS features (video/features: the bytes as stored)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  return {
      'video': {'name': tfds.features.Text(), 'result_id': np.int64, 'num_frames': np.int64,
                'features': tfds.features.Tensor(shape=(), dtype=np.bytes_)},
      'caption': records.caption_tfds_features(),
  }


def _example(video: VideoCaptions, frames: np.ndarray, vocab: Vocabulary):
  return tf.train.Example(features=tf.train.Features(feature={
      'video/name': records.strings([video.name]),
      'video/result_id': records.ints([video.video_id]),
      'video/num_frames': records.ints([frames.shape[0]]),
      'video/features': tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[frames.tobytes()])),
      **records.caption_features(video.sentences, video.sentids, vocab),
  }))


def load_info(dataset_dir: str) -> dict:
  """Reads and checks the info file of a prepared video-caption directory
  (or a workdir's copy)."""
  return prepared.load_info(
      dataset_dir, FORMAT, FORMAT_VERSION, 'video-caption', 'python -m mmcap.prepare_video_captions')


@dataclasses.dataclass(frozen=True)
class FrameSelection:
  """Which frames a captioner reads, and how (config.dataset):

  every `stride`-th frame from the first, at most `max_frames` of them (the
  earliest; 0: all), then as `video_input`:
    'mean_pool'  their mean [D]: the static input of LRCN or m-RNN
    'semantic'   the video's one stored vector [D] as it is (e.g. a CRF's
                 probabilities, the LRCN paper's TACoS input)
    'frames'     {'frames' [max_frames, D], 'frame_mask' [max_frames]}, the
                 frames zero-padded and masked: S2VT's input
  """

  video_input: str
  stride: int = 1
  max_frames: int = 0

  def __post_init__(self):
    if self.video_input not in VIDEO_INPUTS:
      raise InputError(
          f'--config.dataset.video_input={self.video_input!r}: expected one of'
          f' {list(VIDEO_INPUTS)}'
      )
    if self.stride < 1:
      raise InputError(f'--config.dataset.frame_stride={self.stride}: expected >= 1')
    if self.max_frames < 0 or (self.video_input == 'frames' and not self.max_frames):
      raise InputError(
          f'--config.dataset.max_frames={self.max_frames}: expected >= 1 frame slots'
          " for video_input='frames' (0, all frames, only when pooling)"
      )

  def check(self, info: dict, path: str) -> None:
    """Refuses a 'semantic' input for a dataset with several vectors a video."""
    if self.video_input == 'semantic':
      longest = max(entry['max_frames'] for entry in info['splits'].values())
      if longest != 1:
        raise InputError(
            f"{path}: video_input='semantic' takes one stored vector per video,"
            f' but videos here have up to {longest} frames; use'
            " --config.dataset.video_input='mean_pool'"
        )

  def select(self, frames: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
    """The input of one video's frames [T, D], in numpy (the caption mode's
    feature files); the pipeline computes the same in TensorFlow."""
    frames = np.asarray(frames, np.float32)[:: self.stride]
    if self.max_frames:
      frames = frames[: self.max_frames]
    if self.video_input != 'frames':
      return frames.mean(axis=0)
    padding = self.max_frames - frames.shape[0]
    return {
        'frames': np.pad(frames, ((0, padding), (0, 0))),
        'frame_mask': np.pad(np.ones(frames.shape[0], np.float32), (0, padding)),
    }

  def select_tf(self, frames: tf.Tensor) -> tf.Tensor | dict[str, tf.Tensor]:
    """`select` in TensorFlow, for the pipeline. Frames keep their storage
    dtype (float16 halves the shuffle buffer; the model computes in its own
    dtype); a mean is float32."""
    frames = frames[:: self.stride]
    if self.max_frames:
      frames = frames[: self.max_frames]
    if self.video_input != 'frames':
      return tf.reduce_mean(tf.cast(frames, tf.float32), axis=0)
    count = tf.shape(frames)[0]
    padded = tf.pad(frames, [[0, self.max_frames - count], [0, 0]])
    return {
        'frames': tf.ensure_shape(padded, [self.max_frames, frames.shape[-1]]),
        'frame_mask': tf.cast(tf.range(self.max_frames) < count, tf.float32),
    }


def examples(dataset_dir: str, info: dict, selection: FrameSelection) -> pipeline.Examples:
  """The prepared videos as the caption pipelines read them, each video's
  `features` chosen by `selection`."""
  feature_dim, dtype = info['feature_dim'], tf.dtypes.as_dtype(info['storage_dtype'])

  def parse(serialized: tf.Tensor) -> dict:
    example = tf.io.parse_single_example(serialized, {
        'video/result_id': tf.io.FixedLenFeature([], tf.int64),
        'video/features': tf.io.FixedLenFeature([], tf.string),
        **pipeline.CAPTION_FEATURES,
    })
    frames = tf.io.decode_raw(example['video/features'], dtype, little_endian=True)
    frames = tf.reshape(frames, [-1, feature_dim])
    return {
        'image_id': tf.cast(example['video/result_id'], tf.int32),
        'features': selection.select_tf(frames),
        'captions': pipeline.captions_of(example),
    }

  return pipeline.Examples(dataset_dir, info, parse, id_key='video/result_id',
                          name_key='video/name', unit='videos')
