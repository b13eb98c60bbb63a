"""tf.data pipelines over a prepared dataset, yielding fixed-shape numpy batches.

TensorFlow is used for tf.data only: accelerators are hidden from it so it
never takes memory from JAX. Every pipeline reads this process's share of the
data (`process_index` of `process_count`).

A caption of L words becomes `max_steps` time steps (T), as in the
reference nets' streams: inputs are [<bos>, w_1 .. w_n] with n = min(L, T - 1),
targets [w_1 .. w_L, <eos>] cut to T. A caption that fits (L < T) ends with
its <eos> target; a longer one is cut and has none (its last target is the
word that follows, w_T), so truncation never teaches the model to end a
sentence midway. Both are padded with <pad>, whose targets the loss ignores.
Image ids are the ids of results files (records.py: image/result_id).

Training reads the shards in an order shuffled every epoch, in blocks of
shards whose captions are shuffled whole, all from the seed (data/order.py):
with the random order in which prepare writes images, each batch draws from
across the split, and a resumed run starts at its step without reading the
batches before it. Every process reads that same stream and keeps its rows
of each global batch, so the batches do not depend on the number of
processes (nor of devices); or, with --config.dataset.per_process_shards,
each process reads shards of its own (data/order.py).
"""

import dataclasses
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from mmcap.data import order
from mmcap.data import prepared
from mmcap.data.vocab import BOS_ID, EOS_ID, PAD_ID

tf.config.set_visible_devices([], 'GPU')
tf.config.set_visible_devices([], 'TPU')

Batch = dict[str, np.ndarray]
CAPTION_FEATURES = {
    'caption/token_ids': tf.io.VarLenFeature(tf.int64),
    'caption/lengths': tf.io.VarLenFeature(tf.int64),
}


@dataclasses.dataclass(frozen=True)
class Examples:
  """A prepared dataset as the caption pipelines read it: one example per
  image (or video) holding its captions (records.py's caption/* fields).

  `parse(serialized)` gives {'image_id': its results-file id, 'features':
  the model's static input (an array or a dict of arrays), 'captions':
  ragged token ids}; `id_key` names the results-file id field, `name_key`
  the file name (or video name) field; `unit` is what an example is
  ('images', 'videos'), as the info file counts them.
  """

  dataset_dir: str
  info: dict
  parse: Callable[[tf.Tensor], dict]
  id_key: str = 'image/result_id'
  name_key: str = 'image/filename'
  unit: str = 'images'

  def files(self, splits: Sequence[str]) -> list[str]:
    """The shard paths of `splits`; an unknown or empty split is an error."""
    return prepared.split_files(self.dataset_dir, self.info, splits, self.unit)

  def file_captions(self, splits: Sequence[str]) -> list[int]:
    """The captions in each shard of `splits`, as `files` lists them: from
    the info file, or counted where an older prepare did not record them."""
    counts = []
    for split in splits:
      counts += self.info['splits'][split].get('file_captions') or [
          _count_captions(path) for path in self.files([split])
      ]
    return counts

  def count(self, split: str, per_caption: bool) -> int:
    entry = self.info['splits'][split]
    return entry['num_captions'] if per_caption else entry[f'num_{self.unit}']


def _count_captions(path: str) -> int:
  """The captions in a shard, counted (for directories prepared before
  prepare recorded them)."""
  lengths = tf.data.TFRecordDataset(path).map(
      lambda record: tf.size(tf.io.parse_single_example(
          record, {'caption/lengths': tf.io.VarLenFeature(tf.int64)}
      )['caption/lengths'].values)
  )
  return int(lengths.reduce(0, lambda total, n: total + n))


def captions_of(example: dict[str, tf.Tensor]) -> tf.RaggedTensor:
  """The captions of a parsed example with CAPTION_FEATURES, ragged ids."""
  return tf.RaggedTensor.from_row_lengths(
      tf.cast(tf.sparse.to_dense(example['caption/token_ids']), tf.int32),
      tf.sparse.to_dense(example['caption/lengths']),
  )


def images(dataset_dir: str, info: dict) -> Examples:
  """A prepared image dataset (records.py): each image's feature vector."""
  feature_dim = info['feature_dim']

  def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    example = tf.io.parse_single_example(serialized, {
        'image/result_id': tf.io.FixedLenFeature([], tf.int64),
        'image/feature': tf.io.FixedLenFeature([feature_dim], tf.float32),
        **CAPTION_FEATURES,
    })
    return {
        'image_id': tf.cast(example['image/result_id'], tf.int32),
        'features': example['image/feature'],
        'captions': captions_of(example),
    }

  return Examples(dataset_dir, info, parse)


def _time_steps(token_ids: tf.Tensor, max_steps: int) -> dict[str, tf.Tensor]:
  inputs = tf.concat([[BOS_ID], token_ids[: max_steps - 1]], 0)
  targets = tf.concat([token_ids, [EOS_ID]], 0)[:max_steps]
  pad = [[0, max_steps - tf.shape(inputs)[0]]]
  inputs = tf.pad(inputs, pad, constant_values=PAD_ID)
  targets = tf.pad(targets, [[0, max_steps - tf.shape(targets)[0]]], constant_values=PAD_ID)
  return {
      'inputs': tf.ensure_shape(inputs, [max_steps]),
      'targets': tf.ensure_shape(targets, [max_steps]),
  }


def _captions(image: dict[str, tf.Tensor], max_steps: int) -> tf.data.Dataset:
  """One element per caption of an image, each with the image's feature."""

  def one(token_ids):
    return {
        'image_id': image['image_id'],
        'features': image['features'],
        **_time_steps(token_ids, max_steps),
    }

  return tf.data.Dataset.from_tensor_slices(image['captions']).map(one)


def _examples(examples: Examples, splits: Sequence[str]) -> tf.data.Dataset:
  """The parsed examples of `splits`, in the order of their shards."""
  ds = tf.data.TFRecordDataset(examples.files(splits))
  return ds.map(examples.parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def train_batches(
    examples: Examples,
    splits: Sequence[str],
    batch_size: int,
    max_steps: int,
    shuffle_buffer: int,
    seed: int,
    skip_batches: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    per_process_shards: bool = False,
) -> Iterator[Batch]:
  """Endless shuffled caption batches of `batch_size` rows: this process's
  share of global batches that depend on the seed only, not on how many
  processes share them (unless `per_process_shards`: order.process_stream).
  Captions are shuffled in blocks of at least `shuffle_buffer`
  (data/order.py); `skip_batches` resumes a run in place, reading at most
  one block before it."""

  def captions(files: tf.Tensor, block_seed: tf.Tensor) -> tf.data.Dataset:
    del block_seed  # a caption needs no draw of its own
    ds = tf.data.TFRecordDataset(files).map(
        examples.parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return ds.flat_map(lambda image: _captions(image, max_steps))

  ds = order.process_stream(
      examples.files(splits), examples.file_captions(splits), captions,
      block_size=shuffle_buffer, seed=seed, rows=batch_size, skip_batches=skip_batches,
      process_index=process_index, process_count=process_count,
      own_shards=per_process_shards,
  )
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def eval_batches(
    examples: Examples,
    split: str,
    batch_size: int,
    max_steps: int,
    per_caption: bool,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[Batch]:
  """One pass over a split, in full batches, padding marked by image_id -1.

  Per caption (for perplexity) or per image (for captioning). Padding examples
  have image_id -1, zero features and all-<pad> targets, so they add nothing
  to a loss.
  """
  # Every process reads the whole split and keeps every process_count-th
  # example, so the shares differ by one at most, whatever the shards hold.
  ds = _examples(examples, [split])
  if per_caption:
    ds = ds.flat_map(lambda image: _captions(image, max_steps))
  else:
    ds = ds.map(lambda image: {k: image[k] for k in ('image_id', 'features')})
  ds = ds.shard(process_count, process_index)
  num_batches = -(-examples.count(split, per_caption) // (batch_size * process_count))
  padding = tf.nest.map_structure(
      lambda spec: tf.zeros(spec.shape, spec.dtype), ds.element_spec
  )
  padding['image_id'] = tf.constant(-1, tf.int32)
  ds = ds.concatenate(tf.data.Dataset.from_tensors(padding).repeat())
  ds = ds.take(num_batches * batch_size).batch(batch_size)
  return ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()


def read_references(examples: Examples, split: str) -> dict[int, list[str]]:
  """The reference sentences of each image (or video) of a split, by id."""
  texts = _read_field(examples, split, 'caption/text', tf.io.VarLenFeature(tf.string))
  return {i: [t.decode() for t in v] for i, v in texts.items()}


def read_names(examples: Examples, split: str) -> dict[int, str]:
  """The file name of each image (the video name of each video) of a
  split, by id."""
  names = _read_field(examples, split, examples.name_key, tf.io.FixedLenFeature([], tf.string))
  return {i: v.decode() for i, v in names.items()}


def _read_field(examples: Examples, split: str, key: str, feature) -> dict[int, np.ndarray]:
  """One field of each example of a split, by id."""

  def parse(serialized):
    example = tf.io.parse_single_example(
        serialized, {examples.id_key: tf.io.FixedLenFeature([], tf.int64), key: feature})
    value = example[key]
    return example[examples.id_key], (
        tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value)

  ds = tf.data.TFRecordDataset(examples.files([split])).map(parse)
  return {int(i): value for i, value in ds.as_numpy_iterator()}
