"""A run that is stopped loses nothing: preemption (SIGTERM), SIGKILL, corrupt
or partial checkpoints and NaNs. docs/RELIABILITY.md lists these tests.

Runs that are stopped by a signal are the real command line in a subprocess;
the runs they are compared with are in-process, without the final evaluation,
which has nothing to do with the parameters and would take most of the time.
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap import train
from mmcap.core import evals
from mmcap.core import steps
from mmcap.core.checkpoints import saved_steps

from mmcap.errors import InputError

from conftest import REPO, build_run, run_python, tiny_config

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
  state = build_run(config, workdir)[1].restore(workdir)
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


def stop_with(signum, workdir):
  """Trains in a subprocess, sends `signum` after step 150 and returns the
  step its exit line names, checking the exit status and the checkpoint."""
  proc = start_training(workdir)
  read_until(proc, 'step 150:')
  proc.send_signal(signum)
  sent = time.monotonic()
  output = proc.communicate(timeout=60)[0]
  assert proc.returncode == 128 + signum, output[-3000:]
  assert time.monotonic() - sent < 15
  found = re.search(rf'^{signum.name} at step (\d+): checkpoint saved, exiting$', output, re.M)
  assert found and 'Traceback' not in output, output[-3000:]
  stopped = int(found.group(1))
  assert 150 < stopped < STEPS and 'results' not in output
  assert max(saved_steps(os.path.join(workdir, 'checkpoints'))) == stopped
  return stopped


def test_sigterm_saves_the_current_step_exits_and_resumes_exactly(
    tmp_path, uninterrupted, capsys):
  workdir = str(tmp_path / 'run')
  stopped = stop_with(signal.SIGTERM, workdir)
  train.train_and_evaluate(long_config(), workdir)
  assert f'resumed from checkpoint at step {stopped}\n' in capsys.readouterr().out
  step, params = restored(workdir, long_config())
  assert step == STEPS
  assert_same_params(params, uninterrupted)


def test_ctrl_c_in_training_saves_and_exits_as_sigterm_does(tmp_path):
  """Before, a KeyboardInterrupt unwound the step in progress: a traceback,
  sometimes Orbax's "cannot schedule new futures after shutdown"."""
  stop_with(signal.SIGINT, str(tmp_path / 'run'))


def test_sigkill_resumes_exactly_from_the_last_periodic_checkpoint(
    tmp_path, uninterrupted, capsys):
  workdir = str(tmp_path / 'run')
  proc = start_training(workdir)
  read_until(proc, 'step 250:')
  proc.kill()
  proc.communicate(timeout=60)
  assert proc.returncode == -signal.SIGKILL
  last_saved = max(saved_steps(os.path.join(workdir, 'checkpoints')))
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


@pytest.mark.parametrize('damage', [truncate_data_files, delete_manifest,
                                    lambda step_dir: delete_item_directory(step_dir)])
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


def delete_item_directory(step_dir):
  shutil.rmtree(os.path.join(step_dir, 'default'))


def test_step_corrupt_a_second_time_is_moved_aside_under_a_new_name(
    finished_run, tmp_path, capsys):
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  config = tiny_config()
  config.num_train_steps = 6
  for _ in range(2):
    delete_item_directory(os.path.join(checkpoints, '6'))
    train.train_and_evaluate(config, workdir)
  warnings = capsys.readouterr().err.splitlines()
  assert [w.split('; moved to ')[1] for w in warnings if w.startswith('warning:')] == [
      f'{checkpoints}/6.corrupt, restored step 4', f'{checkpoints}/6.corrupt.1, restored step 4']
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6', '6.corrupt', '6.corrupt.1']
  assert_same_params(restored(workdir, config)[1], finished_run[1])


def test_no_checkpoint_that_restores_is_one_line_and_moves_nothing(finished_run, tmp_path):
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  for step in ('2', '4', '6'):
    truncate_data_files(os.path.join(checkpoints, step))
  result = run_python('-m', 'mmcap.main', '--config=tests/tiny_config.py',
                      f'--workdir={workdir}', '--config.num_train_steps=6')
  assert result.returncode == 2, result.stderr[-3000:]
  assert re.fullmatch(
      rf'error: {checkpoints}: no checkpoint restores \(step 6: .*\); the config'
      ' does not match them, or all are damaged; nothing was moved\n', result.stderr)
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6']


def test_checkpoints_of_another_config_are_refused_and_left_alone(
    finished_run, tmp_path):
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  config = tiny_config()
  config.model.hidden_dim = 32
  with pytest.raises(InputError, match='not compatible with the stored shape'):
    build_run(config, workdir)[1].restore(workdir)
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6']


def workdir_files(workdir):
  return {name: open(os.path.join(workdir, name), 'rb').read()
          for name in ('config.json', 'vocab.json', 'dataset_info.json')}


def test_workdir_of_another_model_size_is_refused_before_anything_is_written(
    finished_run, tmp_path):
  workdir, checkpoints = copy_run(finished_run, tmp_path)
  before = workdir_files(workdir)
  config = tiny_config()
  config.model.hidden_dim = 32
  with pytest.raises(InputError, match=(
      rf'^--config\.model\.hidden_dim is 32 in this run but 16 in {workdir}/config\.json,'
      " which this workdir's checkpoints were trained with; use a new --workdir")):
    train.train_and_evaluate(config, workdir)
  assert workdir_files(workdir) == before
  assert sorted(os.listdir(checkpoints)) == ['2', '4', '6']


def test_workdir_of_another_vocabulary_of_the_same_size_is_refused(finished_run, tmp_path):
  """The words of the workdir's checkpoints and of the dataset differ in
  meaning (two swapped), not in number: resuming would train nonsense."""
  workdir, _ = copy_run(finished_run, tmp_path)
  with open(os.path.join(workdir, 'vocab.json')) as f:
    vocab = json.load(f)
  vocab['words'][4], vocab['words'][5] = vocab['words'][5], vocab['words'][4]
  with open(os.path.join(workdir, 'vocab.json'), 'w') as f:
    json.dump(vocab, f)
  config = tiny_config()
  config.num_train_steps = 8
  with pytest.raises(InputError, match=(
      rf'^vocab\.json: words\[4\] is "{vocab["words"][5]}" in this run but'
      rf' "{vocab["words"][4]}" in {workdir}/vocab\.json')):
    train.train_and_evaluate(config, workdir)


def test_fields_that_keep_the_checkpoints_meaning_may_change(finished_run, tmp_path, capsys):
  """More steps and another learning rate resume; the workdir's record of
  how it was created is kept as it was."""
  workdir, _ = copy_run(finished_run, tmp_path)
  before = workdir_files(workdir)
  config = tiny_config()
  config.num_train_steps, config.optimizer.learning_rate = 8, 0.5
  train.train_and_evaluate(config, workdir)
  assert 'resumed from checkpoint at step 6' in capsys.readouterr().out
  assert workdir_files(workdir) == before


# Runs mmcap.main with the creation of one step's checkpoint directory
# failing as on a full disk, from Orbax's background save thread.
SAVE_FAILS_AT_STEP = r'''
import errno, os, sys
from absl import app
from mmcap import errors, main
failing, real_makedirs = sys.argv.pop(1) + '.orbax-checkpoint-tmp', os.makedirs
def makedirs(path, *args, **kwargs):
  if os.path.basename(os.fspath(path)) == failing:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
  return real_makedirs(path, *args, **kwargs)
os.makedirs = makedirs
app.run(main.main, flags_parser=errors.parse_flags)
'''


@pytest.mark.parametrize('failing_step', [200, 300])  # a periodic save, the last
def test_failed_checkpoint_write_stops_the_run_keeping_the_last_good_one(
    tmp_path, failing_step):
  workdir = str(tmp_path / 'run')
  checkpoints = os.path.join(workdir, 'checkpoints')
  result = subprocess.run(
      [sys.executable, '-c', SAVE_FAILS_AT_STEP, str(failing_step),
       '--config=tests/tiny_config.py', f'--workdir={workdir}',
       '--config.num_train_steps=300', '--config.log_every_steps=50',
       '--config.checkpoint_every_steps=100'],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert re.fullmatch(
      rf'error: {checkpoints}: checkpoint not saved \(OSError: \[Errno 28\] No space'
      rf' left on device: .*/{failing_step}\.orbax-checkpoint-tmp\S*\); run stopped,'
      rf' latest complete checkpoint: {failing_step - 100}\n', result.stderr), result.stderr
  assert f'step {failing_step}:' in result.stdout and 'results' not in result.stdout
  assert saved_steps(checkpoints)[-1] == failing_step - 100
  assert restored(workdir, tiny_config())[0] == failing_step - 100


def can_mount():
  probe = tempfile.mkdtemp()
  try:
    return subprocess.run(['mount', '--bind', probe, probe], capture_output=True).returncode == 0
  except OSError:
    return False
  finally:
    subprocess.run(['umount', probe], capture_output=True)
    os.rmdir(probe)


@pytest.mark.skipif(not can_mount(), reason='needs root and bind mounts')
def test_checkpoints_made_read_only_mid_run_stop_it_within_seconds(tmp_path):
  workdir = str(tmp_path / 'run')
  checkpoints = os.path.join(workdir, 'checkpoints')
  proc = start_training(workdir)
  read_until(proc, 'step 150:')
  subprocess.run(['mount', '--bind', checkpoints, checkpoints], check=True)
  try:
    subprocess.run(['mount', '-o', 'remount,bind,ro', checkpoints], check=True)
    made_read_only = time.monotonic()
    output = proc.communicate(timeout=60)[0]
    assert time.monotonic() - made_read_only < 30
  finally:
    subprocess.run(['umount', checkpoints], check=True)
  assert proc.returncode == 2, output[-3000:]
  errors = [line for line in output.splitlines() if 'error' in line.lower()]
  assert len(errors) == 1 and errors[0].startswith(f'error: {checkpoints}: checkpoint not'
                                                   ' saved (OSError: [Errno 30] Read-only'), output[-3000:]
  assert saved_steps(checkpoints)[-1] == 100


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
