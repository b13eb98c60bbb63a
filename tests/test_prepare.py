import json
import os
import re

import numpy as np
import pytest

from mmcap.data import pipeline
from mmcap.data import records
from mmcap.data import sources
from mmcap.data.vocab import UNK_ID, Vocabulary

from conftest import FLICKR8K_DIR, run_python


def test_prepared_flickr8k_layout(flickr8k_dataset, flickr8k_images):
  info = records.load_info(flickr8k_dataset)
  assert info['feature_dim'] == 32
  assert {s: v['num_images'] for s, v in info['splits'].items()} == {
      'train': 40, 'val': 10, 'test': 10}
  assert info['splits']['train']['num_captions'] == 200
  assert len(info['splits']['train']['files']) == 3  # 16 images per shard
  vocab = Vocabulary.load(os.path.join(flickr8k_dataset, records.VOCAB_FILE))
  assert vocab.min_count == 2 and 'dog' in vocab.words
  assert info['vocab_size'] == len(vocab)


def test_cli_prepares_and_refuses_to_overwrite(tmp_path, flickr8k_images):
  features = tmp_path / 'f.npy'
  np.save(features, np.zeros((len(flickr8k_images), 8), np.float32))
  args = [f'--flickr8k_dir={FLICKR8K_DIR}', f'--features={features}',
          f'--output_dir={tmp_path / "out"}', '--min_word_count=1']
  result = run_python('-m', 'mmcap.prepare', *args)
  assert result.returncode == 0, result.stderr
  assert 'images per split' in result.stdout
  again = run_python('-m', 'mmcap.prepare', *args)
  assert again.returncode == 2
  assert again.stderr.strip() == f'error: {tmp_path / "out"}: output directory already exists'


def karpathy_file(tmp_path, sentences):
  images = [
      {'filename': f'{i}.jpg', 'imgid': i, 'split': split, 'sentids': [i],
       'sentences': [{'tokens': tokens, 'raw': '', 'imgid': i, 'sentid': i}]}
      for i, (split, tokens) in enumerate(sentences)
  ]
  path = tmp_path / 'dataset.json'
  path.write_text(json.dumps({'images': images}))
  np.save(tmp_path / 'f.npy', np.zeros((len(images), 4), np.float32))
  return str(path), str(tmp_path / 'f.npy')


@pytest.mark.parametrize(
    'sentences, flags, message',
    [
        # A caption whose every word is below the count threshold.
        ([('train', ['a', 'dog']), ('train', ['a', 'cat']), ('test', ['zebra'])],
         ['--min_word_count=2'], 'caption sentid=2 of image .2.jpg. has no word in the vocabulary'),
        # No training captions at all: an empty split.
        ([('test', ['a', 'dog'])], [], r"no captions in the vocabulary splits \('train', 'restval'\)"),
        # Features of the wrong dimension.
        ([('train', ['a', 'dog'])], ['--feature_dim=4096', '--min_word_count=1'],
         'D = 4096 feature dimensions'),
    ],
)
def test_cli_bad_input_one_line_nothing_written(tmp_path, sentences, flags, message):
  captions, features = karpathy_file(tmp_path, sentences)
  out = tmp_path / 'out'
  result = run_python('-m', 'mmcap.prepare', f'--karpathy_json={captions}',
                      f'--features={features}', f'--output_dir={out}', *flags)
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ')
  assert re.search(message, lines[0]), lines[0]
  assert not out.exists()
  assert sorted(os.listdir(tmp_path)) == ['dataset.json', 'f.npy']  # no temp dir left


def test_failure_mid_write_leaves_nothing(tmp_path, flickr8k_images, monkeypatch):
  np.save(tmp_path / 'f.npy', np.zeros((len(flickr8k_images), 4), np.float32))

  def broken(*args):
    raise OSError('disk full')

  monkeypatch.setattr(records, '_example', broken)
  with pytest.raises(OSError):
    records.prepare_dataset(FLICKR8K_DIR, flickr8k_images, str(tmp_path / 'f.npy'),
                    str(tmp_path / 'out'), min_word_count=1)
  assert sorted(os.listdir(tmp_path)) == ['f.npy']


def test_unknown_words_become_unk(tmp_path):
  captions, features = karpathy_file(
      tmp_path, [('train', ['a', 'dog']), ('train', ['a', 'cat']), ('val', ['a', 'zebra'])])
  records.prepare_dataset(captions, sources.read_karpathy_json(captions), features,
                  str(tmp_path / 'out'), min_word_count=2)
  info = records.load_info(str(tmp_path / 'out'))
  batch = next(pipeline.eval_batches(pipeline.images(str(tmp_path / 'out'), info), 'val', 1, 5, per_caption=True))
  assert batch['targets'].tolist() == [[4, UNK_ID, 2, 0, 0]]
