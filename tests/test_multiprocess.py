"""Runs of several processes, for real: two local CPU processes over loopback
(JAX's CPU collectives, gloo), two simulated devices each, against one
process with the same four devices and global batch."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from mmcap.core import distributed
from mmcap.errors import InputError

from conftest import REPO, run_python, tiny_config
from test_train import final_params

CONFIG = 'tests/tiny_config.py'
# Long enough for a SIGTERM to land mid-run (tiny steps take milliseconds).
LONG = (f'--config={CONFIG}', '--config.num_train_steps=60', '--config.log_every_steps=5',
        '--config.checkpoint_every_steps=60')
EVALUATE_ALL = ('--config.evals.test_retrieval.enabled=True',)
EVALUATE_NONE = (
    '--config.evals.val_perplexity.enabled=False', '--config.evals.test_captions.enabled=False',
    '--config.evals.test_perplexity.enabled=False', '--config.best_metric=',
)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def devices_env(count: int) -> dict[str, str]:
  return {
      **os.environ,
      'JAX_PLATFORMS': 'cpu',
      'XLA_FLAGS': f'--xla_force_host_platform_device_count={count}',
  }


def start_processes(num_processes: int, *args: str) -> list[subprocess.Popen]:
  """`python -m mmcap.main args` started in `num_processes` processes of 2
  devices each, joined over loopback."""
  port = free_port()
  return [
      subprocess.Popen(
          [sys.executable, '-m', 'mmcap.main', *args,
           f'--coordinator_address=localhost:{port}',
           f'--num_processes={num_processes}', f'--process_id={i}'],
          cwd=REPO, env=devices_env(2), text=True,
          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      )
      for i in range(num_processes)
  ]


def run_processes(num_processes: int, *args: str, timeout: int = 300) -> list:
  """Runs `start_processes`; returns each one's (returncode, stdout,
  stderr). Kills all of them if any outlives `timeout`."""
  procs = start_processes(num_processes, *args)
  try:
    outputs = [p.communicate(timeout=timeout) for p in procs]
  finally:
    for p in procs:
      with contextlib.suppress(ProcessLookupError):
        p.kill()
  return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


def run_one_process(*args: str):
  return subprocess.run(
      [sys.executable, '-m', 'mmcap.main', *args], cwd=REPO, env=devices_env(4),
      capture_output=True, text=True, timeout=300,
  )


def read_json(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
  """The tiny config trained and evaluated (retrieval too) by two processes
  and by one, each over four devices."""
  root = tmp_path_factory.mktemp('multiprocess')
  two, one = str(root / 'two'), str(root / 'one')
  for returncode, _, err in run_processes(2, f'--config={CONFIG}', f'--workdir={two}',
                                          *EVALUATE_ALL):
    assert returncode == 0, err[-3000:]
  proc = run_one_process(f'--config={CONFIG}', f'--workdir={one}', *EVALUATE_ALL)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return two, one


def test_two_processes_train_the_parameters_of_one(two_runs):
  two, one = two_runs
  want, want_step = final_params(one, tiny_config())
  got, got_step = final_params(two, tiny_config())
  assert got_step == want_step == 4
  jax.tree.map(
      lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7), got, want
  )


def test_two_processes_evaluate_decode_and_retrieve_as_one(two_runs):
  two, one = two_runs
  got, want = read_json(two, 'results.json'), read_json(one, 'results.json')
  assert set(got) == set(want)
  assert {'test/t2i_r1', 'test/i2t_r1', 'test/perplexity', 'test/bleu_4'} <= set(got)
  for name, value in want.items():
    assert got[name] == pytest.approx(value, rel=1e-5), name
  assert read_json(two, 'captions_test.json') == read_json(one, 'captions_test.json')
  # Only process 0 writes the workdir's files.
  assert sorted(os.listdir(two)) == sorted(os.listdir(one))


def test_unreachable_coordinator_is_one_line(tmp_path):
  port = free_port()  # nothing listens there
  proc = run_python(
      '-m', 'mmcap.main', f'--config={CONFIG}', f'--workdir={tmp_path}',
      f'--coordinator_address=localhost:{port}', '--num_processes=2',
      '--process_id=1', '--initialization_timeout=2',
  )
  assert proc.returncode == 2
  (line,) = proc.stderr.strip().splitlines()[-1:]
  assert line.startswith(f'error: --coordinator_address=localhost:{port}: process 0 did not answer')
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('flags, message', [
    ((None, 2, None), 'give all three'),
    (('localhost:1234', 2, 2), '--process_id=2: expected 0 to 1'),
    (('localhost', 2, 0), 'expected HOST:PORT'),
    (('localhost:1234', 0, 0), '--num_processes=0: expected a positive number'),
])
def test_bad_process_flags_are_refused(flags, message):
  with pytest.raises(InputError, match=re.escape(message)):
    distributed.initialize(*flags, timeout_s=1)


def test_port_in_use_for_process_0_is_refused():
  with socket.socket() as busy:
    busy.bind(('', 0))
    busy.listen()
    port = busy.getsockname()[1]
    with pytest.raises(InputError, match=f'cannot serve on port {port}'):
      distributed.initialize(f'localhost:{port}', 2, 0, timeout_s=1)


def test_one_process_and_no_cluster_environment_join_nothing(monkeypatch):
  for name in ('SLURM_NTASKS', 'TPU_WORKER_HOSTNAMES', 'MMCAP_MULTIHOST'):
    monkeypatch.delenv(name, raising=False)
  distributed.initialize(None, None, None, timeout_s=1)
  distributed.initialize('localhost:1234', 1, 0, timeout_s=1)
  monkeypatch.setenv('SLURM_NTASKS', '1')
  monkeypatch.setenv('TPU_WORKER_HOSTNAMES', 'localhost')
  assert distributed.cluster_environment() is None
  monkeypatch.setenv('SLURM_NTASKS', '4')
  assert distributed.cluster_environment() == 'SLURM_NTASKS=4'


def test_batch_not_shared_by_the_processes_stops_both(tmp_path):
  # 6 captions over 2 processes x 2 devices: every process says so, exits.
  results = run_processes(
      2, f'--config={CONFIG}', f'--workdir={tmp_path}', '--config.batch_size=6',
      timeout=120,
  )
  for returncode, _, err in results:
    assert returncode == 2
    assert err.strip().splitlines()[-1] == (
        'error: --config.batch_size=6: must be a positive multiple of the 4'
        ' devices of the 2 processes'
    )


def test_sigterm_to_one_process_stops_both_at_one_step_and_resumes_exactly(tmp_path):
  straight, preempted = str(tmp_path / 'straight'), str(tmp_path / 'preempted')
  for returncode, _, err in run_processes(2, *LONG, *EVALUATE_NONE, f'--workdir={straight}'):
    assert returncode == 0, err[-3000:]
  procs = start_processes(2, *LONG, *EVALUATE_NONE, f'--workdir={preempted}')
  try:
    for line in procs[0].stdout:  # process 0 logs; stop process 1 mid-run
      if line.startswith('step 5:'):
        procs[1].send_signal(signal.SIGTERM)
        break
    outputs = [p.communicate(timeout=120) for p in procs]
  finally:
    for p in procs:
      p.kill()
  stopped = [int(re.search(r'SIGTERM at step (\d+)', out).group(1)) for out, _ in outputs]
  assert [p.returncode for p in procs] == [143, 143], outputs[0][1][-2000:]
  assert stopped[0] == stopped[1] < 60
  assert sorted(os.listdir(os.path.join(preempted, 'checkpoints'))) == [str(stopped[0])]

  for returncode, _, err in run_processes(2, *LONG, *EVALUATE_NONE, f'--workdir={preempted}'):
    assert returncode == 0, err[-3000:]
  want, _ = final_params(straight, tiny_config())
  got, step = final_params(preempted, tiny_config())
  assert step == 60
  jax.tree.map(np.testing.assert_array_equal, got, want)
