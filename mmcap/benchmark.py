r"""Benchmarks: training, decoding and retrieval speed on synthetic batches.

  python -m mmcap.benchmark --size=cpu                  # seconds, any machine
  python -m mmcap.benchmark --size=paper --dtype=bfloat16 --batch_size=1024
  python -m mmcap.benchmark --size=cpu --benchmarks=pipeline

Models run on synthetic in-memory batches, so nothing but JAX is needed (no
TensorFlow import); `pipeline` measures the tf.data input pipeline alone on a
generated prepared dataset. Each measurement is printed as one JSON line (and
appended to --output), then all as a table. Step times are medians over
--steps synchronized steps after --warmup; compile time is measured apart.
Achieved FLOP/s and MFU use the closed-form count of the dense layers (GUIDE:
6 x MACs per training token, the model FLOPs) over --peak_tflops (default:
known peaks of the device, else none). XLA's cost analysis is reported beside
it as a cross-check; on CPU the two agree within 1%, but on GPU XLA does not
count the cuBLAS matmuls it hands to library calls, so it reads low there.
Record results in benchmarks/RESULTS.md with the date, hardware, versions,
commit and command.
"""

import dataclasses
import functools
import json
import statistics
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mmcap import decode
from mmcap import models
from mmcap import steps
from mmcap.evaluation import retrieval

SIZES = {
    # vocab: words, plus 4 special tokens; 10,004 pads to 10,112 (x128).
    'paper': dict(vocab=10_000, features=4096, steps=20, batch=100,
                  lrcn=(1000, 1000), mrnn=(128, 256, 512),
                  decode_images=5000, retrieval=(1000, 5000)),
    'cpu': dict(vocab=1000, features=256, steps=20, batch=64,
                lrcn=(128, 128), mrnn=(64, 128, 128),
                decode_images=256, retrieval=(50, 250)),
}
MODELS = ('lrcn_1u', 'lrcn_2u', 'lrcn_2f', 'mrnn', 'rnn_base')
# Dense peak FLOP/s by device kind and dtype (vendor figures).
PEAK_TFLOPS = {
    'NVIDIA H200': {'bfloat16': 989.0, 'float32': 494.0},
    'NVIDIA H100 80GB HBM3': {'bfloat16': 989.0, 'float32': 494.0},
}

_SIZE = flags.DEFINE_enum('size', 'cpu', list(SIZES), 'Model and data sizes.')
_MODELS = flags.DEFINE_list('models', list(MODELS), f'Any of {MODELS}.')
_BENCHMARKS = flags.DEFINE_list(
    'benchmarks', ['train', 'decode', 'retrieval'],
    'Any of train, decode, retrieval, pipeline.')
_BATCH = flags.DEFINE_integer('batch_size', None, 'Training batch (captions).')
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'], 'Compute dtype.')
_UNROLL = flags.DEFINE_integer('unroll', 1, 'lax.scan unroll of the recurrences.')
_VOCAB_MULTIPLE = flags.DEFINE_integer(
    'vocab_multiple', 128, 'Logits padded to a multiple of this (1: none).')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed repetitions.')
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed repetitions after compiling.')
_BEAMS = flags.DEFINE_list('beam_sizes', ['1', '3', '5'], 'Beam sizes to decode with.')
_PEAK = flags.DEFINE_float('peak_tflops', None, 'Peak TFLOP/s for MFU.')
_OUTPUT = flags.DEFINE_string('output', None, 'Append JSON lines to this file.')


def model_config(
    name: str, size: dict, dtype: str, unroll: int, vocab_multiple: int
) -> ml_collections.ConfigDict:
  family, _, variant = name.partition('_')
  config = ml_collections.ConfigDict(dict(
      name=name if family == 'mrnn' or name == 'rnn_base' else 'lrcn',
      variant=variant or '2f', feature_dropout=0.5, init_scale=0.08,
      vocab_multiple=vocab_multiple, dtype=dtype, unroll=unroll, multimodal_dim=0))
  if config.name == 'lrcn':
    config.embed_dim, config.hidden_dim = size['lrcn']
  else:
    config.embed_dim, config.hidden_dim, config.multimodal_dim = size['mrnn']
    config.feature_dropout = 0.0
  return config


def closed_form_flops_per_token(config, size: dict) -> float:
  """6 x the MACs of the dense layers per training token (GUIDE)."""
  vocab = -(-(size['vocab'] + 4) // config.vocab_multiple) * config.vocab_multiple
  features, steps_ = size['features'], size['steps']
  if config.name == 'lrcn':
    e, h = config.embed_dim, config.hidden_dim
    inputs = {'1u': [e], '2u': [e, h], '2f': [e, h]}[config.variant]
    macs = sum(4 * h * (d + h) for d in inputs) + h * vocab
    return 6 * macs + 6 * 4 * h * features / steps_
  e1, e2, m = config.embed_dim, config.hidden_dim, config.multimodal_dim
  macs = e1 * e2 + e2 * e2 + 2 * e2 * m + m * vocab
  image = features * m if config.name == 'mrnn' else 0
  return 6 * macs + 6 * image / steps_


def synthetic_batch(rng: np.random.Generator, size: dict, batch: int) -> dict:
  """Random captions of 8 to steps words with their features."""
  t = size['steps']
  lengths = rng.integers(8, t + 1, batch)
  words = rng.integers(4, size['vocab'] + 4, (batch, t)).astype(np.int32)
  inputs = np.where(np.arange(t) < lengths[:, None], words, 0).astype(np.int32)
  inputs[:, 0] = 1
  targets = np.where(np.arange(t) < lengths[:, None] - 1, np.roll(inputs, -1, 1), 0)
  targets[np.arange(batch), lengths - 1] = 2
  return {
      'features': rng.normal(size=(batch, size['features'])).astype(np.float32),
      'inputs': inputs,
      'targets': targets.astype(np.int32),
  }


def _timed(fn, *args) -> tuple[float, list[float]]:
  """Compile time of jitted `fn`, and the synchronized times of repetitions."""
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  times = []
  for i in range(_WARMUP.value + _STEPS.value):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    if i >= _WARMUP.value:
      times.append(time.perf_counter() - start)
  return compile_s, times


def _peak_flops(dtype: str) -> float | None:
  if _PEAK.value:
    return _PEAK.value * 1e12
  peak = PEAK_TFLOPS.get(jax.devices()[0].device_kind, {}).get(dtype)
  return peak * 1e12 if peak else None


def _memory() -> dict:
  stats = jax.devices()[0].memory_stats() or {}
  return {'peak_memory_gb': stats['peak_bytes_in_use'] / 2**30} if 'peak_bytes_in_use' in stats else {}


def _xla_flops(lowered: jax.stages.Lowered) -> float:
  # GPU counts FLOPs only after compilation, and leaves out library matmuls.
  analysis = lowered.cost_analysis() or lowered.compile().cost_analysis()
  if isinstance(analysis, list):
    analysis = analysis[0]
  return float((analysis or {}).get('flops', 0.0))


def bench_train(name, model, config, size, batch_size) -> dict:
  optimizer = steps.make_optimizer(ml_collections.ConfigDict(dict(
      name='sgd', learning_rate=0.01, momentum=0.9, lr_decay_factor=0.5,
      lr_decay_steps=20_000, grad_clip_norm=10.0, weight_decay=0.0)))
  batch = synthetic_batch(np.random.default_rng(0), size, batch_size)
  params = jax.jit(model.init)(jax.random.key(0), batch['features'][:1], batch['inputs'][:1])['params']
  state = steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), jax.random.key(1))
  def step_fn(model):
    # The state is not donated here: every repetition reuses the same input.
    return jax.jit(functools.partial(steps.train_step, model=model, optimizer=optimizer,
                                     normalization='token'))

  compile_s, times = _timed(step_fn(model), state, batch)
  median = statistics.median(times)
  tokens = float((batch['targets'] != 0).sum())
  # XLA counts a loop body once, not once per trip: count the same step with
  # the recurrence fully unrolled.
  flops = _xla_flops(step_fn(model.clone(config=dataclasses.replace(model.config, unroll=size['steps']))).lower(state, batch))
  closed = closed_form_flops_per_token(config, size) * batch_size * size['steps']
  result = {
      'benchmark': 'train', 'model': name, 'batch_size': batch_size,
      'step_ms': 1e3 * median, 'compile_s': compile_s,
      'tokens_per_s': tokens / median, 'captions_per_s': batch_size / median,
      'xla_gflops_per_step': flops / 1e9, 'closed_form_gflops_per_step': closed / 1e9,
      'achieved_tflops': closed / median / 1e12,
      'params_m': sum(x.size for x in jax.tree.leaves(params)) / 1e6,
  }
  peak = _peak_flops(config.dtype)
  if peak:
    result['mfu'] = closed / median / peak
  return result | _memory()


def bench_decode(name, model, config, size, beam_size) -> dict:
  rng = np.random.default_rng(0)
  features = rng.normal(size=(size['decode_images'], size['features'])).astype(np.float32)
  params = jax.jit(model.init)(jax.random.key(0), features[:1], np.zeros((1, 2), np.int32))['params']
  fn = jax.jit(lambda p, f: decode.beam_search(model, p, f, size['steps'], beam_size)[0])
  compile_s, times = _timed(fn, params, features)
  median = statistics.median(times)
  return {'benchmark': 'decode', 'model': name, 'beam_size': beam_size,
          'images': len(features), 'seconds': median, 'compile_s': compile_s,
          'captions_per_s': len(features) / median} | _memory()


def bench_retrieval(name, model, config, size) -> dict:
  num_images, num_sentences = size['retrieval']
  batch = synthetic_batch(np.random.default_rng(0), size, num_sentences)
  features = batch['features'][:num_images]
  params = jax.jit(model.init)(jax.random.key(0), features[:1], batch['inputs'][:1])['params']
  mesh = jax.make_mesh((jax.device_count(),), ('data',),
                       axis_types=(jax.sharding.AxisType.Auto,))
  sharding = jax.NamedSharding(mesh, jax.P('data'))
  score = lambda: retrieval.pair_scores(model, params, features, batch['inputs'],
                                        batch['targets'], 32, 256, sharding)
  start = time.perf_counter()
  score()  # compiles
  first_s = time.perf_counter() - start
  start = time.perf_counter()
  score()
  seconds = time.perf_counter() - start
  return {'benchmark': 'retrieval', 'model': name, 'images': num_images,
          'sentences': num_sentences, 'seconds': seconds,
          'first_call_s': first_s, 'pairs_per_s': num_images * num_sentences / seconds}


def bench_pipeline(size) -> dict:
  """tf.data examples/s over a generated prepared dataset (imports TF)."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from mmcap.data import pipeline, records, sources  # pylint: disable=g-import-not-at-top
  from mmcap.data.vocab import Vocabulary  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  num_images, words = 2000, [f'w{i}' for i in range(size['vocab'])]
  images = [sources.Image(i, f'{i}.jpg', 'train', tuple(
      tuple(rng.choice(words, rng.integers(8, 20))) for _ in range(5)),
      tuple(range(5 * i, 5 * i + 5))) for i in range(num_images)]
  features = rng.normal(size=(num_images, size['features'])).astype(np.float32)
  vocab = Vocabulary.build([s for im in images for s in im.sentences], 1)
  with tempfile.TemporaryDirectory() as tmp:
    path = f'{tmp}/data'
    records.write_dataset(images, features, vocab, path, {'captions': 'synthetic'})
    info = records.load_info(path)
    batches = pipeline.train_batches(path, info, ['train'], 100, size['steps'], 10_000, seed=0)
    for _ in range(20):
      next(batches)
    start, count = time.perf_counter(), 200
    for _ in range(count):
      next(batches)
    seconds = time.perf_counter() - start
  return {'benchmark': 'pipeline', 'batch_size': 100, 'feature_dim': size['features'],
          'examples_per_s': 100 * count / seconds}


def main(argv: list[str]) -> None:
  del argv
  size = SIZES[_SIZE.value]
  results = []

  def report(result: dict) -> None:
    result = {'size': _SIZE.value, 'dtype': _DTYPE.value, 'unroll': _UNROLL.value,
              'vocab_multiple': _VOCAB_MULTIPLE.value,
              'device': jax.devices()[0].device_kind, 'num_devices': jax.device_count(),
              'jax': jax.__version__} | result
    line = json.dumps(result)
    print(line, flush=True)
    if _OUTPUT.value:
      with open(_OUTPUT.value, 'a') as f:
        f.write(line + '\n')
    results.append(result)

  for name in _MODELS.value:
    if name not in MODELS:
      sys.exit(f'error: --models: {name!r} is not one of {MODELS}')
    config = model_config(name, size, _DTYPE.value, _UNROLL.value, _VOCAB_MULTIPLE.value)
    model = models.build(config, size['vocab'] + 4)
    if 'train' in _BENCHMARKS.value:
      report(bench_train(name, model, config, size, _BATCH.value or size['batch']))
    if 'decode' in _BENCHMARKS.value:
      for beam_size in map(int, _BEAMS.value):
        report(bench_decode(name, model, config, size, beam_size))
    if 'retrieval' in _BENCHMARKS.value:
      report(bench_retrieval(name, model, config, size))
  if 'pipeline' in _BENCHMARKS.value:
    report(bench_pipeline(size))
  print_table(results)


def print_table(results: list[dict]) -> None:
  columns = ('benchmark', 'model', 'batch_size', 'beam_size', 'step_ms', 'compile_s',
             'tokens_per_s', 'captions_per_s', 'pairs_per_s', 'examples_per_s',
             'achieved_tflops', 'mfu', 'peak_memory_gb')
  shown = [c for c in columns if any(c in r for r in results)]

  def cell(value):
    if isinstance(value, float):
      return f'{value:.3g}' if abs(value) < 1000 else f'{value:,.0f}'
    return '' if value is None else str(value)

  rows = [[cell(r.get(c)) for c in shown] for r in results]
  widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(shown)]
  print('  '.join(c.ljust(w) for c, w in zip(shown, widths)))
  for row in rows:
    print('  '.join(v.ljust(w) for v, w in zip(row, widths)))


if __name__ == '__main__':
  app.run(main)
