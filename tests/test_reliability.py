"""A run that is stopped loses nothing: preemption (SIGTERM), SIGKILL, corrupt
or partial checkpoints and NaNs. docs/RELIABILITY.md lists these tests.

Runs that are stopped by a signal are the real command line in a subprocess;
the runs they are compared with are in-process, without the final evaluation,
which has nothing to do with the parameters and would take most of the time.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap import train
from mmcap.core import evals
from mmcap.core import steps
from mmcap.core.checkpoints import checkpoint_manager

from conftest import REPO, build_run, tiny_config

# A failed restore leaves Orbax's reads of the other arrays behind, which
# complain when collected, in whichever test that is.
pytestmark = pytest.mark.filterwarnings(
    'ignore::pytest.PytestUnraisableExceptionWarning')

STEPS = 1000  # ~2 ms each: a signal after step 150 or 250 comes long before the end


def long_config():
  config = tiny_config()
  config.num_train_steps = STEPS
  config.log_every_steps = 50
  config.checkpoint_every_steps = 100
  return config


def skip_evaluation(monkeypatch):
  monkeypatch.setattr(evals, 'final_results', lambda *args: {})


@pytest.fixture(autouse=True)
def no_evaluation(monkeypatch):
  skip_evaluation(monkeypatch)


def restored(workdir, config):
  """The step and parameters of the checkpoint a restart resumes from."""
  state = build_run(config, workdir)[1].restore(checkpoint_manager(workdir))
  return int(state.step), jax.device_get(state.params)


def assert_same_params(got, want):
  jax.tree.map(np.testing.assert_array_equal, got, want)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  """The parameters after STEPS steps of a run never stopped."""
  workdir = str(tmp_path_factory.mktemp('uninterrupted'))
  with pytest.MonkeyPatch.context() as monkeypatch:
    skip_evaluation(monkeypatch)
    train.train_and_evaluate(long_config(), workdir)
  step, params = restored(workdir, long_config())
  assert step == STEPS
  return params


def start_training(workdir):
  """The command line training long_config() into `workdir`, output piped."""
  return subprocess.Popen(
      [sys.executable, '-m', 'mmcap.main', '--config=tests/tiny_config.py',
       f'--workdir={workdir}', f'--config.num_train_steps={STEPS}',
       '--config.log_every_steps=50', '--config.checkpoint_every_steps=100'],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until(proc, prefix):
  """Reads the process's output up to a line starting with `prefix`."""
  seen = []
  for line in proc.stdout:
    seen.append(line)
    if line.startswith(prefix):
      return
  proc.wait()
  output = ''.join(seen)[-3000:]
  pytest.fail(f'ended with {proc.returncode} before {prefix!r}:\n{output}')


def test_sigterm_saves_the_current_step_exits_and_resumes_exactly(
    tmp_path, uninterrupted, capsys):
  workdir = str(tmp_path / 'run')
  proc = start_training(workdir)
  read_until(proc, 'step 150:')
  proc.send_signal(signal.SIGTERM)
  sent = time.monotonic()
  output = proc.communicate(timeout=60)[0]
  exit_seconds = time.monotonic() - sent
  assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
  assert exit_seconds < 15
  found = re.search(r'^SIGTERM at step (\d+): checkpoint saved, exiting$', output, re.M)
  assert found, output[-3000:]
  stopped = int(found.group(1))
  assert 150 < stopped < STEPS and 'results' not in output
  assert checkpoint_manager(workdir).latest_step() == stopped

  train.train_and_evaluate(long_config(), workdir)
  assert f'resumed from checkpoint at step {stopped}\n' in capsys.readouterr().out
  step, params = restored(workdir, long_config())
  assert step == STEPS
  assert_same_params(params, uninterrupted)


def test_sigkill_resumes_exactly_from_the_last_periodic_checkpoint(
    tmp_path, uninterrupted, capsys):
  workdir = str(tmp_path / 'run')
  proc = start_training(workdir)
  read_until(proc, 'step 250:')
  proc.kill()
  proc.communicate(timeout=60)
  assert proc.returncode == -signal.SIGKILL
  last_saved = checkpoint_manager(workdir).latest_step()
  assert last_saved in (100, 200)

  train.train_and_evaluate(long_config(), workdir)
  assert f'resumed from checkpoint at step {last_saved}\n' in capsys.readouterr().out
  step, params = restored(workdir, long_config())
  assert step == STEPS
  assert_same_params(params, uninterrupted)


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
  """A 6-step run with checkpoints at 2, 4 and 6, and its final parameters."""
  workdir = str(tmp_path_factory.mktemp('finished'))
  config = tiny_config()
  config.num_train_steps = 6
  with pytest.MonkeyPatch.context() as monkeypatch:
    skip_evaluation(monkeypatch)
    train.train_and_evaluate(config, workdir)
  return workdir, restored(workdir, config)[1]


def copy_run(finished_run, tmp_path):
  workdir = str(tmp_path / 'run')
  shutil.copytree(finished_run[0], workdir)
  return workdir, os.path.join(workdir, 'checkpoints')


def truncate_data_files(step_dir):
  files = glob.glob(os.path.join(step_dir, 'default', 'd', '*'))
  assert files
  for path in files:
    os.truncate(path, os.path.getsize(path) // 2)


def delete_manifest(step_dir):
  os.remove(os.path.join(step_dir, 'default', 'manifest.ocdbt'))


def test_same_config_and_seed_give_identical_params(finished_run, tmp_path):
  config = tiny_config()
  config.num_train_steps = 6
  train.train_and_evaluate(config, str(tmp_path / 'again'))
  step, params = restored(str(tmp_path / 'again'), config)
  assert step == 6
  assert_same_params(params, finished_run[1])


@pytest.mark.parametrize('damage', [truncate_data_files, delete_manifest])
def test_corrupt_latest_checkpoint_is_reported_and_the_previous_used(
    finished_run, tmp_path, capsys, damage):
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  damage(os.path.join(checkpoints, '6'))
  config = tiny_config()
  config.num_train_steps = 6

  train.train_and_evaluate(config, workdir)
  warnings = [line for line in capsys.readouterr().err.splitlines()
              if 'checkpoint 6' in line]
  assert len(warnings) == 1, warnings
  assert warnings[0].startswith('warning: checkpoint 6 does not restore (')
  assert warnings[0].endswith('6.corrupt, restored step 4')
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6', '6.corrupt']
  step, params = restored(workdir, config)
  assert step == 6
  assert_same_params(params, finished_run[1])


def test_save_cut_short_is_ignored_and_done_again(finished_run, tmp_path, capsys):
  """A save killed midway leaves only Orbax's temporary directory."""
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  unfinished = os.path.join(checkpoints, '6.orbax-checkpoint-tmp')
  os.rename(os.path.join(checkpoints, '6'), unfinished)
  truncate_data_files(unfinished)
  config = tiny_config()
  config.num_train_steps = 6

  assert restored(workdir, config)[0] == 4
  train.train_and_evaluate(config, workdir)
  assert 'warning' not in capsys.readouterr().err
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6']
  step, params = restored(workdir, config)
  assert step == 6
  assert_same_params(params, finished_run[1])


def test_checkpoints_of_another_config_are_refused_and_left_alone(
    finished_run, tmp_path):
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  config = tiny_config()
  config.model.hidden_dim = 32
  with pytest.raises(ValueError, match='not compatible with the stored shape'):
    build_run(config, workdir)[1].restore(checkpoint_manager(workdir))
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6']


def test_nan_stops_naming_its_step_before_any_checkpoint_holds_it(
    finished_run, tmp_path, monkeypatch):
  original = steps.train_step

  def nan_features_at_step_7(state, batch, **kwargs):
    features = jnp.where(state.step == 6, jnp.nan, batch['features'])
    return original(state, {**batch, 'features': features}, **kwargs)

  monkeypatch.setattr(steps, 'train_step', nan_features_at_step_7)
  config = tiny_config()
  config.num_train_steps, config.log_every_steps = 12, 5
  workdir = str(tmp_path / 'run')
  with pytest.raises(
      FloatingPointError,
      match=r'^not finite at step 7: loss nan, grad_norm nan, param_norm nan;'
      r' stopped before saving it \(latest checkpoint: step 6\)$'):
    train.train_and_evaluate(config, workdir)
  checkpoints = os.path.join(workdir, 'checkpoints')
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6']
  step, params = restored(workdir, config)
  assert step == 6
  assert_same_params(params, finished_run[1])
