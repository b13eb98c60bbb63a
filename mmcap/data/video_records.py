"""A prepared video dataset: per-frame features of one stream on disk.

Layout of a prepared directory:

  metadata.json        format 'videos', format version, stream ('rgb' or
                       'flow'), feature_dim, storage dtype, the class names,
                       per split: its shard files and its videos as
                       [name, label, num_frames, shard] (dataset_info.json in
                       directories prepared before the TFDS metadata)
  {split}-{i:05d}-of-{n:05d}.tfrecord
  dataset_info.json, features.json
                       TFDS's metadata: the TFDS dataset 'mmcap_videos'

Schema: one `tf.train.Example` per video:

  video/index       int64[1]   its position in the split's video list
  video/label       int64[1]   0-based class (classInd.txt's label - 1)
  video/num_frames  int64[1]   T
  video/features    bytes[1]   T x D features, row-major, little-endian
                               float16 or float32 (the storage dtype)

A split's videos are written in a random order (seeded) over its shards. The
directory is written under a temporary name and renamed when complete, so it
is never half-written.
"""

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np

from mmcap.data import prepared
from mmcap.errors import InputError
from mmcap.files import write_json

FORMAT = 'videos'
FORMAT_VERSION = 1
STREAMS = ('rgb', 'flow')
STORAGE_DTYPES = ('float16', 'float32')


@dataclasses.dataclass(frozen=True)
class Video:
  name: str  # e.g. 'v_ApplyEyeMakeup_g08_c01'
  label: int  # 0-based
  split: str  # 'train', 'val' or 'test'


def write_videos(
    videos: Sequence[Video],
    load: Callable[[Video], np.ndarray],
    classes: Sequence[str],
    stream: str,
    output_dir: str,
    source: dict,
    storage_dtype: str = 'float16',
    videos_per_shard: int = 500,
    order_seed: int = 0,
) -> None:
  """Writes the videos' features, `load(video)` -> [T, D], as TFRecord shards
  and an info file; atomic at the directory level. The caller has checked
  every video (`load` is called once per video, while writing)."""
  if stream not in STREAMS:
    raise InputError(f'--stream={stream!r}: expected one of {list(STREAMS)}')
  if storage_dtype not in STORAGE_DTYPES:
    raise InputError(f'storage dtype {storage_dtype!r}: expected one of {STORAGE_DTYPES}')
  prepared.check_positive('videos_per_shard', videos_per_shard)
  with prepared.atomic_directory(output_dir) as tmp_dir:
    rng = np.random.default_rng(order_seed)
    splits, feature_dim = {}, None
    for split in ('train', 'val', 'test'):
      members = [v for v in videos if v.split == split]
      if not members:
        continue
      listed = []

      def serialize(video: Video, shard: int) -> bytes:
        nonlocal feature_dim
        frames = load(video)
        with np.errstate(over='ignore', invalid='ignore'):  # refused below, by name
          frames = np.asarray(frames, np.dtype(storage_dtype).newbyteorder('<'))
        if frames.ndim != 2 or not frames.shape[0] or not frames.shape[1]:
          raise InputError(f'video {video.name}: expected [T, D] features with T, D >= 1,'
                           f' got shape {frames.shape}')
        if not np.all(np.isfinite(frames)):
          raise InputError(
              f'video {video.name}: features not finite as {storage_dtype} (beyond'
              ' its range?); prepare with --float32'
          )
        if feature_dim is not None and frames.shape[1] != feature_dim:
          raise InputError(
              f'video {video.name}: {frames.shape[1]}-d features, the others'
              f' {feature_dim}-d'
          )
        feature_dim = frames.shape[1]
        listed.append([video.name, video.label, int(frames.shape[0]), shard])
        return _example(len(listed) - 1, video, frames).SerializeToString()

      shards = prepared.write_shards(tmp_dir, split, members, videos_per_shard, rng, serialize)
      splits[split] = {'num_videos': len(listed),
                       'num_frames': sum(v[2] for v in listed),
                       **shards, 'videos': listed}
    info = {
        'format': FORMAT, 'format_version': FORMAT_VERSION, 'stream': stream,
        'feature_dim': feature_dim, 'storage_dtype': storage_dtype,
        'classes': list(classes), 'splits': splits, 'source': source,
    }
    prepared.write_tfds_metadata(
        tmp_dir, 'mmcap_videos', FORMAT_VERSION, _tfds_features(classes), splits, 'videos',
        f'Videos (their per-frame {stream} CNN features) and their classes, prepared by'
        f' mmcap. video/features: num_frames x {feature_dim} little-endian {storage_dtype}'
        ' values, row-major; video/index: the place of the video in its split\'s list'
        ' (builder.info.metadata).')
    write_json(os.path.join(tmp_dir, prepared.INFO_FILE), info)  # last: see atomic_directory


def _tfds_features(classes: Sequence[str]) -> dict:
  """The schema as TFDS features (video/features: the bytes as stored)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  return {'video': {'index': np.int64, 'label': tfds.features.ClassLabel(names=list(classes)),
                    'num_frames': np.int64,
                    'features': tfds.features.Tensor(shape=(), dtype=np.bytes_)}}


def _example(index: int, video: Video, frames: np.ndarray):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def ints(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

  return tf.train.Example(features=tf.train.Features(feature={
      'video/index': ints(index),
      'video/label': ints(video.label),
      'video/num_frames': ints(frames.shape[0]),
      'video/features': tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[frames.tobytes()])),
  }))


def load_info(dataset_dir: str) -> dict:
  """Reads and checks `dataset_info.json` of a prepared video directory."""
  return prepared.load_info(
      dataset_dir, FORMAT, FORMAT_VERSION, 'video', 'python -m mmcap.prepare_videos')


def split_files(dataset_dir: str, info: dict, splits: Sequence[str]) -> list[str]:
  """The shard paths of `splits`; an unknown or empty split is an error."""
  return prepared.split_files(dataset_dir, info, splits, 'videos')
