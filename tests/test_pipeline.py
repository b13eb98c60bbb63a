import collections
import itertools
import os

import numpy as np
import pytest
import tensorflow as tf

from mmcap.data import order
from mmcap.data import pipeline
from mmcap.data import records
from mmcap.data.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from mmcap.errors import InputError


def load(dataset_dir):
  info = records.load_info(dataset_dir)
  vocab = Vocabulary.load(os.path.join(dataset_dir, records.VOCAB_FILE))
  return info, vocab


def train(dataset_dir, info, seed=0, skip=0, steps=8):
  return pipeline.train_batches(pipeline.images(dataset_dir, info), ['train'], batch_size=6, max_steps=steps,
                                shuffle_buffer=50, seed=seed, skip_batches=skip)


def test_train_batches_fixed_shapes_and_shifted_targets(flickr8k_dataset):
  info, _ = load(flickr8k_dataset)
  for batch in itertools.islice(train(flickr8k_dataset, info), 5):
    assert batch['features'].shape == (6, 32) and batch['features'].dtype == np.float32
    assert batch['inputs'].shape == batch['targets'].shape == (6, 8)
    assert batch['inputs'].dtype == np.int32
    assert (batch['inputs'][:, 0] == BOS_ID).all()
    for inputs, targets in zip(batch['inputs'], batch['targets']):
      n = int((targets != PAD_ID).sum())  # words (+ <eos> if not cut)
      if n < 8:
        assert targets[n - 1] == EOS_ID
      np.testing.assert_array_equal(inputs[1:n], targets[: n - 1])
      assert (inputs[n:] == PAD_ID).all() and (targets[n:] == PAD_ID).all()


def test_tokens_are_the_real_captions(flickr8k_dataset, flickr8k_images):
  info, vocab = load(flickr8k_dataset)
  steps = 10
  got = {}
  for batch in pipeline.eval_batches(pipeline.images(flickr8k_dataset, info), 'val', 7, steps, per_caption=True):
    for image_id, targets in zip(batch['image_id'], batch['targets']):
      got.setdefault(int(image_id), []).append(targets.tolist())
  padding = got.pop(-1)
  assert all(t == [PAD_ID] * steps for t in padding)
  expected = {}
  for image in flickr8k_images:
    if image.split == 'val':
      for sentence in image.sentences:
        # Cut to 10 steps: a caption of 10 words or more has no <eos>.
        ids = (vocab.encode(sentence) + [EOS_ID])[:steps]
        expected.setdefault(image.image_id, []).append(ids + [PAD_ID] * (steps - len(ids)))
  assert got == expected
  cut = [t for ts in got.values() for t in ts if EOS_ID not in t]
  assert cut and all(PAD_ID not in t for t in cut)  # some were cut, and run to the end


def test_shuffle_is_seeded_and_skip_resumes_in_place(flickr8k_dataset):
  info, _ = load(flickr8k_dataset)
  first = [b['targets'] for b in itertools.islice(train(flickr8k_dataset, info, seed=3), 6)]
  again = [b['targets'] for b in itertools.islice(train(flickr8k_dataset, info, seed=3), 6)]
  other = [b['targets'] for b in itertools.islice(train(flickr8k_dataset, info, seed=4), 6)]
  skipped = [b['targets'] for b in itertools.islice(train(flickr8k_dataset, info, seed=3, skip=4), 2)]
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)
  np.testing.assert_array_equal(first[4:], skipped)


def test_process_shares_of_train_batches_make_the_one_process_batches(flickr8k_dataset):
  """Process p's rows are rows 3p..3p+2 of the one-process batch of 6, after
  skipping too: batches do not depend on the process count."""
  info, _ = load(flickr8k_dataset)

  def batches(process_index, process_count, skip=1):
    return list(itertools.islice(pipeline.train_batches(
        pipeline.images(flickr8k_dataset, info), ['train'], batch_size=6 // process_count,
        max_steps=8, shuffle_buffer=50, seed=3, skip_batches=skip,
        process_index=process_index, process_count=process_count), 4))

  whole = batches(0, 1)
  shares = [batches(i, 2) for i in range(2)]
  for step, batch in enumerate(whole):
    for name in ('features', 'inputs', 'targets', 'image_id'):
      np.testing.assert_array_equal(
          np.concatenate([share[step][name] for share in shares]), batch[name])


def test_per_process_shards_read_their_own_shards_and_resume_in_place(flickr8k_dataset):
  """With per_process_shards, process p of 2 reads shards p, p + 2, ...
  only: a pass of its stream is each caption of those shards once;
  skipping resumes in place; one process reads the default stream."""
  info, _ = load(flickr8k_dataset)
  examples = pipeline.images(flickr8k_dataset, info)
  files, counts = examples.files(['train']), examples.file_captions(['train'])
  assert len(files) == 3  # 40 training images in shards of at most 16

  def batches(process_index, process_count, skip=0, count=30, own_shards=True):
    return list(itertools.islice(pipeline.train_batches(
        examples, ['train'], batch_size=5, max_steps=8, shuffle_buffer=50, seed=3,
        skip_batches=skip, process_index=process_index, process_count=process_count,
        per_process_shards=own_shards), count))

  for process in range(2):
    shards = range(process, 3, 2)
    read = batches(process, 2)
    ids = np.concatenate([batch['image_id'] for batch in read])
    assert len(ids) >= sum(counts[s] for s in shards)  # a whole pass was read
    ids = ids[:sum(counts[s] for s in shards)]
    want = collections.Counter(
        int(image['image_id']) for s in shards
        for image in tf.data.TFRecordDataset(files[s]).map(examples.parse).as_numpy_iterator()
        for _ in image['captions'])
    assert collections.Counter(ids.tolist()) == want
    for name in ('features', 'inputs', 'targets', 'image_id'):
      np.testing.assert_array_equal([b[name] for b in batches(process, 2, skip=4, count=3)],
                                    [b[name] for b in read[4:7]])
  for name in ('inputs', 'image_id'):
    np.testing.assert_array_equal([b[name] for b in batches(0, 1)],
                                  [b[name] for b in batches(0, 1, own_shards=False)])
  with pytest.raises(InputError, match='per_process_shards=True: 3 training shards for 4'):
    batches(0, 4)


def test_processes_get_disjoint_equal_length_shares(flickr8k_dataset, flickr8k_images):
  info, _ = load(flickr8k_dataset)
  shares = [
      list(pipeline.eval_batches(pipeline.images(flickr8k_dataset, info), 'test', 2, 8, per_caption=False,
                                 process_index=i, process_count=3))
      for i in range(3)
  ]
  assert len({len(s) for s in shares}) == 1  # same number of batches everywhere
  ids = [[int(i) for b in s for i in b['image_id'] if i >= 0] for s in shares]
  assert sum(len(i) for i in ids) == 10
  assert set().union(*map(set, ids)) == {im.image_id for im in flickr8k_images if im.split == 'test'}


def test_references_are_raw_tokens(flickr8k_dataset, flickr8k_images):
  info, _ = load(flickr8k_dataset)
  refs = pipeline.read_references(pipeline.images(flickr8k_dataset, info), 'test')
  image = next(im for im in flickr8k_images if im.split == 'test')
  assert refs[image.image_id] == [' '.join(s) for s in image.sentences]


def test_first_batches_draw_from_the_whole_split(tmp_path, flickr8k_images):
  """Images are written in a seeded random order: with a buffer of ten
  images' captions (a quarter of the split), the first batch comes from
  across the split, not from its first images in the source's order."""
  train_images = [im for im in flickr8k_images if im.split == 'train']
  path = str(tmp_path / 'prepared')
  vocab = Vocabulary.build([s for im in train_images for s in im.sentences], 1)
  features = np.zeros((len(flickr8k_images), 4), np.float32)
  records.write_dataset(flickr8k_images, features, vocab, path, {'captions': 'test'})
  info = records.load_info(path)
  rank = {im.image_id: r for r, im in enumerate(train_images)}  # source order
  batch = next(pipeline.train_batches(pipeline.images(path, info), ['train'], batch_size=20, max_steps=8,
                                      shuffle_buffer=50, seed=0))
  seen = [rank[int(i)] for i in batch['image_id']]
  # In the source's order the buffer would hold images 0..9 only.
  assert max(seen) - min(seen) > len(train_images) / 2, seen


def test_shard_order_changes_every_epoch(tmp_path, flickr8k_images):
  path = str(tmp_path / 'prepared')
  vocab = Vocabulary.build([s for im in flickr8k_images for s in im.sentences], 1)
  features = np.zeros((len(flickr8k_images), 4), np.float32)
  records.write_dataset(flickr8k_images, features, vocab, path, {'captions': 'test'},
                        images_per_shard=4)
  info = records.load_info(path)
  num_captions = info['splits']['train']['num_captions']
  # A buffer of one caption: batches follow the shard order exactly.
  batches = pipeline.train_batches(pipeline.images(path, info), ['train'], batch_size=num_captions,
                                   max_steps=8, shuffle_buffer=1, seed=0)
  first, second = (next(batches)['image_id'] for _ in range(2))
  assert sorted(first) == sorted(second) and list(first) != list(second)


def test_processes_share_uneven_shards_without_dropping_any(tmp_path, flickr8k_images):
  """Shards of 14, 13 and 13 images over 2 processes: every image is
  evaluated once, in the same number of batches on each process."""
  path = str(tmp_path / 'prepared')
  vocab = Vocabulary.build([s for im in flickr8k_images for s in im.sentences], 1)
  records.write_dataset(flickr8k_images, np.zeros((len(flickr8k_images), 4), np.float32),
                        vocab, path, {'captions': 'test'}, images_per_shard=14)
  info = records.load_info(path)
  assert len(info['splits']['train']['files']) == 3
  for per_caption, total in ((False, 'num_images'), (True, 'num_captions')):
    shares = [list(pipeline.eval_batches(pipeline.images(path, info), 'train', 4, 8, per_caption=per_caption,
                                         process_index=i, process_count=2)) for i in range(2)]
    assert len(shares[0]) == len(shares[1])
    kept = sum(int((b['image_id'] >= 0).sum()) for share in shares for b in share)
    assert kept == info['splits']['train'][total]


def test_resuming_reads_only_the_block_it_resumes_in(tmp_path, flickr8k_images):
  """Resuming in the 6th pass, inside its 2nd block (one shard): with every
  other shard deleted, the resumed batches are still those of an
  uninterrupted run, so nothing before them was read."""
  path = str(tmp_path / 'prepared')
  vocab = Vocabulary.build([s for im in flickr8k_images for s in im.sentences], 1)
  records.write_dataset(flickr8k_images, np.zeros((len(flickr8k_images), 4), np.float32),
                        vocab, path, {'captions': 'test'}, images_per_shard=8)
  info = records.load_info(path)
  counts = info['splits']['train']['file_captions']
  assert len(counts) >= 3 and sum(counts) == info['splits']['train']['num_captions']
  blocks = order.epoch_blocks(counts, 1, seed=0, epoch=5)  # one shard each
  (first,), (second,) = blocks[:2]
  batch_size = 4
  skip = -(-(5 * sum(counts) + counts[first]) // batch_size)  # batches
  assert (skip + 2) * batch_size <= 5 * sum(counts) + counts[first] + counts[second]

  def batches(skip_batches):
    return pipeline.train_batches(pipeline.images(path, info), ['train'], batch_size=batch_size,
                                  max_steps=8, shuffle_buffer=1, seed=0, skip_batches=skip_batches)

  straight = list(itertools.islice(batches(0), skip, skip + 2))
  for shard, name in enumerate(info['splits']['train']['files']):
    if shard != second:
      os.remove(os.path.join(path, name))
  resumed = list(itertools.islice(batches(skip), 2))
  for want, got in zip(straight, resumed):
    for name in ('image_id', 'inputs', 'targets'):
      np.testing.assert_array_equal(got[name], want[name])


def test_captions_of_shards_are_counted_where_prepare_did_not_record_them(flickr8k_dataset):
  info, _ = load(flickr8k_dataset)
  recorded = pipeline.images(flickr8k_dataset, info).file_captions(['train', 'test'])
  for entry in info['splits'].values():
    del entry['file_captions']
  assert pipeline.images(flickr8k_dataset, info).file_captions(['train', 'test']) == recorded


def test_order_is_a_new_permutation_every_pass_and_resumes_anywhere():
  counts = [3, 4, 2, 5, 1]  # elements 'shard:index' of 5 shards

  def elements(files, block_seed):
    del block_seed
    return tf.data.Dataset.from_tensor_slices(files).flat_map(
        lambda f: tf.data.Dataset.from_tensor_slices(
            tf.strings.split(f, ',')))

  files = [','.join(f'{s}:{i}' for i in range(n)) for s, n in enumerate(counts)]

  def take(start, n, seed=0):
    ds = order.stream(files, counts, elements, block_size=6, seed=seed, start=start)
    return [x.decode() for x in ds.take(n).as_numpy_iterator()]

  stream, total = take(0, 60), sum(counts)
  passes = [stream[i:i + total] for i in range(0, 60, total)]
  assert all(sorted(p) == sorted(passes[0]) for p in passes) and len(set(passes[0])) == total
  assert len({tuple(p) for p in passes}) == len(passes)  # a new order every pass
  for start in (1, 7, 15, 23, 44):
    assert take(start, 60 - start) == stream[start:]
  assert take(0, 60, seed=1) != stream
