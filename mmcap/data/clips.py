"""tf.data pipelines of fixed-length clips over a prepared video dataset,
yielding fixed-shape numpy batches (this process's share).

A clip is `clip_length` (L) consecutive frames of a video, [L, D], with a mask
[L] of its real frames. A video shorter than L gives one clip: its frames,
then zero padding masked out (the loss and the averages skip it).

  training    one clip per video and pass, from a random start (uniform over
              0 .. T - L), drawn from the seed; shards in a new order every
              pass, in blocks shuffled whole (data/order.py), so a resumed
              run starts at its step and sees the same batches
  evaluation  every video's clips starting at 0, stride, 2 stride, ... while
              they fit, plus the last L frames (the reference protocol: L =
              16, stride 8); batches padded to full size with video -1

Batches: 'clip' [B, L, D] float32, 'mask' [B, L] float32, 'label' [B] int32,
'video' [B] int32 (the video's index in the split's list of the info file;
-1 for padding).
"""

from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from mmcap.data import order
from mmcap.data import video_records
from mmcap.errors import InputError

tf.config.set_visible_devices([], 'GPU')
tf.config.set_visible_devices([], 'TPU')

Batch = dict[str, np.ndarray]


def clip_starts(num_frames: int, clip_length: int, stride: int) -> list[int]:
  """The evaluation clips' first frames (the rule of the module docstring)."""
  last = max(num_frames - clip_length, 0)
  starts = list(range(0, last + 1, stride))
  return starts if starts[-1] == last else starts + [last]


def _parse(serialized, feature_dim: int, storage_dtype: str) -> dict:
  example = tf.io.parse_single_example(serialized, {
      'video/index': tf.io.FixedLenFeature([], tf.int64),
      'video/label': tf.io.FixedLenFeature([], tf.int64),
      'video/features': tf.io.FixedLenFeature([], tf.string),
  })
  frames = tf.io.decode_raw(example['video/features'], tf.dtypes.as_dtype(storage_dtype),
                            little_endian=True)
  return {
      'video': tf.cast(example['video/index'], tf.int32),
      'label': tf.cast(example['video/label'], tf.int32),
      'frames': tf.cast(tf.reshape(frames, [-1, feature_dim]), tf.float32),
  }


def _clip(video: dict, start: tf.Tensor, clip_length: int) -> dict:
  frames = video['frames'][start:start + clip_length]
  valid = tf.shape(frames)[0]
  return {
      'clip': tf.pad(frames, [[0, clip_length - valid], [0, 0]]),
      'mask': tf.cast(tf.range(clip_length) < valid, tf.float32),
      'label': video['label'],
      'video': video['video'],
  }


def _process_files(dataset_dir, info, splits, process_index, process_count) -> list[str]:
  files = video_records.split_files(dataset_dir, info, splits)
  if len(files) < process_count:
    raise InputError(
        f'{dataset_dir}: {len(files)} shards of {list(splits)} for'
        f' {process_count} processes; prepare with fewer videos per shard'
    )
  return files[process_index::process_count]


def train_clips(
    dataset_dir: str,
    info: dict,
    splits: Sequence[str],
    batch_size: int,
    clip_length: int,
    shuffle_buffer: int,
    seed: int,
    skip_batches: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    per_process_shards: bool = False,
) -> Iterator[Batch]:
  """Endless batches of training clips: this process's share of global
  batches that do not depend on the number of processes (unless
  `per_process_shards`: order.process_stream). Clips are shuffled in blocks of at least
  `shuffle_buffer` (data/order.py); `skip_batches` resumes in place, reading
  at most one block before it."""
  files = video_records.split_files(dataset_dir, info, splits)
  counts = []
  for split in splits:
    shards = [video[3] for video in info['splits'][split]['videos']]
    counts += [shards.count(shard) for shard in range(len(info['splits'][split]['files']))]

  def crops(block_files: tf.Tensor, block_seed: tf.Tensor) -> tf.data.Dataset:
    """One clip per video, its start drawn from the block's seed and the
    video's place in the block."""

    def crop(index, serialized):
      video = _parse(serialized, info['feature_dim'], info['storage_dtype'])
      positions = tf.maximum(tf.shape(video['frames'])[0] - clip_length + 1, 1)
      start = tf.random.stateless_uniform(
          [], seed=tf.stack([block_seed, index]), maxval=positions, dtype=tf.int32
      )
      return _clip(video, start, clip_length)

    return tf.data.TFRecordDataset(block_files).enumerate().map(
        crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )

  ds = order.process_stream(
      files, counts, crops, block_size=shuffle_buffer, seed=seed, rows=batch_size,
      skip_batches=skip_batches, process_index=process_index, process_count=process_count,
      own_shards=per_process_shards,
  )
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def num_eval_batches(
    info: dict, split: str, batch_size: int, clip_length: int, stride: int,
    process_count: int,
) -> int:
  """Batches per process for one pass over a split: enough for the process
  with the most clips, so that every process runs the same number."""
  entry = info['splits'][split]
  per_process = [0] * process_count
  for _, _, num_frames, shard in entry['videos']:
    per_process[shard % process_count] += len(clip_starts(num_frames, clip_length, stride))
  return -(-max(per_process) // batch_size)


def eval_clips(
    dataset_dir: str,
    info: dict,
    split: str,
    batch_size: int,
    clip_length: int,
    stride: int,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[Batch]:
  """One pass over a split's evaluation clips, in full batches."""
  files = _process_files(dataset_dir, info, [split], process_index, process_count)

  def clips(serialized):
    video = _parse(serialized, info['feature_dim'], info['storage_dtype'])
    num_frames = tf.shape(video['frames'])[0]
    last = tf.maximum(num_frames - clip_length, 0)
    starts = tf.unique(tf.concat([tf.range(0, last + 1, stride), [last]], 0)).y
    return tf.data.Dataset.from_tensor_slices(starts).map(
        lambda start: _clip(video, start, clip_length))

  ds = tf.data.TFRecordDataset(files).flat_map(clips)
  padding = {
      'clip': tf.zeros([clip_length, info['feature_dim']]),
      'mask': tf.zeros([clip_length]),
      'label': tf.constant(0, tf.int32),
      'video': tf.constant(-1, tf.int32),
  }
  ds = ds.concatenate(tf.data.Dataset.from_tensors(padding).repeat())
  count = num_eval_batches(info, split, batch_size, clip_length, stride, process_count)
  ds = ds.take(count * batch_size).batch(batch_size)
  return ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
