"""The video description task end to end on the demo: training, evaluation
with image captioning's metrics, the caption mode, and its config checks."""

import importlib.util
import json
import os

import jax
import numpy as np
import pytest

from mmcap import caption
from mmcap import train
from mmcap.data import demo_video_captions
from mmcap.data import pipeline
from mmcap.data import video_captions
from mmcap.data.vocab import Vocabulary
from mmcap.errors import InputError

import tiny_video_config
from conftest import REPO, run_python


def config(**overrides):
  config = tiny_video_config.get_config()
  for field, value in overrides.items():
    node = config
    *parents, leaf = field.split('.')
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return config


@pytest.fixture(scope='module')
def s2vt_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('s2vt'))
  return workdir, train.train_and_evaluate(config(), workdir)


def test_s2vt_trains_and_reports_image_captioning_metrics(s2vt_run):
  workdir, results = s2vt_run
  for key in ('test/perplexity', 'test/bleu_4', 'test/cider', 'test/rouge_l',
              'test/most_frequent_caption_bleu_4', 'val/perplexity', 'best/step'):
    assert key in results, key
  with open(os.path.join(workdir, 'captions_test.json')) as f:
    captions = json.load(f)
  info = video_captions.load_info(os.path.join(workdir, 'demo_data'))
  assert len(captions) == info['splits']['test']['num_videos']
  # Results files use the videos' ids, the numbers of their names (vidN).
  assert {c['image_id'] for c in captions} == set(range(47, 57))


def test_caption_mode_on_a_split_and_on_a_directory_of_videos(s2vt_run, tmp_path):
  workdir, _ = s2vt_run
  with open(caption.caption(config(), workdir, split='test')) as f:
    on_split = {c['image_id']: c['caption'] for c in json.load(f)}
  # The test videos' frames as feature files, as an extractor writes them.
  videos, frames = demo_video_captions.make_videos(config().dataset.demo)
  directory = tmp_path / 'videos'
  directory.mkdir()
  for video in videos:
    if video.split == 'test':
      np.save(directory / f'{video.name}.npy', frames[video.name])
  with open(caption.caption(config(), workdir, features_path=str(directory))) as f:
    on_files = json.load(f)
  assert {c['image_id']: c['caption'] for c in on_files} == on_split
  assert all(c['video'] == f'vid{c["image_id"]}' for c in on_files)


def test_caption_mode_refuses_a_directory_of_other_features(s2vt_run, tmp_path):
  workdir, _ = s2vt_run
  np.save(tmp_path / 'vid1.npy', np.zeros((3, 5), np.float32))
  with pytest.raises(InputError, match=r'vid1.npy: expected \[T, 8\]'):
    caption.caption(config(), workdir, features_path=str(tmp_path))
  with pytest.raises(InputError, match='not a readable directory of <video>.npy'):
    caption.caption(config(), workdir, features_path=str(tmp_path / 'none'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(InputError, match='no <video>.npy feature files'):
    caption.caption(config(), workdir, features_path=str(tmp_path / 'empty'))


def test_mean_pool_trains_lrcn_on_the_frames_mean(tmp_path):
  results = train.train_and_evaluate(
      config(**{'model.name': 'lrcn', 'dataset.video_input': 'mean_pool',
                'dataset.max_frames': 0, 'evals.test_captions.enabled': False}),
      str(tmp_path))
  assert np.isfinite(results['test/perplexity'])


def demo_config(model: str, video_input: str, max_frames: int, steps: int):
  """configs/demo_video.py at a third of its data, for `steps` steps."""
  path = os.path.join(REPO, 'configs', 'demo_video.py')
  spec = importlib.util.spec_from_file_location('demo_video', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.model.name, config.dataset.video_input = model, video_input
  config.dataset.max_frames = max_frames
  config.dataset.demo.num_train_videos = 400
  config.dataset.demo.num_val_videos, config.dataset.demo.num_test_videos = 50, 100
  config.num_train_steps, config.batch_size = steps, 32
  config.evals.val_perplexity.enabled, config.best_metric = False, ''
  config.evals.test_perplexity.enabled = False
  config.evals.test_captions.num_samples = 0
  return config


def test_demo_word_order_needs_the_frames_in_order(tmp_path):
  """The demo's claim: S2VT, which reads the frames in order, names the two
  actions in the right order; the mean pool knows which actions but not
  their order; a video-blind model (RNN-Base, the negative control) writes
  one caption for every video and scores near the most frequent caption."""
  found = {}
  for name, model, video_input, max_frames, steps in (
      ('s2vt', 's2vt', 'frames', 16, 1000), ('mean_pool', 'lrcn', 'mean_pool', 0, 400),
      ('blind', 'rnn_base', 'mean_pool', 0, 200)):
    workdir = str(tmp_path / name)
    config = demo_config(model, video_input, max_frames, steps)
    found[name] = train.train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, 'captions_test.json')) as f:
      found[name]['distinct'] = len({c['caption'] for c in json.load(f)})
  baseline = found['s2vt']['test/most_frequent_caption_bleu_4']
  assert found['s2vt']['test/bleu_4'] > found['mean_pool']['test/bleu_4'] + 0.1
  assert found['mean_pool']['test/bleu_4'] > baseline + 0.2
  assert found['blind']['distinct'] == 1
  assert found['blind']['test/bleu_4'] < baseline + 0.1


@pytest.mark.parametrize('storage_dtype', ['float32', 'float16'])
def test_prepared_videos_read_back_as_each_model_sees_them(tmp_path, storage_dtype):
  """Through TFRecords: each video's frames, strided, capped, padded and
  masked (S2VT), or their mean (mean pool), equal NumPy on the originals."""
  videos, frames = demo_video_captions.make_videos(config().dataset.demo)
  vocab = Vocabulary.build([s for v in videos for s in v.sentences], 1)
  path = str(tmp_path / 'data')
  video_captions.write_dataset(videos, lambda v: frames[v.name], vocab, path,
                               {'videos': 'test'}, storage_dtype, videos_per_shard=4)
  info = video_captions.load_info(path)
  assert info['splits']['test']['num_frames'] == sum(
      len(frames[v.name]) for v in videos if v.split == 'test')
  originals = {v.video_id: frames[v.name].astype(storage_dtype) for v in videos}
  for selection in (video_captions.FrameSelection('mean_pool'),
                    video_captions.FrameSelection('frames', 2, 5)):
    examples = video_captions.examples(path, info, selection)
    batches = list(pipeline.eval_batches(examples, 'test', 4, 12, per_caption=False))
    seen = set()
    for batch in batches:
      for row, video_id in enumerate(batch['image_id']):
        if video_id < 0:
          continue
        seen.add(int(video_id))
        jax.tree.map(lambda got, want: np.testing.assert_allclose(got[row], want, rtol=1e-6),
                     batch['features'], selection.select(originals[int(video_id)]))
    assert seen == {v.video_id for v in videos if v.split == 'test'}


def test_a_semantic_input_trains_m_rnn(tmp_path):
  """One fixed vector per video (here each demo video's mean, standing in
  for a CRF's probabilities) as the static input of m-RNN."""
  videos, frames = demo_video_captions.make_videos(config().dataset.demo)
  vocab = Vocabulary.build([s for v in videos if v.split == 'train' for s in v.sentences], 1)
  path = str(tmp_path / 'semantic')
  video_captions.write_dataset(videos, lambda v: frames[v.name].mean(0, keepdims=True), vocab,
                               path, {'videos': 'test'})
  results = train.train_and_evaluate(
      config(**{'dataset.source': 'prepared', 'dataset.dir': path, 'model.name': 'mrnn',
                'dataset.video_input': 'semantic', 'evals.test_captions.enabled': False}),
      str(tmp_path / 'run'))
  assert np.isfinite(results['test/perplexity'])


@pytest.mark.parametrize('overrides, message', [
    ({'model.name': 'lrcn'}, "video_input='frames'"),
    ({'dataset.video_input': 'mean_pool'}, 'S2VT reads'),
    ({'model.name': 'mrnn', 'dataset.video_input': 'semantic'}, 'one stored vector per video'),
    ({'dataset.max_frames': 0}, 'max_frames'),
])
def test_model_and_video_input_must_agree(tmp_path, overrides, message):
  with pytest.raises(InputError, match=message):
    train.train_and_evaluate(config(**overrides), str(tmp_path))


def test_the_image_task_refuses_s2vt(tmp_path):
  from conftest import tiny_config  # pylint: disable=g-import-not-at-top
  image_config = tiny_config()
  image_config.model.name = 's2vt'
  with pytest.raises(InputError, match="config.task='video'"):
    train.train_and_evaluate(image_config, str(tmp_path))


def test_cli_refuses_a_bad_override_in_one_line(tmp_path):
  bad = run_python('-m', 'mmcap.main', '--config=tests/tiny_video_config.py',
                   f'--workdir={tmp_path / "bad"}', '--config.dataset.video_input=pooled')
  assert bad.returncode == 2
  assert bad.stderr.strip().startswith('error: --config.dataset.video_input=')
  assert len(bad.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'bad').exists()
