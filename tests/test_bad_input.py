"""No user input ends in a traceback: malformed files and flags given to
`mmcap.main` (train, evaluate, caption) and `mmcap.benchmark` end with exit
status 2, one line on stderr that starts with `error:` and names the path or
flag, and nothing left behind. The prepare commands have their own table
(test_bad_prepare_input.py).

All command lines of one module run in one process (tests/cli_driver.py).
"""

import os
import subprocess

import numpy as np
import pytest

from mmcap import train
from mmcap.core import evals

from conftest import run_command_lines, tiny_config

TINY = '--config=tests/tiny_config.py'

# (id, arguments, what the error line must name, a path that must not
# exist afterwards or None). In the arguments, {d} is the directory of the
# inputs below and {trained} a workdir with a checkpoint of the tiny config.
MAIN_CASES = [
    ('config file missing', ['--config={d}/nope.py', '--workdir={d}/w1'], 'nope.py', '{d}/w1'),
    ('config file with a syntax error', ['--config={d}/syntax.py', '--workdir={d}/w2'],
     'syntax.py', '{d}/w2'),
    ('config file without get_config', ['--config={d}/no_get_config.py', '--workdir={d}/w3'],
     'no_get_config.py', '{d}/w3'),
    ('workdir empty', [TINY, '--workdir='], '--workdir', None),
    ('workdir inside a file', [TINY, '--workdir={d}/a_file/run'], '{d}/a_file/run', None),
    ('positional argument', [TINY, '--workdir={d}/w4', 'extra'], "['extra']", '{d}/w4'),
    ('negative steps', [TINY, '--workdir={d}/w5', '--config.num_train_steps=-1'],
     '--config.num_train_steps=-1', '{d}/w5'),
    ('caption flag in train mode', [TINY, '--workdir={d}/w6', '--split=test'],
     '--split: used by --mode=caption only', '{d}/w6'),
    ('caption flag in evaluate mode', [TINY, '--workdir={trained}', '--mode=evaluate',
                                       '--output={d}/out.json'],
     '--output: used by --mode=caption only', '{d}/out.json'),
    ('evaluate without checkpoints', [TINY, '--workdir={d}', '--mode=evaluate'],
     'no checkpoints to evaluate', None),
    ('another model size', [TINY, '--workdir={trained}', '--config.model.hidden_dim=32'],
     '--config.model.hidden_dim is 32', None),
    ('workdir record damaged', [TINY, '--workdir={damaged}'], '{damaged}/config.json', None),
    ('dataset dir missing', [TINY, '--workdir={d}/w7', '--config.dataset.source=prepared',
                             '--config.dataset.dir={d}/no_dataset'],
     '{d}/no_dataset/metadata.json', '{d}/w7'),
    ('dataset info not JSON', [TINY, '--workdir={d}/w8', '--config.dataset.source=prepared',
                               '--config.dataset.dir={d}/info_garbage'],
     '{d}/info_garbage/metadata.json', '{d}/w8'),
    ('dataset info not UTF-8', [TINY, '--workdir={d}/w9', '--config.dataset.source=prepared',
                                '--config.dataset.dir={d}/info_binary'],
     '{d}/info_binary/metadata.json', '{d}/w9'),
    ('dataset info a list', [TINY, '--workdir={d}/w10', '--config.dataset.source=prepared',
                             '--config.dataset.dir={d}/info_list'],
     '{d}/info_list/metadata.json', '{d}/w10'),
    ('dataset info without splits', [TINY, '--workdir={d}/w11', '--config.dataset.source=prepared',
                                     '--config.dataset.dir={d}/info_no_splits'],
     '{d}/info_no_splits/metadata.json', '{d}/w11'),
    ('vocabulary not JSON', [TINY, '--workdir={d}/w12', '--config.dataset.source=prepared',
                             '--config.dataset.dir={d}/vocab_garbage'],
     '{d}/vocab_garbage/vocab.json', '{d}/w12'),
    ('caption: workdir vocabulary damaged', [TINY, '--workdir={bad_vocab}', '--mode=caption',
                                              '--features={d}/full.npy'],
     '{bad_vocab}/vocab.json', None),
    ('caption: both split and features', [TINY, '--workdir={trained}', '--mode=caption',
                                          '--split=test', '--features={d}/text.npy'],
     '--split and --features', None),
    ('caption: unknown split', [TINY, '--workdir={trained}', '--mode=caption', '--split=dev'],
     "'dev'", None),
    # conftest hides any Google Cloud credentials of the machine.
    ('workdir a gs:// URL without credentials', [TINY, '--workdir=gs://bucket/run'],
     '--workdir=gs://bucket/run: no Google Cloud credentials found', None),
    ('dataset dir a URL of no file system', [TINY, '--workdir={d}/w13',
                                             '--config.dataset.source=prepared',
                                             '--config.dataset.dir', 's3://bucket/coco'],
     '--config.dataset.dir=s3://bucket/coco: no file system for s3:// URLs', '{d}/w13'),
    ('features a URL of an unknown scheme', [TINY, '--workdir={trained}', '--mode=caption',
                                             '--features=hdfs://host/features.npy'],
     '--features=hdfs://host/features.npy: no file system for hdfs:// URLs', None),
]
FEATURE_CASES = {
    'missing': '{d}/missing.npy',
    'empty file': '{d}/empty.npy',
    'text': '{d}/text.npy',
    'truncated': '{d}/truncated.npy',
    'wrong dimension': '{d}/wrong_dim.npy',
    'three axes': '{d}/three_axes.npy',
    'strings': '{d}/strings.npy',
    'pickled objects': '{d}/objects.npy',
    'not finite': '{d}/nan.npy',
    'a directory': '{d}',
}
MAIN_CASES += [
    (f'caption features: {name}', [TINY, '--workdir={trained}', '--mode=caption',
                                   f'--features={path}', '--output={d}/captions.json'],
     path, '{d}/captions.json')
    for name, path in FEATURE_CASES.items()
]
MAIN_CASES += [
    (f'caption output: {name}', [TINY, '--workdir={trained}', '--mode=caption', '--split=test',
                                 f'--output={path}'], flag_or_path, None)
    for name, path, flag_or_path in [
        ('empty', '', '--output='),
        ('in a missing directory', '{d}/none/captions.json', '{d}/none'),
        ('inside a file', '{d}/a_file/captions.json', '{d}/a_file'),
        ('a directory', '{d}', '--output={d}'),
    ]
]
BENCHMARK_CASES = [
    ('unknown model', ['--models=gpt'], '--models', None),
    ('no steps', ['--steps=0'], '--steps=0', None),
    ('unknown benchmark', ['--benchmarks=speed'], '--benchmarks', None),
    ('beam size not a number', ['--beam_sizes=1,five'], '--beam_sizes=1,five', None),
    ('output inside a file', ['--output={d}/a_file/rows.jsonl', '--models=lrcn_2f',
                              '--benchmarks=train'], '{d}/a_file', None),
]


def write_inputs(d: str) -> None:
  """The malformed inputs the cases name."""
  def write(name, data):
    with open(os.path.join(d, name), 'wb') as f:
      f.write(data)

  write('syntax.py', b'def get_config(:\n')
  write('no_get_config.py', b'X = 1\n')
  write('a_file', b'not a directory')
  write('empty.npy', b'')
  write('text.npy', b'hello')
  np.save(os.path.join(d, 'full.npy'), np.ones((4, 16), np.float32))
  with open(os.path.join(d, 'full.npy'), 'rb') as f:
    write('truncated.npy', f.read()[:150])
  np.save(os.path.join(d, 'wrong_dim.npy'), np.ones((3, 5), np.float32))
  np.save(os.path.join(d, 'three_axes.npy'), np.ones((3, 4, 16), np.float32))
  np.save(os.path.join(d, 'strings.npy'), np.array([['a'] * 16] * 3))
  np.save(os.path.join(d, 'objects.npy'), np.array([[{}] * 16] * 3, dtype=object))
  np.save(os.path.join(d, 'nan.npy'), np.full((3, 16), np.nan, np.float32))
  for name, info in [('info_garbage', b'{"splits": '), ('info_binary', b'\xff\xfe{}'),
                     ('info_list', b'[1, 2]'), ('info_no_splits', b'{"feature_dim": 16}')]:
    os.makedirs(os.path.join(d, name))
    write(f'{name}/metadata.json', info)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
  d = str(tmp_path_factory.mktemp('inputs'))
  write_inputs(d)
  trained = os.path.join(d, 'trained')
  config = tiny_config()
  config.num_train_steps = 2
  with pytest.MonkeyPatch.context() as monkeypatch:
    monkeypatch.setattr(evals, 'final_results', lambda *args: {})
    train.train_and_evaluate(config, trained)
  damaged = os.path.join(d, 'damaged')
  subprocess.run(['cp', '-r', trained, damaged], check=True)
  with open(os.path.join(damaged, 'config.json'), 'w') as f:
    f.write('{"task": ')
  bad_vocab = os.path.join(d, 'bad_vocab')
  subprocess.run(['cp', '-r', trained, bad_vocab], check=True)
  with open(os.path.join(bad_vocab, 'vocab.json'), 'wb') as f:
    f.write(b'\xff\xfe{')
  vocab_garbage = os.path.join(d, 'vocab_garbage')
  subprocess.run(['cp', '-r', os.path.join(trained, 'demo_data'), vocab_garbage], check=True)
  with open(os.path.join(vocab_garbage, 'vocab.json'), 'w') as f:
    f.write('[')
  return {'d': d, 'trained': trained, 'damaged': damaged, 'bad_vocab': bad_vocab}


def run_cases(module, cases, names, tmp_path_factory):
  work = tmp_path_factory.mktemp(module)
  reported = run_command_lines(
      module, [[a.format(**names) for a in args] for _, args, _, _ in cases], work)
  return dict(zip([case[0] for case in cases], reported))


@pytest.fixture(scope='module')
def main_results(inputs, tmp_path_factory):
  return run_cases('mmcap.main', MAIN_CASES, inputs, tmp_path_factory)


@pytest.fixture(scope='module')
def benchmark_results(inputs, tmp_path_factory):
  return run_cases('mmcap.benchmark', BENCHMARK_CASES, inputs, tmp_path_factory)


def check(result, names, named, absent):
  assert result['traceback'] is None, result['traceback']
  assert result['status'] == 2, result['stderr']
  lines = result['stderr'].strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result['stderr']
  assert named.format(**names) in lines[0]
  if absent:
    assert not os.path.exists(absent.format(**names))
  leftovers = [name for name in os.listdir(names['d']) if name.endswith('.tmp')]
  assert not leftovers


@pytest.mark.parametrize('case', MAIN_CASES, ids=[c[0] for c in MAIN_CASES])
def test_main(case, main_results, inputs):
  check(main_results[case[0]], inputs, *case[2:])


@pytest.mark.parametrize('case', BENCHMARK_CASES, ids=[c[0] for c in BENCHMARK_CASES])
def test_benchmark(case, benchmark_results, inputs):
  check(benchmark_results[case[0]], inputs, *case[2:])
