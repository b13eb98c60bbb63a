"""IAPR TC-12 from its release as distributed: a small generated tree in its
layout (annotations_complete_eng/<dir>/<id>.eng, ISO-8859-1 SGML), prepared
from the command line and trained with configs/mrnn_iaprtc12.py."""

import importlib.util
import os

import numpy as np
import pytest

from mmcap import train
from mmcap.data import iaprtc12
from mmcap.data import records

from conftest import REPO, run_python

COLOURS = ('red', 'blue', 'green', 'white')
THINGS = ('house', 'tree', 'boat', 'church')


def description(number: int) -> str:
  """Two or three phrases separated by ';', as the release writes them."""
  colour, thing = COLOURS[number % 4], THINGS[number // 4 % 4]
  phrases = [f'a {colour} {thing} in the foreground', f'a café with {colour} chairs',
             'mountains in the background'][:2 + number % 2]
  return '; '.join(phrases) + ';'


def write_release(root) -> tuple[str, str, str]:
  """20 images in two directories, 16 listed for training and 4 for test (in
  the lists' own forms), 1 in neither; returns (release, train list, test list)."""
  release = root / 'iaprtc12'
  for number in range(21):
    folder = release / 'annotations_complete_eng' / f'{number // 10:02d}'
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f'{number}.eng').write_bytes(
        f'<DOC>\n<DOCNO>annotations/{number // 10:02d}/{number}.eng</DOCNO>\n'
        f'<TITLE>Picture {number}</TITLE>\n<DESCRIPTION>{description(number)}</DESCRIPTION>\n'
        f'<LOCATION>Cusco, Perú</LOCATION>\n<IMAGE>images/{number // 10:02d}/{number}.jpg</IMAGE>\n'
        '</DOC>\n'.encode('iso-8859-1'))
  train_list, test_list = root / 'train.txt', root / 'test.txt'
  train_list.write_text(''.join(f'{n // 10:02d}/{n}\n' for n in range(16)))
  test_list.write_text(''.join(f'images/{n // 10:02d}/{n}.jpg\n' for n in (19, 16, 17, 18)))
  return str(release), str(train_list), str(test_list)


def test_release_reads_as_the_split_lists_say(tmp_path):
  images = iaprtc12.read_iaprtc12(*write_release(tmp_path))
  assert [im.split for im in images] == ['train'] * 16 + ['test'] * 4
  assert [im.imgid for im in images] == list(range(20))  # the lists' order
  assert [im.image_id for im in images[-4:]] == [19, 16, 17, 18]
  assert images[16].filename == 'images/01/19.jpg'
  # Phrases split at ';', tokenized as the Karpathy JSONs are ('café' -> 'caf').
  assert images[1].sentences == (('a', 'blue', 'house', 'in', 'the', 'foreground'),
                                 ('a', 'caf', 'with', 'blue', 'chairs'),
                                 ('mountains', 'in', 'the', 'background'))
  assert len(images[0].sentences) == 2
  sentids = [i for im in images for i in im.sentids]
  assert sentids == list(range(len(sentids)))


@pytest.fixture(scope='module')
def prepared_release(tmp_path_factory):
  root = tmp_path_factory.mktemp('iaprtc12')
  release, train_list, test_list = write_release(root)
  features = root / 'features.npy'
  np.save(features, np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
  output = str(root / 'prepared')
  result = run_python('-m', 'mmcap.prepare', f'--iaprtc12_dir={release}',
                      f'--iaprtc12_train_list={train_list}', f'--iaprtc12_test_list={test_list}',
                      f'--features={features}', f'--output_dir={output}', '--min_word_count=1')
  assert result.returncode == 0, result.stderr[-3000:]
  return output, result.stdout


def test_prepare_writes_the_two_splits(prepared_release):
  output, stdout = prepared_release
  info = records.load_info(output)
  assert {s: v['num_images'] for s, v in info['splits'].items()} == {'train': 16, 'test': 4}
  assert info['splits']['train']['num_captions'] == 40  # 2 or 3 phrases each
  assert "images per split {'train': 16, 'test': 4}" in stdout


def test_mrnn_iaprtc12_config_trains_on_it(prepared_release, tmp_path):
  spec = importlib.util.spec_from_file_location(
      'mrnn_iaprtc12', os.path.join(REPO, 'configs', 'mrnn_iaprtc12.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.dataset.dir = prepared_release[0]
  config.model.embed_dim, config.model.hidden_dim, config.model.multimodal_dim = 8, 16, 16
  config.batch_size, config.eval_batch_size = 8, 8
  config.num_train_steps, config.log_every_steps, config.checkpoint_every_steps = 2, 1, 2
  config.evals.test_captions.java = False
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert results['step'] == 2 and np.isfinite(results['test/perplexity'])
  assert 'test/bleu_4' in results
