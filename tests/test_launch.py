"""launch/tpu_vm.sh and launch/gpu.sh: help, dry runs, one-line errors, the
one-process-per-GPU supervisor and shellcheck. No network, no gcloud: a fake
`gcloud` (and git, tar, curl) first on PATH records any call, and the dry-run
tests fail if one was made."""

import os
import re
import shlex
import shutil
import stat
import subprocess
import time

import pytest

from conftest import REPO

TPU = os.path.join(REPO, 'launch', 'tpu_vm.sh')
GPU = os.path.join(REPO, 'launch', 'gpu.sh')
SUBCOMMANDS = ['create', 'setup', 'run', 'logs', 'delete', 'all']
TPU_FLAGS = ['--name', '--zone', '--accelerator_type', '--version', '--spot',
             '--preemptible', '--queued', '--project', '--source', '--git_url',
             '--python', '--config', '--workdir', '--foreground', '--worker',
             '--dry_run', '--help']
GPU_FLAGS = ['--config', '--workdir', '--gpus', '--num_gpus',
             '--one_process_per_gpu', '--port', '--log_dir', '--python',
             '--dry_run', '--help']
MMCAP = '~/mmcap-venv/bin/python -m mmcap.main'


def write_script(path, body: str) -> str:
  with open(path, 'w') as f:
    f.write('#!/usr/bin/env bash\n' + body)
  os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
  return str(path)


@pytest.fixture
def fakes(tmp_path):
  """A bin directory whose gcloud, git, tar, curl and nvidia-smi record each
  call in calls.log and fail: a dry run must call none of them."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  calls = tmp_path / 'calls.log'
  for tool in ['gcloud', 'git', 'tar', 'curl', 'nvidia-smi']:
    write_script(bin_dir / tool, f'echo "{tool} $*" >> {calls}\nexit 97\n')
  return bin_dir, calls


def run(script, *args, path_dir=None, env=None, timeout=60):
  full_env = {k: v for k, v in os.environ.items() if k != 'PROJECT'}
  full_env.update(env or {})
  if path_dir is not None:
    full_env['PATH'] = f'{path_dir}{os.pathsep}{full_env["PATH"]}'
  return subprocess.run([script, *args], capture_output=True, text=True,
                        env=full_env, timeout=timeout, cwd='/')


def dry_run(fakes, script, *args):
  """A --dry_run that must succeed, print no error and call nothing."""
  bin_dir, calls = fakes
  result = run(script, '--dry_run', *args, path_dir=bin_dir)
  assert result.returncode == 0, result.stderr
  assert result.stderr == ''
  assert not calls.exists(), f'the dry run ran: {calls.read_text()}'
  return result.stdout


def commands(stdout: str) -> list[list[str]]:
  """The printed command lines (not the # comments), each as its argv."""
  return [shlex.split(line) for line in stdout.splitlines()
          if line.strip() and not line.startswith('#')]


def gcloud(stdout: str) -> list[list[str]]:
  return [argv for argv in commands(stdout) if argv[0] == 'gcloud']


def flag(argv: list[str], name: str) -> str:
  values = [a.split('=', 1)[1] for a in argv if a.startswith(name + '=')]
  assert len(values) == 1, (name, argv)
  return values[0]


def mmcap_argv(remote: str) -> list[str]:
  """The mmcap.main arguments in a worker's command line."""
  start = remote.index(MMCAP) + len(MMCAP)
  end = min(i for i in (remote.find(' > ', start), remote.find(' 2>&1', start)) if i > 0)
  return shlex.split(remote[start:end])


# --- help --------------------------------------------------------------------


def test_tpu_help_names_every_subcommand_and_flag(fakes):
  for args in (['--help'], ['-h'], ['run', '--help']):
    result = run(TPU, *args, path_dir=fakes[0])
    assert result.returncode == 0, result.stderr
    for word in SUBCOMMANDS + TPU_FLAGS:
      assert re.search(rf'(^|\s){re.escape(word)}\b', result.stdout), word
  assert not fakes[1].exists()


def test_gpu_help_names_every_flag(fakes):
  result = run(GPU, '--help', path_dir=fakes[0])
  assert result.returncode == 0, result.stderr
  for word in GPU_FLAGS:
    assert word in result.stdout, word


def test_scripts_are_strict_executable_bash():
  for script in (TPU, GPU):
    assert os.access(script, os.X_OK), script
    with open(script) as f:
      text = f.read()
    assert text.startswith('#!/usr/bin/env bash\n')
    assert '\nset -euo pipefail\n' in text


# --- tpu_vm.sh dry runs ------------------------------------------------------


@pytest.mark.parametrize('subcommand', SUBCOMMANDS)
def test_tpu_dry_run_with_defaults_prints_gcloud_and_runs_nothing(fakes, subcommand):
  lines = gcloud(dry_run(fakes, TPU, subcommand))
  assert lines
  for argv in lines:
    assert argv[:3] == ['gcloud', 'compute', 'tpus']
    assert flag(argv, '--zone') == 'us-central2-b'
    assert 'mmcap-tpu' in argv or 'mmcap-tpu:mmcap-src.tar.gz' in argv
    assert not any(a.startswith('--project') for a in argv)


def test_tpu_create_vm_and_spot_and_preemptible(fakes):
  (argv,) = gcloud(dry_run(fakes, TPU, 'create'))
  assert argv == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'create', 'mmcap-tpu',
                  '--zone=us-central2-b', '--accelerator-type=v4-8',
                  '--version=tpu-ubuntu2204-base']
  (argv,) = gcloud(dry_run(fakes, TPU, 'create', '--spot', '--name=pod', '--zone', 'europe-west4-a',
                           '--accelerator_type=v4-32', '--version=v2-alpha-tpuv5'))
  assert argv == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'create', 'pod',
                  '--zone=europe-west4-a', '--accelerator-type=v4-32',
                  '--version=v2-alpha-tpuv5', '--spot']
  (argv,) = gcloud(dry_run(fakes, TPU, 'create', '--preemptible'))
  assert argv[-1] == '--preemptible' and '--spot' not in argv


def test_tpu_create_queued_resource_waits_until_active(fakes):
  stdout = dry_run(fakes, TPU, 'create', '--queued', '--spot', '--accelerator_type=v4-32',
                   '--project=my-project')
  create, describe = gcloud(stdout)
  assert create == ['gcloud', 'compute', 'tpus', 'queued-resources', 'create', 'mmcap-tpu',
                    '--node-id=mmcap-tpu', '--zone=us-central2-b', '--project=my-project',
                    '--accelerator-type=v4-32', '--runtime-version=tpu-ubuntu2204-base',
                    '--spot']
  assert describe[:6] == ['gcloud', 'compute', 'tpus', 'queued-resources', 'describe',
                          'mmcap-tpu']
  assert flag(describe, '--format') == 'value(state.state)'
  assert 'until the state is ACTIVE' in stdout


def test_tpu_setup_copies_this_checkout_and_installs_jax_tpu(fakes):
  stdout = dry_run(fakes, TPU, 'setup')
  lines = [line for line in stdout.splitlines() if not line.startswith('#')]
  assert lines[0].startswith('git -C ') and ' ls-files ' in lines[0] and '| tar -czf' in lines[0]
  scp, ssh = gcloud(stdout)
  assert scp[:5] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'scp']
  assert scp[6] == 'mmcap-tpu:mmcap-src.tar.gz' and '--worker=all' in scp
  assert ssh[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'mmcap-tpu']
  assert '--worker=all' in ssh
  remote = flag(ssh, '--command')
  with open(os.path.join(REPO, 'pyproject.toml')) as f:
    jax_range = re.search(r'"jax(>=[^"]+)"', f.read()).group(1)
  assert f'"jax[tpu]{jax_range}"' in remote
  assert 'tar -xzf ~/mmcap-src.tar.gz -C ~/mmcap' in remote
  assert 'python3.11 -m venv ~/mmcap-venv' in remote
  assert 'pip install --quiet -e ~/mmcap' in remote
  assert 'gcsfuse' not in stdout  # mmcap reads gs:// itself: no bucket is mounted


def test_tpu_setup_from_git(fakes):
  stdout = dry_run(fakes, TPU, 'setup', '--source=git', '--git_url=https://example.com/mmcap.git',
                   '--python=python3.12')
  (ssh,) = gcloud(stdout)  # no tarball, no scp
  assert 'tar -czf' not in stdout
  remote = flag(ssh, '--command')
  assert 'git clone --depth=1 https://example.com/mmcap.git ~/mmcap' in remote
  assert 'python3.12 -m venv' in remote and 'apt-get install -y -q python3.12 python3.12-venv' in remote


def test_tpu_run_starts_mmcap_on_every_worker(fakes):
  odd = "--config.model.name=it's odd"
  stdout = dry_run(fakes, TPU, 'run', '--config=configs/lrcn_coco.py',
                   '--workdir=gs://my-bucket/mmcap/run1', '--config.num_train_steps=10',
                   '--', '--mode=train', odd)
  (ssh,) = gcloud(stdout)
  assert ssh[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'mmcap-tpu']
  assert '--worker=all' in ssh
  remote = flag(ssh, '--command')
  assert mmcap_argv(remote) == ['--config=configs/lrcn_coco.py',
                                '--workdir=gs://my-bucket/mmcap/run1',
                                '--config.num_train_steps=10', '--mode=train', odd]
  assert remote.startswith('cd ~/mmcap || exit 1; endpoints=')
  assert 'nohup ' + MMCAP in remote and '> ~/mmcap-run.log 2>&1 < /dev/null &' in remote
  # Several hosts: the worker asks the metadata server and tells mmcap.
  assert 'worker-network-endpoints' in remote and 'MMCAP_MULTIHOST=1' in remote


def test_tpu_run_foreground_streams(fakes):
  (ssh,) = gcloud(dry_run(fakes, TPU, 'run', '--foreground'))
  remote = flag(ssh, '--command')
  assert 'nohup' not in remote and '2>&1 | tee ~/mmcap-run.log' in remote
  assert mmcap_argv(remote) == ['--config=configs/demo.py',
                                '--workdir=gs://YOUR_BUCKET/mmcap/run1']


def test_tpu_run_passes_gs_urls_to_mmcap_as_they_are(fakes):
  stdout = dry_run(fakes, TPU, 'run', '--workdir=gs://my-bucket/mmcap/run1',
                   '--config.dataset.dir=gs://data-bucket/coco', '--',
                   '--mode=caption', "--output=gs://my-bucket/it's here.json", 'gs://third.b')
  (ssh,) = gcloud(stdout)
  remote = flag(ssh, '--command')
  assert mmcap_argv(remote) == ['--config=configs/demo.py', '--workdir=gs://my-bucket/mmcap/run1',
                                '--config.dataset.dir=gs://data-bucket/coco', '--mode=caption',
                                "--output=gs://my-bucket/it's here.json", 'gs://third.b']
  assert 'gcsfuse' not in stdout


def fake_worker(tmp_path):
  """A worker's home and a bin directory: curl fails (no metadata server),
  python records its arguments. Nothing else is on PATH but the few plain
  tools the command needs."""
  home = tmp_path / 'home'
  (home / 'mmcap').mkdir(parents=True)
  (home / 'mmcap-venv' / 'bin').mkdir(parents=True)
  bin_dir = tmp_path / 'worker-bin'
  bin_dir.mkdir()
  for tool in ['bash', 'tee']:
    os.symlink(shutil.which(tool), bin_dir / tool)
  log = tmp_path / 'worker.log'
  write_script(bin_dir / 'curl', 'exit 22\n')
  write_script(home / 'mmcap-venv' / 'bin' / 'python',
               f'for a in "$@"; do echo "arg $a"; done >> {log}\necho trained\n')
  return home, bin_dir, log


def test_tpu_run_command_starts_mmcap_on_a_fake_worker(fakes, tmp_path):
  """The workers' command line for run, run by bash with fakes: mmcap.main
  gets the arguments as given, quotes and all."""
  stdout = dry_run(fakes, TPU, 'run', '--foreground', "--workdir=gs://my-bucket/mmcap/it's run 1",
                   '--config.dataset.dir=gs://data-bucket/coco')
  (ssh,) = gcloud(stdout)
  home, bin_dir, log = fake_worker(tmp_path)
  env = {'HOME': str(home), 'PATH': str(bin_dir), 'LC_ALL': 'C'}
  result = subprocess.run([str(bin_dir / 'bash'), '-c', flag(ssh, '--command')],
                          capture_output=True, text=True, env=env, timeout=60)
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'trained' in result.stdout and 'trained' in (home / 'mmcap-run.log').read_text()
  assert [line[4:] for line in log.read_text().splitlines()] == [
      '-m', 'mmcap.main', '--config=configs/demo.py', "--workdir=gs://my-bucket/mmcap/it's run 1",
      '--config.dataset.dir=gs://data-bucket/coco']


def test_tpu_logs_and_delete(fakes):
  (ssh,) = gcloud(dry_run(fakes, TPU, 'logs', '--worker=3'))
  assert '--worker=3' in ssh and flag(ssh, '--command') == 'tail -n 200 -F ~/mmcap-run.log'
  (argv,) = gcloud(dry_run(fakes, TPU, 'delete'))
  assert argv == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'delete', 'mmcap-tpu',
                  '--zone=us-central2-b', '--quiet']
  (argv,) = gcloud(dry_run(fakes, TPU, 'delete', '--queued'))
  assert argv == ['gcloud', 'compute', 'tpus', 'queued-resources', 'delete', 'mmcap-tpu',
                  '--zone=us-central2-b', '--force', '--quiet']


def test_tpu_all_creates_sets_up_runs_and_deletes_in_order(fakes):
  bin_dir, calls = fakes
  stdout = dry_run(fakes, TPU, 'all', '--spot', '--workdir=gs://bkt/r',
                   '--config.dataset.dir=gs://data-bkt/d')
  steps = [argv[3:5] for argv in gcloud(stdout)]
  assert steps == [['tpu-vm', 'create'], ['tpu-vm', 'scp'], ['tpu-vm', 'ssh'],
                   ['tpu-vm', 'ssh'], ['tpu-vm', 'delete']]
  create, _, setup, train, _ = gcloud(stdout)
  assert '--spot' in create
  assert 'tee ~/mmcap-run.log' in flag(train, '--command')  # in the foreground
  assert 'mmcap.main' not in flag(setup, '--command')
  assert mmcap_argv(flag(train, '--command'))[1:] == ['--workdir=gs://bkt/r',
                                                      '--config.dataset.dir=gs://data-bkt/d']
  # PROJECT from the environment reaches every gcloud command.
  result = run(TPU, 'all', '--dry_run', path_dir=bin_dir, env={'PROJECT': 'p-1'})
  assert result.returncode == 0, result.stderr
  assert all(flag(argv, '--project') == 'p-1' for argv in gcloud(result.stdout))
  assert not calls.exists()


# --- tpu_vm.sh for real, with a gcloud that only records ----------------------


def recording_gcloud(tmp_path, body: str):
  bin_dir = tmp_path / 'rec'
  bin_dir.mkdir()
  calls = tmp_path / 'gcloud.log'
  write_script(bin_dir / 'gcloud', f'echo "$*" >> {calls}\n{body}')
  return bin_dir, calls


def test_tpu_all_deletes_the_tpu_when_a_step_fails(tmp_path):
  bin_dir, calls = recording_gcloud(tmp_path, 'case "$*" in *" ssh "*) exit 5 ;; esac\n')
  result = run(TPU, 'all', '--source=git', '--git_url=https://example.com/m.git',
               '--workdir=gs://bkt/r', path_dir=bin_dir)
  assert result.returncode == 5, result.stderr
  called = [line.split()[2:4] for line in calls.read_text().splitlines()]
  assert called == [['tpu-vm', 'create'], ['tpu-vm', 'ssh'], ['tpu-vm', 'delete']]


def test_tpu_queued_create_polls_until_active(tmp_path):
  bin_dir, calls = recording_gcloud(
      tmp_path, 'case "$*" in *" describe "*) echo ACTIVE ;; esac\n')
  result = run(TPU, 'create', '--queued', '--spot', path_dir=bin_dir)
  assert result.returncode == 0, result.stderr
  assert 'is ACTIVE' in result.stderr
  called = [line.split()[2:4] for line in calls.read_text().splitlines()]
  assert called == [['queued-resources', 'create'], ['queued-resources', 'describe']]


# --- one-line usage errors ---------------------------------------------------


@pytest.mark.parametrize('script, args, expected', [
    (TPU, [], 'missing subcommand'),
    (TPU, ['launch'], 'unknown subcommand launch'),
    (TPU, ['run', '--bogus'], 'unknown flag --bogus'),
    (TPU, ['run', '--zone'], '--zone needs a value'),
    (TPU, ['run', '--zone='], '--zone needs a value'),
    (TPU, ['run', '--workdir', '--dry_run'], '--workdir needs a value'),
    (TPU, ['run', '--spot=yes'], '--spot takes no value'),
    (TPU, ['create', 'setup'], 'one subcommand only'),
    (TPU, ['create', '--spot', '--preemptible'], '--spot and --preemptible'),
    (TPU, ['create', '--queued', '--preemptible'], '--preemptible'),
    (TPU, ['run', '--workdir=runs/local'], '--workdir=runs/local: expected a gs:// path'),
    (TPU, ['run'], 'placeholder'),  # a real run needs a real bucket
    (TPU, ['run', '--workdir=gs://My_Bucket/r'], "'My_Bucket' is not a bucket name"),
    (TPU, ['run', '--workdir=gs:///r'], "'' is not a bucket name"),
    (TPU, ['run', '--workdir=gs://ok-bucket/r', '--config.dataset.dir=gs://x/d'],
     "--config.dataset.dir=gs://x/d: 'x' is not a bucket name"),
    (TPU, ['run', '--workdir=gs://ok-bucket/r', '--config.dataset.dir=s3://b/coco'],
     '--config.dataset.dir=s3://b/coco: only gs:// URLs'),
    (TPU, ['all', '--workdir=gs://ok-bucket/r', '--', 'https://example.com/x'],
     'https://example.com/x: only gs:// URLs'),
    (TPU, ['run', '--config=configs/nope.py'], '--config=configs/nope.py: no such file'),
    (TPU, ['run', '--name=My_TPU'], '--name=My_TPU'),
    (TPU, ['logs', '--worker=first'], '--worker=first'),
    (TPU, ['setup', '--source=git'], '--source=git needs --git_url'),
    (TPU, ['setup', '--source=svn'], '--source=svn'),
    (TPU, ['setup', '--python=python'], '--python=python'),
    (TPU, ['delete', '--config.batch_size=8'], 'run or all only'),
    (GPU, ['--bogus'], 'unknown flag --bogus'),
    (GPU, ['--num_gpus'], '--num_gpus needs a value'),
    (GPU, ['--num_gpus=0'], '--num_gpus=0'),
    (GPU, ['--gpus=a,b'], '--gpus=a,b'),
    (GPU, ['--gpus=0,1', '--num_gpus=3'], '--num_gpus=3'),
    (GPU, ['--port=70000'], '--port=70000'),
    (GPU, ['--config=configs/nope.py'], '--config=configs/nope.py: no such file'),
    (GPU, ['--one_process_per_gpu', '--num_gpus=2', '--workdir=gs://b/r'], '--log_dir'),
    (GPU, ['stray'], 'unexpected argument stray'),
])
def test_usage_error_is_one_line(fakes, script, args, expected):
  bin_dir, calls = fakes
  result = run(script, *args, path_dir=bin_dir)
  assert result.returncode == 2, (result.stdout, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
  assert expected in lines[0]
  assert result.stdout == ''
  assert not calls.exists()


# --- gpu.sh ------------------------------------------------------------------


def test_gpu_dry_run_default_is_one_process_over_all_gpus(fakes):
  (argv,) = commands(dry_run(fakes, GPU))
  assert argv[1:] == ['-m', 'mmcap.main', '--config=configs/demo.py', '--workdir=runs/gpu']
  assert argv[0] in ('.venv/bin/python', 'python3')
  (argv,) = commands(dry_run(fakes, GPU, '--gpus=2,3', '--python=py', '--config.seed=1',
                             '--', '--mode=evaluate'))
  assert argv == ['CUDA_VISIBLE_DEVICES=2,3', 'py', '-m', 'mmcap.main', '--config=configs/demo.py',
                  '--workdir=runs/gpu', '--config.seed=1', '--mode=evaluate']
  (argv,) = commands(dry_run(fakes, GPU, '--num_gpus=2', '--python=py'))
  assert argv[0] == 'CUDA_VISIBLE_DEVICES=0,1'


@pytest.mark.parametrize('n', [1, 4])
def test_gpu_dry_run_one_process_per_gpu(fakes, n):
  stdout = dry_run(fakes, GPU, '--one_process_per_gpu', f'--num_gpus={n}', '--python=py',
                   '--workdir=runs/x', '--port=1234', '--config.seed=3')
  mkdir, *procs = commands(stdout)
  assert mkdir == ['mkdir', '-p', 'runs/x.logs']
  assert len(procs) == n
  for i, argv in enumerate(procs):
    assert argv[:4] == [f'CUDA_VISIBLE_DEVICES={i}', 'py', '-m', 'mmcap.main']
    assert argv[4:7] == ['--config=configs/demo.py', '--workdir=runs/x', '--config.seed=3']
    assert flag(argv, '--coordinator_address') == 'localhost:1234'
    assert flag(argv, '--num_processes') == str(n)
    assert flag(argv, '--process_id') == str(i)
    assert argv[-4:] == ['>', f'runs/x.logs/process_{i}.log', '2>&1', '&']


def test_gpu_one_process_per_gpu_takes_the_gpus_listed_or_counted(fakes, tmp_path):
  procs = commands(dry_run(fakes, GPU, '--one_process_per_gpu', '--gpus=5,7', '--python=py',
                           '--log_dir=/tmp/logs'))[1:]
  assert [argv[0] for argv in procs] == ['CUDA_VISIBLE_DEVICES=5', 'CUDA_VISIBLE_DEVICES=7']
  assert [flag(argv, '--process_id') for argv in procs] == ['0', '1']
  assert procs[1][-3] == '/tmp/logs/process_1.log'
  # Without --num_gpus it counts what nvidia-smi lists (a read-only query).
  bin_dir = tmp_path / 'smi'
  bin_dir.mkdir()
  write_script(bin_dir / 'nvidia-smi',
               'printf "GPU 0: H100 (UUID: a)\\nGPU 1: H100 (UUID: b)\\nGPU 2: H100 (UUID: c)\\n"\n')
  result = run(GPU, '--one_process_per_gpu', '--dry_run', '--python=py', path_dir=bin_dir)
  assert result.returncode == 0, result.stderr
  procs = commands(result.stdout)[1:]
  assert [flag(argv, '--num_processes') for argv in procs] == ['3'] * 3


def fake_python(tmp_path) -> str:
  """Stands in for python: logs its GPU and arguments, fails as process
  FAIL_ID after half a second, else sleeps SLEEP_S; says so on SIGTERM."""
  return write_script(tmp_path / 'python', r'''
id=x
for a in "$@"; do case $a in --process_id=*) id=${a#*=} ;; esac; done
echo "process $id gpu $CUDA_VISIBLE_DEVICES args $*"
trap 'echo terminated; exit 143' TERM
if [[ $id == "${FAIL_ID:-none}" ]]; then sleep 0.5; echo failing; exit 3; fi
sleep "${SLEEP_S:-60}" & wait $!
echo finished
''')


def test_gpu_one_process_per_gpu_waits_for_all(tmp_path):
  workdir = tmp_path / 'run'
  result = run(GPU, '--one_process_per_gpu', '--num_gpus=3', f'--python={fake_python(tmp_path)}',
               f'--workdir={workdir}', env={'SLEEP_S': '1'})
  assert result.returncode == 0, result.stderr
  assert 'all 3 processes finished' in result.stderr
  for i in range(3):
    log = (tmp_path / 'run.logs' / f'process_{i}.log').read_text()
    assert f'process {i} gpu {i} args -m mmcap.main' in log and 'finished' in log


def test_gpu_one_process_per_gpu_stops_the_others_when_one_fails(tmp_path):
  start = time.monotonic()
  result = run(GPU, '--one_process_per_gpu', '--num_gpus=3', f'--python={fake_python(tmp_path)}',
               f'--workdir={tmp_path / "run"}', env={'FAIL_ID': '1'})
  assert time.monotonic() - start < 30  # not the others' 60 s
  assert result.returncode == 3, result.stderr
  assert 'error: process 1 exited with status 3' in result.stderr
  logs = tmp_path / 'run.logs'
  assert 'failing' in (logs / 'process_1.log').read_text()
  for i in (0, 2):
    assert 'terminated' in (logs / f'process_{i}.log').read_text()


def test_gpu_single_process_passes_its_exit_status(tmp_path):
  result = run(GPU, '--num_gpus=2', f'--python={fake_python(tmp_path)}', '--workdir=runs/x',
               env={'FAIL_ID': 'x'})  # x: the id of a process without --process_id
  assert result.returncode == 3
  assert 'process x gpu 0,1 args -m mmcap.main --config=configs/demo.py' in result.stdout


# --- lint --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which('shellcheck') is None, reason='shellcheck is not on PATH')
def test_shellcheck_passes():
  common = os.path.join(REPO, 'launch', 'common.sh')
  result = subprocess.run(['shellcheck', '-x', TPU, GPU, common], capture_output=True,
                          text=True, cwd=REPO)
  assert result.returncode == 0, result.stdout + result.stderr
