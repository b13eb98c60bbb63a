"""Captioning rows of `python -m mmcap.benchmark`: the training step, beam
search and likelihood retrieval of every captioner on synthetic batches, the
tf.data pipeline, and the image encoders' feature extraction (VGG-16 and
ResNet-50, as `mmcap.extract` runs them). Imports no TensorFlow unless the
pipeline is asked for.
"""

import dataclasses
import functools
import statistics
import time
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from mmcap import decode
from mmcap import losses
from mmcap import models
from mmcap.core import benchmark
from mmcap.core.placement import Placement
from mmcap.data import vocab
from mmcap.evaluation import retrieval
from mmcap.models import cnns
from mmcap.models import vocabulary

SIZES = {
    # vocab: words, plus 4 special tokens; 10,004 pads to 10,112 (x128).
    'paper': dict(vocab=10_000, features=4096, steps=20, batch=100,
                  lrcn=(1000, 1000), mrnn=(128, 256, 512),
                  decode_images=5000, retrieval=(1000, 5000)),
    # The PyTorch comparison on a CPU (--compare=torch).
    'compare': dict(vocab=3000, features=2048, steps=20, batch=64,
                    lrcn=(512, 512), mrnn=(128, 256, 512),
                    decode_images=256, retrieval=(100, 500)),
    'cpu': dict(vocab=1000, features=256, steps=20, batch=64,
                lrcn=(128, 128), mrnn=(64, 128, 128),
                decode_images=256, retrieval=(50, 250)),
}
MODELS = ('lrcn_1u', 'lrcn_2u', 'lrcn_2f', 'mrnn', 'rnn_base')
# Retrieval's blocks, at most: config.evals.test_retrieval's defaults.
IMAGES_PER_BLOCK, SENTENCES_PER_BLOCK = 32, 256


def model_config(
    name: str, size: dict, settings: benchmark.Settings
) -> ml_collections.ConfigDict:
  """The `config.model` of a benchmarked captioner."""
  lrcn = name.startswith('lrcn_')
  config = ml_collections.ConfigDict(dict(
      name='lrcn' if lrcn else name,
      variant=name.removeprefix('lrcn_') if lrcn else '2f', dropout=0.5, init_scale=0.08,
      vocab_multiple=settings.vocab_multiple, dtype=settings.dtype,
      # As the configs run them: LRCN's (lrcn_config) fully unrolled.
      unroll=settings.unroll or (size['steps'] if lrcn else 1), multimodal_dim=0,
      row_blocks=settings.row_blocks or models.ModelConfig.row_blocks))
  if config.name == 'lrcn':
    config.embed_dim, config.hidden_dim = size['lrcn']
  else:
    config.embed_dim, config.hidden_dim, config.multimodal_dim = size['mrnn']
  return config


def closed_form_flops_per_token(config: ml_collections.ConfigDict, size: dict) -> float:
  """6 x the MACs of the dense layers per training token (GUIDE)."""
  vocab = vocabulary.padded_size(size['vocab'] + 4, config.vocab_multiple)
  features, steps = size['features'], size['steps']
  if config.name == 'lrcn':
    e, h = config.embed_dim, config.hidden_dim
    inputs = {'1u': [e], '2u': [e, h], '2f': [e, h]}[config.variant]
    macs = sum(4 * h * (d + h) for d in inputs) + h * vocab
    return 6 * macs + 6 * 4 * h * features / steps
  e1, e2, m = config.embed_dim, config.hidden_dim, config.multimodal_dim
  macs = e1 * e2 + e2 * e2 + 2 * e2 * m + m * vocab
  image = features * m if config.name == 'mrnn' else 0
  return 6 * macs + 6 * image / steps


def synthetic_batch(rng: np.random.Generator, size: dict, batch: int) -> dict:
  """Random captions of 8 to steps words with their features."""
  return {
      'features': rng.normal(size=(batch, size['features'])).astype(np.float32),
      **vocab.random_captions(rng, batch, size['steps'], size['vocab']),
  }


def _train(model, config, size, settings: benchmark.Settings) -> dict:
  batch_size = settings.batch_size or size['batch']
  batch = synthetic_batch(np.random.default_rng(0), size, batch_size)
  params = jax.jit(model.init)(
      jax.random.key(0), batch['features'][:1], batch['inputs'][:1])['params']

  loss_fn = functools.partial(losses.next_word_loss, model, normalization='token')
  # XLA counts a loop's body once: the count comes from the full-logits loss
  # with the recurrence unrolled.
  unrolled = functools.partial(losses.full_logits_loss, model.clone(
      config=dataclasses.replace(model.config, unroll=size['steps'])))
  counts = {'tokens': float((batch['targets'] != 0).sum()), 'captions': batch_size}
  flops = closed_form_flops_per_token(config, size) * batch_size * size['steps']
  twin = None
  if settings.compare == 'torch':
    from mmcap import torch_twin  # pylint: disable=g-import-not-at-top
    twin = torch_twin.train_call(torch_twin.captioner(model, params),
                                 torch_twin.next_word_loss, batch, settings)
  return {'benchmark': 'train', 'batch_size': batch_size} | benchmark.train_row(
      loss_fn, unrolled, params, batch, counts, flops, settings, twin)


def _decode(model, size, beam_size: int, settings: benchmark.Settings) -> dict:
  rng = np.random.default_rng(0)
  features = rng.normal(size=(size['decode_images'], size['features'])).astype(np.float32)
  params = jax.jit(model.init)(
      jax.random.key(0), features[:1], np.zeros((1, 2), np.int32))['params']
  fn = jax.jit(lambda p, f: decode.beam_search(model, p, f, size['steps'], beam_size)[0])
  twin = None
  if settings.compare == 'torch':
    from mmcap import torch_twin  # pylint: disable=g-import-not-at-top
    twin = torch_twin.decode_call(torch_twin.captioner(model, params), features,
                                  size['steps'], beam_size, model.config.vocab_size, settings)
  compile_s, times, compiled, twin_times = benchmark.timed(fn, (params, features), settings, twin)
  median = statistics.median(times)
  row = {'benchmark': 'decode', 'beam_size': beam_size, 'images': len(features),
         'seconds': median, 'compile_s': compile_s,
         'captions_per_s': len(features) / median} | benchmark.memory(compiled)
  if twin:
    row |= benchmark.versus_torch('seconds', median, statistics.median(twin_times))
  return row


def _retrieval(model, size, settings: benchmark.Settings) -> dict:
  num_images, num_sentences = size['retrieval']
  batch = synthetic_batch(np.random.default_rng(0), size, num_sentences)
  features = batch['features'][:num_images]
  params = jax.jit(model.init)(
      jax.random.key(0), features[:1], batch['inputs'][:1])['params']
  sharding = Placement.over_all_devices().data
  score = lambda: retrieval.pair_scores(
      model, params, features, batch['inputs'], batch['targets'],
      IMAGES_PER_BLOCK, SENTENCES_PER_BLOCK, sharding)
  start = time.perf_counter()
  score()  # compiles
  first_s = time.perf_counter() - start
  twin = None
  if settings.compare == 'torch':
    from mmcap import torch_twin  # pylint: disable=g-import-not-at-top
    twin = torch_twin.retrieval_call(
        torch_twin.captioner(model, params), features, batch, IMAGES_PER_BLOCK,
        SENTENCES_PER_BLOCK, settings)
    twin()  # warms up
  (seconds,), twin_times = benchmark.repeated(
      score, dataclasses.replace(settings, steps=1, warmup=0), twin)
  row = {'benchmark': 'retrieval', 'images': num_images, 'sentences': num_sentences,
         'seconds': seconds, 'first_call_s': first_s,
         'pairs_per_s': num_images * num_sentences / seconds} | _block_memory(
             model, params, features, batch)
  if twin:
    row |= benchmark.versus_torch('seconds', seconds, twin_times[0])
  return row


def _block_memory(model, params, features: np.ndarray, batch: dict) -> dict:
  """XLA's peak memory of scoring one block of pairs at full length: the
  most retrieval ever holds, whatever the number of pairs."""
  images = retrieval.block_size(len(features), IMAGES_PER_BLOCK)
  sentences = retrieval.block_size(len(batch['inputs']), SENTENCES_PER_BLOCK, jax.device_count())
  apply = lambda method: jax.jit(
      lambda p, x: model.apply({'params': p}, x, method=getattr(model, method)))
  terms = apply('sentence_terms')(params, batch['inputs'][:sentences])
  image_terms = apply('image_terms')(params, features[:images])
  block = jax.jit(functools.partial(retrieval.block_scores, model,
                                    images_per_step=retrieval.images_per_step()))
  lowered = block.lower(params, terms, image_terms, batch['targets'][:sentences])
  return benchmark.memory(lowered.compile())


# The pipeline row's resume: 1,000 batches of 100, ten passes over its data.
RESUME_SKIP = 1000


def _pipeline(size) -> dict:
  """tf.data examples/s over a generated prepared dataset (imports TF), and
  the seconds to the first batch of a fresh run and of one resumed after
  RESUME_SKIP batches (data/order.py: about the same)."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from mmcap.data import pipeline, records, sources  # pylint: disable=g-import-not-at-top
  from mmcap.data.vocab import Vocabulary  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  num_images, words = 2000, [f'w{i}' for i in range(size['vocab'])]
  images = [sources.Image(i, f'{i}.jpg', 'train', tuple(
      tuple(rng.choice(words, rng.integers(8, 20))) for _ in range(5)),
      tuple(range(5 * i, 5 * i + 5)), i) for i in range(num_images)]
  features = rng.normal(size=(num_images, size['features'])).astype(np.float32)
  vocab = Vocabulary.build([s for im in images for s in im.sentences], 1)
  with tempfile.TemporaryDirectory() as tmp:
    path = f'{tmp}/data'
    records.write_dataset(images, features, vocab, path, {'captions': 'synthetic'})
    info = records.load_info(path)

    def batches_from(skip: int) -> tuple[Iterator, float]:
      """The batches from `skip` on, and the seconds to the first one."""
      start = time.perf_counter()
      batches = pipeline.train_batches(
          pipeline.images(path, info), ['train'], 100, size['steps'], 10_000, seed=0,
          skip_batches=skip,
      )
      next(batches)
      return batches, time.perf_counter() - start

    batches_from(0)  # TensorFlow's first-use costs
    _, resumed_seconds = batches_from(RESUME_SKIP)
    batches, first_seconds = batches_from(0)
    for _ in range(20):
      next(batches)
    start, count = time.perf_counter(), 200
    for _ in range(count):
      next(batches)
    seconds = time.perf_counter() - start
  return {'benchmark': 'pipeline', 'batch_size': 100, 'feature_dim': size['features'],
          'examples_per_s': 100 * count / seconds, 'first_batch_s': first_seconds,
          'resume_skip_batches': RESUME_SKIP, 'resumed_first_batch_s': resumed_seconds}


# The extraction row's crop and batch: the references' 224 crop, or a small
# one that takes seconds on a CPU.
EXTRACT_SIZES = {'cpu': dict(crop=64, batch=8), 'compare': dict(crop=224, batch=8),
                 'paper': dict(crop=224, batch=64)}


def _extract(network: str, settings: benchmark.Settings) -> dict:
  """A CNN (models/cnns.py) to its default layer on synthetic images, one
  crop, as `mmcap.extract` runs it: images/s, compile time, FLOP/s and MFU
  from the closed-form count (XLA's beside it), peak memory. The JPEG
  decoding and resizing, on the host in tf.data, are not included."""
  size = EXTRACT_SIZES[settings.size]
  batch_size = settings.batch_size or size['batch']
  module, model_class, config_class, layer = cnns.NETWORKS[network]
  config = config_class(image_size=size['crop'], dtype=settings.dtype)
  model = model_class(config)
  images = np.random.default_rng(0).uniform(
      0, 255, (batch_size, size['crop'], size['crop'], 3)).astype(np.float32)
  params = jax.jit(model.init)(jax.random.key(0), images[:1])['params']
  images = jax.device_put(images)
  features = jax.jit(lambda p, x: model.apply({'params': p}, x, (layer,))[layer])
  compile_s, times, compiled, _ = benchmark.timed(features, (params, images), settings)
  median = statistics.median(times)
  flops = module.flops_per_image(config, layer) * batch_size
  row = {'benchmark': 'extract', 'model': network, 'layer': layer, 'crop': size['crop'],
         'batch_size': batch_size, 'step_ms': 1e3 * median, 'compile_s': compile_s,
         'images_per_s': batch_size / median, 'closed_form_gflops_per_step': flops / 1e9,
         'xla_gflops_per_step': benchmark.xla_flops(features.lower(params, images)) / 1e9,
         'achieved_tflops': flops / median / 1e12}
  peak = benchmark.peak_flops(settings.dtype, settings)
  if peak:
    row['mfu'] = flops / median / peak
  return row | benchmark.memory(compiled)


def _named(name: str, config: ml_collections.ConfigDict, row: dict) -> dict:
  blocks = {'row_blocks': config.row_blocks} if config.name == 'lrcn' else {}
  return {'benchmark': row['benchmark'], 'model': name, 'unroll': config.unroll} | blocks | row


def rows(names: list[str], settings: benchmark.Settings) -> Iterator[dict]:
  """Every asked-for measurement of the captioners `names`, in order."""
  size = SIZES[settings.size]
  for name in names:
    config = model_config(name, size, settings)
    model = models.build(config, size['vocab'] + 4)
    if 'train' in settings.benchmarks:
      yield _named(name, config, _train(model, config, size, settings))
    if 'decode' in settings.benchmarks:
      for beam_size in settings.beam_sizes:
        yield _named(name, config, _decode(model, size, beam_size, settings))
    if 'retrieval' in settings.benchmarks:
      yield _named(name, config, _retrieval(model, size, settings))
  if 'pipeline' in settings.benchmarks:
    yield _pipeline(size)
  if 'extract' in settings.benchmarks:
    for network in cnns.NETWORKS:
      yield _extract(network, settings)
