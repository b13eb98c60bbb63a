"""Video description rows of `python -m mmcap.benchmark`: S2VT's training
step and beam search on synthetic videos, at the reference size (VGG fc7
frames D = 4096, 60 frame and 20 word steps, embeddings of 500, LSTMs of
1000, MSVD's ~12.6k words, batches of 32 captions, MSVD's 670 test videos
decoded) and at a CPU size. The mean-pool model is an image captioner on
the frames' mean: its rows are the captioning ones."""

import dataclasses
import functools
import statistics
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from mmcap import decode
from mmcap import losses
from mmcap import models
from mmcap.core import benchmark
from mmcap.data import vocab
from mmcap.models import captioner

SIZES = {
    'paper': dict(features=4096, frames=60, steps=20, embed=500, hidden=1000,
                  vocab=12_600, batch=32, decode_videos=670),
    'cpu': dict(features=256, frames=30, steps=20, embed=128, hidden=256,
                vocab=3000, batch=32, decode_videos=128),
}
SIZES['compare'] = SIZES['cpu']  # S2VT has no PyTorch twin
MODELS = ('s2vt',)


def model_config(size: dict, settings: benchmark.Settings) -> ml_collections.ConfigDict:
  config = captioner.default_config()
  config.update(name='s2vt', embed_dim=size['embed'], hidden_dim=size['hidden'],
                dropout=0.0, dtype=settings.dtype, unroll=settings.unroll or 1,
                vocab_multiple=settings.vocab_multiple)
  return config


def closed_form_flops_per_caption(size: dict) -> float:
  """Dense FLOPs per training caption: 6 x MACs (forward, gradients of the
  weights and of the input), 4 x for the frame embedding, whose input needs
  no gradient. LSTM1's input projection runs at the frame steps (at the word
  steps its input is constant, projected once), its recurrence at every
  step; LSTM2 all of it at every step (input [h1, word, stage]); the softmax
  at the word steps."""
  d, e, h, v = size['features'], size['embed'], size['hidden'], size['vocab']
  f, t = size['frames'], size['steps']
  lstm1 = f * 4 * h * e + (f + t) * 4 * h * h
  lstm2 = (f + t) * 4 * h * (h + e + 1 + h)
  return 4 * f * d * e + 6 * (lstm1 + lstm2 + t * h * v)


def synthetic_videos(rng: np.random.Generator, size: dict, batch: int) -> dict:
  """Videos of frames/2 to frames real frames, masked, as S2VT reads them."""
  num_frames = rng.integers(size['frames'] // 2, size['frames'] + 1, batch)
  return {
      'frames': rng.normal(size=(batch, size['frames'], size['features'])).astype(np.float32),
      'frame_mask': (np.arange(size['frames']) < num_frames[:, None]).astype(np.float32),
  }


def _train(model, size: dict, settings: benchmark.Settings) -> dict:
  batch_size = settings.batch_size or size['batch']
  rng = np.random.default_rng(0)
  batch = {'features': synthetic_videos(rng, size, batch_size),
           **vocab.random_captions(rng, batch_size, size['steps'], size['vocab'])}
  params = jax.jit(model.init)(
      jax.random.key(0), jax.tree.map(lambda x: x[:1], batch['features']),
      batch['inputs'][:1])['params']
  unrolled = model.clone(config=dataclasses.replace(
      model.config, unroll=size['frames'] + size['steps']))
  counts = {'tokens': float((batch['targets'] != 0).sum()), 'captions': batch_size}
  flops = closed_form_flops_per_caption(size) * batch_size
  return {'benchmark': 'train', 'model': 's2vt', 'unroll': model.config.unroll,
          'batch_size': batch_size} | benchmark.train_row(
      functools.partial(losses.next_word_loss, model, normalization='token'),
      functools.partial(losses.full_logits_loss, unrolled), params, batch, counts, flops,
      settings)


def _decode(model, size: dict, beam_size: int, settings: benchmark.Settings) -> dict:
  videos = synthetic_videos(np.random.default_rng(0), size, size['decode_videos'])
  params = jax.jit(model.init)(
      jax.random.key(0), jax.tree.map(lambda x: x[:1], videos), np.zeros((1, 2), np.int32))['params']
  fn = jax.jit(lambda p, v: decode.beam_search(model, p, v, size['steps'], beam_size)[0])
  compile_s, times, compiled, _ = benchmark.timed(fn, (params, videos), settings)
  median = statistics.median(times)
  return {'benchmark': 'decode', 'model': 's2vt', 'beam_size': beam_size,
          'videos': size['decode_videos'], 'seconds': median, 'compile_s': compile_s,
          'captions_per_s': size['decode_videos'] / median} | benchmark.memory(compiled)


def rows(names: list[str], settings: benchmark.Settings) -> Iterator[dict]:
  """S2VT's training step and beam search, if asked for."""
  if not names:
    return
  size = SIZES[settings.size]
  model = models.build(model_config(size, settings), size['vocab'] + 4)
  if 'train' in settings.benchmarks:
    yield _train(model, size, settings)
  if 'decode' in settings.benchmarks:
    for beam_size in settings.beam_sizes:
      yield _decode(model, size, beam_size, settings)
