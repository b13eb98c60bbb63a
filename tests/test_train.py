import json
import os
import re

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from mmcap import train
from mmcap.core import evals
from mmcap.core.placement import Placement
from mmcap.errors import InputError

from conftest import build_run, run_python, tiny_config

RESULT_KEYS = {'step', 'val/perplexity', 'test/perplexity', 'test/bleu_1', 'test/bleu_2',
               'test/bleu_3', 'test/bleu_4', 'test/cider'}


def test_train_and_evaluate_writes_run(config, tmp_path):
  workdir = str(tmp_path / 'run')
  results = train.train_and_evaluate(config, workdir)
  assert RESULT_KEYS <= set(results) and results['step'] == 4
  assert all(np.isfinite(v) for v in results.values())
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f) == results
  with open(os.path.join(workdir, 'captions_test.json')) as f:
    captions = json.load(f)
  assert len(captions) == 10 and set(captions[0]) == {'image_id', 'caption'}
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']
  assert os.listdir(os.path.join(workdir, 'tensorboard'))
  for name in ('vocab.json', 'config.json'):
    assert os.path.exists(os.path.join(workdir, name))
  assert not [n for n in os.listdir(workdir) if n.endswith('.tmp')]


def test_demo_data_of_other_settings_is_refused(config, tmp_path):
  train.train_and_evaluate(config, str(tmp_path))
  config.dataset.demo.noise = 0.5
  with pytest.raises(InputError, match='generated with other --config.dataset.demo settings'):
    train.train_and_evaluate(config, str(tmp_path))


def final_params(workdir, config):
  _, trainer, _ = build_run(config, workdir)
  manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, 'checkpoints')))
  state = manager.restore(manager.latest_step(),
                          args=ocp.args.StandardRestore(trainer.abstract_state))
  return jax.device_get(state.params), manager.latest_step()


def test_resumes_from_workdir_exactly(tmp_path):
  straight = tiny_config()
  straight.num_train_steps = 6
  train.train_and_evaluate(straight, str(tmp_path / 'straight'))

  interrupted = tiny_config()  # stops at step 4, then runs on to 6
  train.train_and_evaluate(interrupted, str(tmp_path / 'resumed'))
  interrupted.num_train_steps = 6
  train.train_and_evaluate(interrupted, str(tmp_path / 'resumed'))

  want, want_step = final_params(str(tmp_path / 'straight'), straight)
  got, got_step = final_params(str(tmp_path / 'resumed'), interrupted)
  assert want_step == got_step == 6
  jax.tree.map(np.testing.assert_array_equal, got, want)


LOSSES_SCRIPT = """
import json, sys
import jax
sys.path.insert(0, 'tests')
from conftest import build_run, tiny_config
config = tiny_config()
task, trainer, placement = build_run(config, sys.argv[1])
state = trainer.initial_state(config.seed)
batches = task.train_batches(config.batch_size, skip_batches=0)
losses = []
for _ in range(3):
  state, metrics = trainer.train_step(state, placement.to_global(next(batches)))
  losses.append(float(metrics['loss']))
print(json.dumps({'devices': jax.device_count(), 'losses': losses}))
"""


def test_same_loss_on_one_and_eight_devices(tmp_path):
  runs = {}
  for count in (1, 8):
    proc = run_python(
        '-c', LOSSES_SCRIPT, str(tmp_path / f'd{count}'),
        env={'XLA_FLAGS': f'--xla_force_host_platform_device_count={count}'})
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs[count] = json.loads(proc.stdout.strip().splitlines()[-1])
  assert runs[8]['devices'] == 8 and runs[1]['devices'] == 1
  np.testing.assert_allclose(runs[8]['losses'], runs[1]['losses'], rtol=1e-5)


def test_bfloat16_compute_trains(config, tmp_path):
  config.model.dtype = 'bfloat16'
  results = train.train_and_evaluate(config, str(tmp_path / 'bf16'))
  assert np.isfinite(results['test/perplexity'])


@pytest.fixture(scope='module')
def demo_results(tmp_path_factory):
  """A reduced demo (1,000 scenes, 500 steps) trained with three models."""
  results = {}
  for name in ('lrcn', 'mrnn', 'rnn_base'):
    config = tiny_config()
    config.model.name = name
    config.dataset.max_steps = 16
    config.dataset.demo.feature_dim = 64
    config.dataset.demo.num_train_images = 1000
    config.dataset.demo.num_test_images = 200
    config.model.embed_dim, config.model.hidden_dim = 32, 64
    config.model.multimodal_dim = 64
    config.optimizer.learning_rate = 5e-3
    config.batch_size, config.eval_batch_size = 32, 100
    config.num_train_steps, config.checkpoint_every_steps = 500, 500
    config.log_every_steps = 200
    results[name] = train.train_and_evaluate(config, str(tmp_path_factory.mktemp(name)))
  return results


@pytest.mark.parametrize('name', ['lrcn', 'mrnn'])
def test_demo_task_is_learned_far_above_the_baseline(demo_results, name):
  results = demo_results[name]
  # Far above the most frequent caption, whose BLEU is high from one long
  # common phrase.
  assert results['test/bleu_4'] > 0.45
  assert results['test/bleu_4'] > 2 * results['test/most_frequent_caption_bleu_4']
  assert results['test/cider'] > 8 * results['test/most_frequent_caption_cider']


def test_image_models_beat_rnn_base_in_perplexity(demo_results):
  """As in the m-RNN paper: the image lowers perplexity (here by far)."""
  blind = demo_results['rnn_base']['test/perplexity']
  for name in ('lrcn', 'mrnn'):
    assert demo_results[name]['test/perplexity'] < 0.8 * blind


@pytest.mark.parametrize(
    'field, value, message',
    [
        ('model.name', 'gpt', r'--config.model.name=.gpt.: expected one of'),
        ('optimizer.name', 'rmsprop', r'--config.optimizer.name=.rmsprop.'),
        ('evals.test_perplexity.split', 'dev', r"split 'dev' has no images"),
        ('best_metric', 'test/bleu_4', r"--config.best_metric='test/bleu_4': expected"),
        ('evals.val_perplexity.every_steps', 0, r"--config.best_metric='val/perplexity'"),
        ('optimizer.param_multipliers', (('^outptu/', 2.0, 0.0),),
         r"'\^outptu/' matches no parameter"),
        ('evals.test_captions.kind', 'poems', r'--config.evals.test_captions.kind=.poems.'),
        ('task', 'poetry', r'--config.task=.poetry.: expected one of'),
        ('dataset.source', 'prepared', r'--config.dataset.dir is required'),
    ],
)
def test_bad_config_is_named_and_writes_nothing(config, tmp_path, field, value, message):
  *sections, name = field.split('.')
  section = config
  for part in sections:
    section = section[part]
  section[name] = value
  workdir = tmp_path / 'run'
  with pytest.raises(InputError, match=message):
    train.train_and_evaluate(config, str(workdir))
  assert not (workdir / 'checkpoints').exists()


@pytest.mark.parametrize(
    'field, value, expected',
    [
        ('batch_size', 0, 'a positive number'),
        ('num_train_steps', 0, 'a positive number'),
        ('log_every_steps', 0, 'a positive number'),
        ('checkpoint_every_steps', -5, 'a positive number'),
        ('loss_weight', -20.0, 'a positive number'),
        ('optimizer.learning_rate', 0.0, 'a positive number'),
        ('optimizer.grad_clip_norm', -1.0, r'a norm > 0, or 0 for no clipping'),
        ('optimizer.momentum', 1.0, r'a rate in \[0, 1\)'),
        ('model.dropout', 1.0, r'a rate in \[0, 1\)'),
        ('model.hidden_dim', 0, 'a positive number'),
        ('dataset.max_steps', 1, r'at least 2 \(a word and <eos>\)'),
        ('decode.beam_size', 0, 'a positive number'),
        ('evals.val_perplexity.every_steps', -1, r'0 \(only at the end\)'),
        ('evals.test_retrieval.images_per_block', 0, 'a positive number'),
    ],
)
def test_out_of_range_field_is_refused_before_any_work(
    config, tmp_path, field, value, expected):
  *sections, name = field.split('.')
  section = config
  for part in sections:
    section = section[part]
  section[name] = value
  workdir = tmp_path / 'run'
  with pytest.raises(InputError, match=rf'^--config\.{field}={value}: expected {expected}'):
    train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


@pytest.mark.parametrize('damage', ['truncated', 'missing'])
def test_damaged_shard_is_named_at_start(config, tmp_path, damage):
  workdir = tmp_path / 'run'
  train.build_task(config, str(workdir), Placement.over_all_devices())  # the demo data
  shard = sorted((workdir / 'demo_data').glob('train-*.tfrecord'))[0]
  if damage == 'truncated':
    os.truncate(shard, shard.stat().st_size - 1)
    message = rf'^{shard}: \d+ bytes, but \d+ when prepared \(truncated or replaced\)'
  else:
    shard.unlink()
    message = rf"^{shard}: missing shard of split 'train'"
  with pytest.raises(InputError, match=message):
    train.train_and_evaluate(config, str(workdir))
  assert not (workdir / 'checkpoints').exists()


def test_train_step_compiles_once(config, tmp_path):
  """Fixed batch shapes: no recompilation from one step to the next."""
  task, trainer, placement = build_run(config, str(tmp_path))
  state = trainer.initial_state(config.seed)
  batches = task.train_batches(8, skip_batches=0)
  for _ in range(4):
    state, _ = trainer.train_step(state, placement.to_global(next(batches)))
  assert trainer.train_step._cache_size() == 1  # pylint: disable=protected-access


def test_validation_during_training_keeps_the_best_checkpoint(config, tmp_path, capsys):
  workdir = str(tmp_path)
  config.num_train_steps, config.evals.val_perplexity.every_steps = 6, 2
  train.train_and_evaluate(config, workdir)
  # Then diverge: two steps at a learning rate 50 times too large.
  config.num_train_steps, config.optimizer.learning_rate = 8, 0.5
  results = train.train_and_evaluate(config, workdir)
  out = capsys.readouterr().out
  assert re.search(r'^step 6: loss [\d.]+ perplexity [\d.]+ .* eta 0:00:\d\d$', out, re.M)
  logged = {int(step): float(value) for step, value in re.findall(
      r'^eval at step (\d+): val/perplexity ([\d.e+]+)', out, re.M)}
  assert sorted(logged) == [2, 4, 6, 8]
  assert results['step'] == 8 and results['best/step'] == min(logged, key=logged.get) == 6
  assert results['best/val/perplexity'] == pytest.approx(logged[6], rel=1e-3)
  assert results['best/val/perplexity'] < results['val/perplexity']
  assert 'best/test/bleu_4' in results and 'best/test/perplexity' in results
  assert os.listdir(os.path.join(workdir, 'best')) == ['6']
  assert os.path.exists(os.path.join(workdir, 'best_captions_test.json'))
  # --mode=evaluate reports the last and the best step the same way.
  assert train.evaluate_workdir(config, workdir) == results


def test_mrnn_dropout_leaves_evaluation_perplexity_near_training(config, tmp_path, capsys):
  """m-RNN's dropout is on m(t): evaluation mode (no dropout) is not the
  several times worse perplexity that dropout on the image term gives."""
  config.model.name, config.model.dropout = 'mrnn', 0.5
  config.dataset.demo.num_train_images, config.dataset.demo.feature_dim = 400, 64
  config.model.embed_dim, config.model.hidden_dim, config.model.multimodal_dim = 32, 64, 64
  config.optimizer.learning_rate = 5e-3
  config.batch_size, config.num_train_steps = 32, 400
  config.log_every_steps = config.checkpoint_every_steps = 100
  config.evals = {'train_perplexity': evals.evaluator('perplexity', 'train')}
  config.best_metric = ''
  results = train.train_and_evaluate(config, str(tmp_path))
  logged = re.findall(r'^step 400: loss [\d.]+ perplexity ([\d.]+)', capsys.readouterr().out, re.M)
  training_mode = float(logged[0])
  assert training_mode < 5  # it learned: the demo's captions are predictable
  assert results['train/perplexity'] < 1.5 * training_mode
