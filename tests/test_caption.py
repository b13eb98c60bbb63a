"""--mode=caption on a trained workdir: split or features file, COCO format."""

import json
import os

import numpy as np
from pycocoevalcap import eval as coco_eval
from pycocotools.coco import COCO
import pytest
import scipy.io

from mmcap import train
from mmcap import caption
from mmcap.data import records
from mmcap.data import sources
from mmcap.errors import InputError
from mmcap.evaluation import metrics

from conftest import run_python, tiny_config

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')


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


class WordCountMeteor:
  """A stand-in for METEOR with its interface: the mean caption length."""

  def compute_score(self, gts, res):
    del gts
    scores = [float(len(res[i][0].split())) for i in sorted(res)]
    return sum(scores) / len(scores), scores

  def method(self):
    return 'METEOR'


@pytest.mark.skipif(not metrics.java_available(), reason='COCOEvalCap needs Java')
def test_results_file_loads_in_the_coco_tools_with_coco_ids(tmp_path, monkeypatch):
  """A COCO-style dataset (Karpathy JSON with cocoid): --mode=caption writes
  cocoids, pycocotools loads the file against a COCO annotation file, and
  COCOEvalCap gives the figures of results.json. METEOR (10 s or more a
  run) is left to test_metrics.py's comparison with COCOEvalCap: here both
  sides score it with the same stand-in."""
  monkeypatch.setattr(metrics, 'Meteor', WordCountMeteor)
  monkeypatch.setattr(coco_eval, 'Meteor', WordCountMeteor)
  with open(os.path.join(FIXTURES, 'mrnn_coco_crval1000.json')) as f:
    crval = json.load(f)['images'][:40]
  splits = ['train'] * 25 + ['val'] * 5 + ['test'] * 10
  entries, sentid = [], 0
  for imgid, (image, split) in enumerate(zip(crval, splits)):
    sentences = [{'tokens': r.split(), 'raw': r, 'imgid': imgid, 'sentid': sentid + k}
                 for k, r in enumerate(image['references'])]
    entries.append({'filename': image['file_name'], 'cocoid': image['image_id'],
                    'imgid': imgid, 'split': split, 'sentences': sentences,
                    'sentids': [s['sentid'] for s in sentences]})
    sentid += len(sentences)
  (tmp_path / 'dataset_coco.json').write_text(json.dumps({'images': entries}))
  np.save(tmp_path / 'feats.npy', np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32))
  records.prepare_dataset(
      str(tmp_path / 'dataset_coco.json'),
      sources.read_karpathy_json(str(tmp_path / 'dataset_coco.json')),
      str(tmp_path / 'feats.npy'), str(tmp_path / 'coco'), min_word_count=1,
      vocab_splits=('train',))
  config = tiny_config()
  config.dataset.source, config.dataset.dir = 'prepared', str(tmp_path / 'coco')
  config.evals.test_captions.java = True
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  path = caption.caption(config, str(tmp_path / 'run'), split='test')

  test_images = [image for image, split in zip(crval, splits) if split == 'test']
  assert sorted(r['image_id'] for r in read(path)) == sorted(i['image_id'] for i in test_images)
  annotations = {
      'images': [{'id': image['image_id']} for image in test_images],
      'annotations': [{'id': n, 'image_id': image['image_id'], 'caption': ref}
                      for n, (image, ref) in enumerate(
                          (image, ref) for image in test_images for ref in image['references'])],
  }
  (tmp_path / 'captions_test2014.json').write_text(json.dumps(annotations))
  coco = COCO(str(tmp_path / 'captions_test2014.json'))
  loaded = coco.loadRes(path)

  class NoSpice:  # SPICE downloads Stanford models at run time; mmcap does not report it
    def compute_score(self, gts, res):
      return 0.0, [0.0] * len(gts)

    def method(self):
      return 'SPICE'

  monkeypatch.setattr(coco_eval, 'Spice', NoSpice)
  evaluation = coco_eval.COCOEvalCap(coco, loaded)
  evaluation.params['image_id'] = loaded.getImgIds()
  evaluation.evaluate()
  names = {'Bleu_1': 'bleu_1', 'Bleu_2': 'bleu_2', 'Bleu_3': 'bleu_3', 'Bleu_4': 'bleu_4',
           'METEOR': 'meteor', 'ROUGE_L': 'rouge_l', 'CIDEr': 'cider'}
  for theirs, ours in names.items():
    assert evaluation.eval[theirs] == pytest.approx(results[f'test/{ours}'], rel=1e-9), theirs
