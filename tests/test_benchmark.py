"""The benchmark at its small CPU size, as a smoke test: no timing asserted."""

import json
import os
import re
import subprocess

import pytest

from conftest import REPO, run_command_lines, run_python

# Each case's command line ({d}: the directory of the outputs). The table
# case reads the CPU case's output, so it comes after it.
CASES = {
    # One model: every model's rows build (test_every_benchmarked_model_builds).
    'cpu': ['--size=cpu', '--models=lrcn_2f', '--benchmarks=train,decode,retrieval,extract',
            '--steps=1', '--warmup=0', '--beam_sizes=1,3', '--unroll=1',
            '--output={d}/cpu.jsonl'],
    'table': ['--table={d}/cpu.jsonl'],
    's2vt': ['--size=cpu', '--models=s2vt', '--benchmarks=train,decode', '--steps=1',
             '--warmup=0', '--beam_sizes=3', '--output={d}/s2vt.jsonl'],
    'pipeline': ['--size=cpu', '--benchmarks=pipeline', '--models=',
                 '--output={d}/pipeline.jsonl'],
}


@pytest.fixture(scope='module')
def ran(tmp_path_factory):
  """Each case's (result, its JSON lines), all run by one driver process."""
  root = tmp_path_factory.mktemp('benchmark')
  lines = [[arg.format(d=root) for arg in args] for args in CASES.values()]
  results = run_command_lines('mmcap.benchmark', lines, root)
  for name, result in zip(CASES, results):
    assert result['status'] == 0, (name, result['stderr'][-3000:])
  rows = {name: [json.loads(line) for line in (root / f'{name}.jsonl').read_text().splitlines()]
          for name in ('cpu', 's2vt', 'pipeline')}
  return {name: (result, rows.get(name)) for name, result in zip(CASES, results)}


def test_cpu_benchmark_runs_and_reports(ran):
  result, lines = ran['cpu']
  kinds = [(r['benchmark'], r['model']) for r in lines]
  assert kinds == [('train', 'lrcn_2f'), ('decode', 'lrcn_2f'), ('decode', 'lrcn_2f'),
                   ('retrieval', 'lrcn_2f'), ('extract', 'vgg16'), ('extract', 'resnet50')]
  train = lines[0]
  assert train['tokens_per_s'] > 0 and train['compile_s'] > 0
  # XLA's count (of the fully unrolled step) and the closed form of the dense
  # layers agree; XLA adds the softmax, gate arithmetic and the optimizer.
  assert 1.0 < train['xla_gflops_per_step'] / train['closed_form_gflops_per_step'] < 1.05
  assert 'captions_per_s' in lines[1] and 'pairs_per_s' in lines[3]
  assert [(r['layer'], r['crop']) for r in lines[4:]] == [('fc7', 64), ('avg_pool', 64)]
  assert all(r['images_per_s'] > 0 for r in lines[4:])
  # Then every row again in one Markdown table, and the same from the file.
  table = result['stdout'].splitlines()[-8:]
  assert table[0].startswith('| benchmark | model ') and set(table[1]) == set('|- ')
  assert ran['table'][0]['stdout'].splitlines() == table
  # XLA's account of the memory of each row's step, call or retrieval block.
  assert all(r['xla_memory_gb'] > 0 for r in lines)


def test_s2vt_rows_and_its_closed_form_flops(ran):
  train, beam = ran['s2vt'][1]
  assert (train['benchmark'], beam['benchmark'], beam['beam_size']) == ('train', 'decode', 3)
  assert 1.0 < train['xla_gflops_per_step'] / train['closed_form_gflops_per_step'] < 1.05
  assert beam['captions_per_s'] > 0


def test_benchmark_never_imports_tensorflow():
  result = run_python('-c', 'import sys, mmcap.benchmark; '
                      'sys.exit("tensorflow" in sys.modules)')
  assert result.returncode == 0


def test_compare_without_torch_is_one_line():
  result = run_python('-c', 'import sys; sys.modules["torch"] = None; sys.argv[1:] = '
                      '["--compare=torch", "--steps=1"]; from absl import app; '
                      'from mmcap import benchmark, errors; '
                      'app.run(benchmark.main, flags_parser=errors.parse_flags)')
  assert result.returncode != 0
  assert result.stderr.strip().splitlines()[-1] == (
      'error: --compare=torch: PyTorch is not installed (pip install "mmcap[compare]")')


def test_pipeline_benchmark(ran):
  (row,) = ran['pipeline'][1]
  assert row['examples_per_s'] > 0
  assert row['first_batch_s'] > 0 and row['resumed_first_batch_s'] > 0
  assert row['resume_skip_batches'] == 1000


def test_every_benchmarked_model_builds():
  # The task modules, not mmcap.benchmark: its flags would clash with the
  # other entry points' in this process.
  from mmcap import models
  from mmcap.core.benchmark import Settings
  from mmcap.models import activity
  from mmcap.tasks.activity import benchmark as activity_rows
  from mmcap.tasks.captioning import benchmark as captioning_rows
  from mmcap.tasks.video import benchmark as video_rows
  assert captioning_rows.MODELS + activity_rows.MODELS + video_rows.MODELS == (
      'lrcn_1u', 'lrcn_2u', 'lrcn_2f', 'mrnn', 'rnn_base',
      'activity_lrcn', 'activity_single_frame', 's2vt')
  for name in captioning_rows.MODELS:
    config = captioning_rows.model_config(name, captioning_rows.SIZES['paper'], Settings())
    assert models.build(config, 10).config.name == ('lrcn' if 'lrcn' in name else name)
  for name in activity_rows.MODELS:
    config = activity_rows.model_config(name, activity_rows.SIZES['paper'], Settings())
    assert activity.build(config, 101).config.name == name.removeprefix('activity_')


def test_gpu_checklist_script_asks_only_for_what_exists():
  # benchmarks/gpu.sh runs where a GPU is lent, rarely: its dry run checks
  # here that every command names real flags, models and benchmarks.
  from mmcap.tasks.activity import benchmark as activity_rows
  from mmcap.tasks.captioning import benchmark as captioning_rows
  from mmcap.tasks.video import benchmark as video_rows
  result = subprocess.run(['bash', 'benchmarks/gpu.sh', '/tmp/unused.jsonl'], cwd=REPO,
                          env={'DRY_RUN': '1', 'PATH': '/usr/bin:/bin'},
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  commands = [line[2:].split() for line in result.stderr.splitlines() if line.startswith('+ ')]
  assert len(commands) == 11
  with open(os.path.join(REPO, 'mmcap', 'benchmark.py')) as f:
    source = f.read()
  defined = set(re.findall(r"flags\.DEFINE_\w+\(\s*'(\w+)'", source))
  models = captioning_rows.MODELS + activity_rows.MODELS + video_rows.MODELS
  for command in commands:
    assert command[:3] == ['python', '-m', 'mmcap.benchmark']
    values = dict(arg[2:].split('=', 1) for arg in command[3:])
    assert set(values) <= defined, set(values) - defined
    assert set(values['models'].split(',')) - {''} <= set(models)
    assert set(values['benchmarks'].split(',')) <= {'train', 'decode', 'retrieval', 'extract'}


def test_mmcap_and_the_twin_are_timed_in_turn():
  """--compare: one repetition of each in turn, warm-up ones untimed."""
  from mmcap.core import benchmark  # pylint: disable=g-import-not-at-top
  calls = []
  times, twin_times = benchmark.repeated(
      lambda: calls.append('mmcap'), benchmark.Settings(steps=3, warmup=1),
      lambda: calls.append('twin'))
  assert calls == ['mmcap', 'twin'] * 4 and len(times) == len(twin_times) == 3
  assert benchmark.repeated(lambda: None, benchmark.Settings(steps=2, warmup=0))[1] == []
