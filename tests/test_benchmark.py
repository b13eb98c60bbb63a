"""The benchmark at its small CPU size, as a smoke test: no timing asserted."""

import json

from conftest import run_python


def test_cpu_benchmark_runs_and_reports(tmp_path):
  output = tmp_path / 'bench.jsonl'
  result = run_python('-m', 'mmcap.benchmark', '--size=cpu', '--models=lrcn_2f,mrnn',
                      '--benchmarks=train,decode,retrieval', '--steps=1', '--warmup=0',
                      '--beam_sizes=1,3', f'--output={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [json.loads(line) for line in output.read_text().splitlines()]
  kinds = [(r['benchmark'], r['model']) for r in lines]
  assert kinds == [('train', 'lrcn_2f'), ('decode', 'lrcn_2f'), ('decode', 'lrcn_2f'),
                   ('retrieval', 'lrcn_2f'), ('train', 'mrnn'), ('decode', 'mrnn'),
                   ('decode', 'mrnn'), ('retrieval', 'mrnn')]
  train = lines[0]
  assert train['tokens_per_s'] > 0 and train['compile_s'] > 0
  # XLA's count (of the fully unrolled step) and the closed form of the dense
  # layers agree; XLA adds the softmax, gate arithmetic and the optimizer.
  assert 1.0 < train['xla_gflops_per_step'] / train['closed_form_gflops_per_step'] < 1.05
  assert 'captions_per_s' in lines[1] and 'pairs_per_s' in lines[3]
  assert 'benchmark' in result.stdout.splitlines()[-9]  # the table's header


def test_s2vt_rows_and_its_closed_form_flops(tmp_path):
  output = tmp_path / 'bench.jsonl'
  result = run_python('-m', 'mmcap.benchmark', '--size=cpu', '--models=s2vt',
                      '--benchmarks=train,decode', '--steps=1', '--warmup=0',
                      '--beam_sizes=3', f'--output={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  train, beam = [json.loads(line) for line in output.read_text().splitlines()]
  assert (train['benchmark'], beam['benchmark'], beam['beam_size']) == ('train', 'decode', 3)
  assert 1.0 < train['xla_gflops_per_step'] / train['closed_form_gflops_per_step'] < 1.05
  assert beam['captions_per_s'] > 0


def test_benchmark_never_imports_tensorflow():
  result = run_python('-c', 'import sys, mmcap.benchmark; '
                      'sys.exit("tensorflow" in sys.modules)')
  assert result.returncode == 0


def test_pipeline_benchmark(tmp_path):
  output = tmp_path / 'bench.jsonl'
  result = run_python('-m', 'mmcap.benchmark', '--size=cpu', '--benchmarks=pipeline',
                      '--models=', f'--output={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(output.read_text())['examples_per_s'] > 0


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
