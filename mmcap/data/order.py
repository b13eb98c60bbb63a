"""The order in which training reads a split: a function of the seed and the
position only, so that a run resumes at any step by reading from there, not
by reading and discarding every element before it.

Each pass (epoch) takes the shards in a new order drawn from (seed, epoch)
and cuts them into blocks of at least `block_size` elements (captions,
clips); each block's elements are shuffled whole, with a seed drawn from
(seed, epoch, block). With prepare's random order of images within shards,
a block is a random sample of the split. Element n of the endless stream is
found from the shards' element counts alone: its pass, its block, its place
in the block; resuming reads one block at most before its first element.

Processes share the stream one of two ways (`process_stream`). By default
every process reads the whole stream and keeps its rows of each global
batch, so the batches are the same in one process or many and a run resumes
exactly on any number of processes. With `own_shards`, as TFDS's
split_for_jax_process shares a split, process p reads only shards p, p + P,
p + 2P, ... and makes its rows of every batch from them: 1/P of the reading
and parsing per process, for inputs too heavy to read P times, at the price
of batches that depend on P (a run still resumes exactly on the same P).
"""

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from mmcap.errors import InputError

# elements(files, block_seed): the elements of `files` in file order (a
# block_seed for any draws an element needs, such as a clip's start).
Elements = Callable[[tf.Tensor, tf.Tensor], tf.data.Dataset]


def epoch_blocks(counts: Sequence[int], block_size: int, seed: int, epoch: int) -> list[list[int]]:
  """The shard indices of each block of a pass, in reading order: the
  shards in the pass's order, cut once a block holds `block_size` elements
  (the last block may hold fewer)."""
  order = np.random.default_rng([seed, epoch]).permutation(len(counts))
  blocks, block, held = [], [], 0
  for shard in order:
    block.append(int(shard))
    held += counts[shard]
    if held >= block_size:
      blocks.append(block)
      block, held = [], 0
  if block:
    blocks.append(block)
  return blocks


def block_seed(seed: int, epoch: int, block: int) -> int:
  return int(np.random.default_rng([seed, epoch, block]).integers(2**62))


def _blocks_from(
    counts: Sequence[int], block_size: int, seed: int, start: int
) -> Iterator[tuple[list[int], int, int]]:
  """(shards, block seed, elements to skip) of every block from element
  `start` of the stream on."""
  epoch, skip = divmod(start, sum(counts))
  while True:
    for index, block in enumerate(epoch_blocks(counts, block_size, seed, epoch)):
      size = sum(counts[s] for s in block)
      if skip >= size:
        skip -= size
        continue
      yield block, block_seed(seed, epoch, index), skip
      skip = 0
    epoch += 1


def stream(
    files: Sequence[str],
    counts: Sequence[int],
    elements: Elements,
    block_size: int,
    seed: int,
    start: int = 0,
) -> tf.data.Dataset:
  """The endless stream of `files`' elements (`counts[i]` in `files[i]`,
  as `elements` gives them), from element `start` on."""
  if len(files) != len(counts) or min(counts, default=0) < 0 or not sum(counts):
    raise InputError(
        f'{len(files)} shards with element counts {list(counts)} in the dataset info:'
        ' prepare the dataset again'
    )
  files = np.array(files, dtype=object)
  # A block never holds more than block_size + the largest shard - 1.
  buffer = max(1, block_size) + max(counts)

  def blocks():
    for shards, block_seed_, skip in _blocks_from(counts, block_size, seed, start):
      yield files[shards].astype(bytes), block_seed_, skip

  specs = tf.data.Dataset.from_generator(blocks, output_signature=(
      tf.TensorSpec([None], tf.string),
      tf.TensorSpec([], tf.int64),
      tf.TensorSpec([], tf.int64),
  ))
  # No read-ahead of a whole block: it would read far past what a short run
  # uses (many passes over a small dataset). A block's shuffle fill is a
  # pause in the input, as the sliding buffer's was at every pass.
  return specs.flat_map(
      lambda block_files, seed_, skip: elements(block_files, seed_)
      .shuffle(buffer, seed=seed_)
      .skip(skip)
  )


def process_stream(
    files: Sequence[str],
    counts: Sequence[int],
    elements: Elements,
    block_size: int,
    seed: int,
    rows: int,
    skip_batches: int,
    process_index: int,
    process_count: int,
    own_shards: bool,
) -> tf.data.Dataset:
  """This process's elements of the training stream, `rows` per global
  batch, from batch `skip_batches` on: its rows of the one stream of all
  the shards, or, with `own_shards`, the stream of its own shards (see the
  module docstring)."""
  if not own_shards:
    ds = stream(files, counts, elements, block_size, seed,
                start=skip_batches * rows * process_count)
    return process_rows(ds, rows, process_index, process_count)
  if len(files) < process_count:
    raise InputError(
        f'--config.dataset.per_process_shards=True: {len(files)} training shards for'
        f' {process_count} processes; each process reads shards of its own: prepare the'
        ' dataset again in smaller shards (--images_per_shard), or read all shards in'
        ' every process (--config.dataset.per_process_shards=False)'
    )
  if process_count > 1:  # draws of its own (clip starts), not those of every process
    seed = int(np.random.default_rng([seed, process_index]).integers(2**62))
  return stream(files[process_index::process_count], counts[process_index::process_count],
                elements, block_size, seed, start=skip_batches * rows)


def process_rows(
    ds: tf.data.Dataset, rows: int, process_index: int, process_count: int
) -> tf.data.Dataset:
  """Process `process_index`'s rows of global batches of `rows` x
  `process_count` consecutive elements of `ds`: rows p·rows to (p+1)·rows - 1
  of each, where the mesh places process p's share (core/placement.py)."""
  if process_count == 1:
    return ds
  ds = ds.enumerate().filter(lambda i, _: (i // rows) % process_count == process_index)
  return ds.map(lambda _, element: element)
