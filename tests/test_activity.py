"""The activity task on the core: training, evaluation, the demo's claims
at a reduced size, and late fusion."""

import json
import os
import re

import jax
import numpy as np
import pytest

from mmcap import fuse
from mmcap import train
from mmcap.errors import InputError

from conftest import build_run, run_command_lines, run_python
from test_configs import load as load_config
from tiny_activity_config import get_config as tiny_config


def read(path):
  with open(path) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('activity'))
  return workdir, train.train_and_evaluate(tiny_config(), workdir)


def test_training_writes_accuracies_confusion_and_probabilities(trained):
  workdir, results = trained
  for key in ('test/accuracy', 'test/clip_accuracy', 'test/mean_class_accuracy',
              'val/accuracy', 'best/step', 'best/test/accuracy'):
    assert 0 <= results[key] <= 100 or key == 'best/step', key
  confusion = read(os.path.join(workdir, 'confusion_test.json'))
  matrix = np.array(confusion['matrix'])
  assert matrix.shape == (15, 15) and matrix.sum() == 45
  assert 100 * np.trace(matrix) / 45 == pytest.approx(results['test/accuracy'])
  probabilities = read(os.path.join(workdir, 'probabilities_test.json'))
  assert probabilities['stream'] == 'rgb' and len(probabilities['videos']) == 45
  rows = np.array([v['probabilities'] for v in probabilities['videos']])
  np.testing.assert_allclose(rows.sum(1), 1.0, rtol=1e-5)


def test_evaluate_mode_from_the_command_line(trained):
  workdir, results = trained
  result = run_python('-m', 'mmcap.main', '--config=tests/tiny_activity_config.py',
                      f'--workdir={workdir}', '--mode=evaluate')
  assert result.returncode == 0, result.stderr[-3000:]
  assert read(os.path.join(workdir, 'results.json')) == results


def test_a_prepared_stream_must_match_the_config(trained, tmp_path):
  config = tiny_config()
  config.dataset.source = 'prepared'
  config.dataset.dir = os.path.join(trained[0], 'demo_data', 'rgb')
  config.dataset.stream = 'flow'
  with pytest.raises(InputError, match=r"stream='flow', but .* holds the 'rgb' stream"):
    train.train_and_evaluate(config, str(tmp_path))


def demo_run(root, name, **overrides):
  """configs/demo_activity.py at a reduced size: half the videos, 800 steps,
  the LSTM not unrolled (compiles 3x faster on CPU, same numbers)."""
  config = load_config('demo_activity.py')
  config.model.unroll = 1
  config.dataset.demo.num_train_videos, config.dataset.demo.num_val_videos = 450, 60
  config.dataset.demo.num_test_videos = 150
  config.num_train_steps = config.checkpoint_every_steps = 800
  config.log_every_steps, config.evals.val_accuracy.every_steps = 400, 400
  config.evals.test_accuracy.every_steps = 0
  for field, value in overrides.items():
    section, _, name_ = field.rpartition('.')
    (config[section] if section else config)[name_] = value
  workdir = os.path.join(root, name)
  return workdir, train.train_and_evaluate(config, workdir)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('demo'))
  runs = {
      'lrcn_rgb': demo_run(root, 'lrcn_rgb'),
      'single_rgb': demo_run(root, 'single_rgb', **{'model.name': 'single_frame'}),
      'lrcn_flow': demo_run(root, 'lrcn_flow', **{'dataset.stream': 'flow'}),
      'single_flow': demo_run(root, 'single_flow', **{'model.name': 'single_frame',
                                                      'dataset.stream': 'flow'}),
  }
  return {name: (workdir, results['test/accuracy']) for name, (workdir, results) in runs.items()}


def fused(demo, model, weights=(0.5,)):
  rgb = fuse.read_probabilities(demo[f'{model}_rgb'][0], 'test', 'rgb')
  flow = fuse.read_probabilities(demo[f'{model}_flow'][0], 'test', 'flow')
  return fuse.fuse(rgb, flow, list(weights))


def test_demo_lrcn_beats_a_single_frame_where_only_order_tells(demo):
  # The classes of one object differ only in the order of the frames: one
  # RGB frame is right a third of the time, a sequence nearly always.
  assert demo['single_rgb'][1] < 50
  assert demo['lrcn_rgb'][1] > demo['single_rgb'][1] + 30


@pytest.mark.parametrize('model', ['single', 'lrcn'])
def test_demo_fusion_is_at_least_as_good_as_the_better_stream(demo, model):
  results = fused(demo, model)
  better = max(demo[f'{model}_rgb'][1], demo[f'{model}_flow'][1])
  assert results['rgb/accuracy'] == pytest.approx(demo[f'{model}_rgb'][1])
  assert results['fused_p0.50/accuracy'] >= better


# How each damaged flow stream is refused (test_fusing_runs_that_do_not_match).
DAMAGES = {
    'videos': r'cover different videos \(1 in one only',
    'classes': 'different class lists',
    'labels': 'give some videos different labels',
    'stream': r"holds the 'rgb' stream, expected 'flow'",
    'missing': r'probabilities_test.json: not found; train or evaluate',
    'malformed': r'videos\[0\] is not \{"name", "label", "probabilities"\} with 15',
}


def damaged(flow: dict, damage: str) -> dict | None:
  """The flow stream's probabilities file with `damage` (None: no file)."""
  if damage == 'videos':
    flow['videos'] = flow['videos'][1:]
  elif damage == 'classes':
    flow['classes'] = flow['classes'][::-1]
  elif damage == 'labels':
    flow['videos'][0]['label'] = (flow['videos'][0]['label'] + 1) % 15
  elif damage == 'stream':
    flow['stream'] = 'rgb'
  elif damage == 'malformed':
    flow['videos'][0]['probabilities'] = flow['videos'][0]['probabilities'][:-1]
  return None if damage == 'missing' else flow


@pytest.fixture(scope='module')
def fuse_results(demo, tmp_path_factory):
  """`mmcap.fuse` on the single-frame streams, at its default weights and at
  0.7, and with the flow stream damaged in each way of DAMAGES, all run by
  one driver process: {case: (its --output, what the driver reported)}."""
  root = tmp_path_factory.mktemp('fuse')
  rgb, flow = demo['single_rgb'][0], demo['single_flow'][0]
  cases = {'default': (flow, root / 'default.json', []),
           'weights': (flow, root / 'weights.json', ['--weights=0.7'])}
  for damage in DAMAGES:
    flow_dir = root / damage
    flow_dir.mkdir()
    written = damaged(read(os.path.join(flow, 'probabilities_test.json')), damage)
    if written is not None:
      (flow_dir / 'probabilities_test.json').write_text(json.dumps(written))
    cases[damage] = (flow_dir, flow_dir / 'out.json', [])
  lines = [[f'--rgb_workdir={rgb}', f'--flow_workdir={flow_dir}', f'--output={output}', *flags]
           for flow_dir, output, flags in cases.values()]
  results = run_command_lines('mmcap.fuse', lines, root)
  return {name: (case[1], result) for (name, case), result in zip(cases.items(), results)}


def test_fuse_command_writes_the_weights_asked_for(demo, fuse_results):
  output, result = fuse_results['default']
  assert result['status'] == 0, result['stderr'][-3000:]
  results = read(output)
  assert {'fused_p0.50/accuracy', 'fused_p0.33/accuracy', 'rgb/accuracy',
          'flow/accuracy'} <= set(results) and results['num_videos'] == 150
  assert results == {'split': 'test', 'num_videos': 150,
                     **fused(demo, 'single', (0.5, 0.333333))}
  output, result = fuse_results['weights']
  assert result['status'] == 0, result['stderr'][-3000:]
  assert set(read(output)) >= {'fused_p0.70/accuracy'}


@pytest.mark.parametrize('damage', list(DAMAGES))
def test_fusing_runs_that_do_not_match_is_one_line(fuse_results, damage):
  output, result = fuse_results[damage]
  assert result['status'] == 2, result
  lines = result['stderr'].strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result['stderr']
  assert re.search(DAMAGES[damage], lines[0])
  assert not output.exists()


def test_resume_is_exact(tmp_path):
  """Random clip starts come from the seed: a run stopped at step 4 and
  resumed ends with the parameters of one never stopped."""
  def config(steps):
    config = tiny_config()
    config.num_train_steps, config.best_metric = steps, ''
    for evaluator in config.evals.values():
      evaluator.enabled = False
    return config

  train.train_and_evaluate(config(6), str(tmp_path / 'straight'))
  train.train_and_evaluate(config(4), str(tmp_path / 'resumed'))
  train.train_and_evaluate(config(6), str(tmp_path / 'resumed'))
  params = [build_run(config(6), str(tmp_path / name))[1].restore(
      str(tmp_path / name)).params for name in ('straight', 'resumed')]
  jax.tree.map(np.testing.assert_array_equal, *params)


def test_a_model_that_sees_nothing_scores_at_chance(trained):
  """A negative control: a classifier with zero weights gives every class
  the same probability, so it predicts the first class for every video: its
  accuracy is that class's share, and only that class counts as right."""
  workdir, _ = trained
  config = tiny_config()
  task, trainer, _ = build_run(config, workdir)
  params = trainer.restore(workdir).params
  blind = jax.tree_util.tree_map_with_path(
      lambda path, x: x * 0 if 'classifier' in str(path) else x, params)
  found = task.evaluate(config.evals.test_accuracy, blind).metrics
  labels = np.array([label for _, label, _, _ in task.info['splits']['test']['videos']])
  assert found['test/accuracy'] == pytest.approx(100 * np.mean(labels == 0))
  # Only the first class is ever right (if it is among the test videos at all).
  assert found['test/mean_class_accuracy'] == pytest.approx(
      100 * np.any(labels == 0) / len(np.unique(labels)))


def test_fusing_with_a_blind_stream_keeps_the_other_streams_accuracy(demo):
  rgb = fuse.read_probabilities(demo['lrcn_rgb'][0], 'test', 'rgb')
  blind = {**rgb, 'stream': 'flow', 'videos': [
      {**v, 'probabilities': [1 / 15] * 15} for v in rgb['videos']]}
  results = fuse.fuse(rgb, blind, [0.5, 0.333333])
  assert results['fused_p0.50/accuracy'] == results['fused_p0.33/accuracy'] == (
      results['rgb/accuracy'])
  assert results['flow/accuracy'] < 15  # the blind stream alone
