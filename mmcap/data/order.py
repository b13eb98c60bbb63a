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
