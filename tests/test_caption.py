"""--mode=caption on a trained workdir: split or features file, COCO format."""

import json

import numpy as np
import pytest
import scipy.io

from mmcap import train
from mmcap.tasks.captioning import caption
from mmcap.errors import InputError

from conftest import run_python, tiny_config


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('trained'))
  train.train_and_evaluate(tiny_config(), path)
  return path


def read(path):
  with open(path) as f:
    return json.load(f)


def test_greedy_split_captions_equal_the_final_evaluation(workdir):
  path = caption.caption(tiny_config(), workdir, split='test')
  assert path.endswith('captions_test_greedy.json')
  assert read(path) == read(f'{workdir}/captions_test.json')


def test_beam_captions_of_a_features_file(workdir, tmp_path):
  config = tiny_config()
  config.decode.method, config.decode.beam_size = 'beam', 3
  features = np.random.default_rng(0).normal(size=(11, 16)).astype(np.float32)
  scipy.io.savemat(tmp_path / 'vgg_feats.mat', {'feats': features.T})
  results = read(caption.caption(config, workdir, features_path=str(tmp_path / 'vgg_feats.mat'),
                                 output=str(tmp_path / 'out.json')))
  assert [r['image_id'] for r in results] == list(range(11))
  assert all(isinstance(r['caption'], str) and r['caption'] for r in results)


def test_features_of_the_wrong_dimension(workdir, tmp_path):
  np.save(tmp_path / 'f.npy', np.zeros((4, 17), np.float32))
  with pytest.raises(InputError, match=r'f.npy: expected \(N, D\) with D = 16'):
    caption.caption(tiny_config(), workdir, features_path=str(tmp_path / 'f.npy'))


def test_untrained_workdir_and_ambiguous_source(tmp_path, workdir):
  with pytest.raises(InputError, match='no checkpoints to caption with'):
    caption.caption(tiny_config(), str(tmp_path), split='test')
  with pytest.raises(InputError, match='exactly one of --split and --features'):
    caption.caption(tiny_config(), workdir)


def test_command_line_prints_captions_per_second(workdir):
  result = run_python('-m', 'mmcap.main', '--config=tests/tiny_config.py',
                      f'--workdir={workdir}', '--mode=caption', '--split=val',
                      '--config.decode.method=beam')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'captions/s' in result.stdout
  assert len(read(f'{workdir}/captions_val_beam3.json')) == 8
