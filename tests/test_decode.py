"""Decoding against brute-force enumeration, and its invariants."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap import decode
from mmcap.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

from conftest import tiny_config
from test_models import MODELS, model_config
from mmcap import models

VOCAB, FEATURES, BATCH = 6, 5, 3  # words 4 and 5 (and <unk>) besides the specials


def tiny_model(name, init_scale=1.0):
  config = model_config(name)
  config.init_scale = init_scale  # peaked distributions: a real search problem
  model = models.build(config, VOCAB)
  rng = np.random.default_rng(1)
  features = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
  params = model.init(jax.random.key(1), features, np.zeros((BATCH, 2), np.int32))['params']
  return model, params, features


def caption_log_probs(model, params, feature_f, captions):
  """Teacher-forced log P(caption) of each caption, with the decoders' banned
  words, in one batched forward pass."""
  steps = max(len(c) for c in captions)
  inputs = np.full((len(captions), steps), PAD_ID, np.int32)
  for i, caption in enumerate(captions):
    inputs[i, : len(caption)] = (BOS_ID,) + tuple(caption[:-1])
  features = np.repeat(feature_f[None], len(captions), axis=0)
  logits = model.apply({'params': params}, features, inputs)
  step_scores = np.asarray(jax.vmap(decode.log_probs, in_axes=(1, 0, None), out_axes=1)(
      logits, jnp.arange(steps), VOCAB), np.float64)
  return [
      float(sum(step_scores[i, t, token] for t, token in enumerate(caption)))
      for i, caption in enumerate(captions)
  ]


def all_captions(max_steps):
  """Every caption the decoders may produce: ends with <eos> or at max_steps,
  and has no <unk>."""
  words, captions = (EOS_ID, 4, 5), []
  for length in range(1, max_steps + 1):
    for tokens in itertools.product(words, repeat=length):
      if EOS_ID in tokens[:-1] or tokens[0] == EOS_ID:
        continue
      if tokens[-1] == EOS_ID or length == max_steps:
        captions.append(tokens)
  return captions


def strip(row):
  row = [int(t) for t in row]
  return tuple(row[: row.index(PAD_ID)] if PAD_ID in row else row)


@pytest.mark.parametrize('name', ['2f', 'mrnn'])
@pytest.mark.parametrize('alpha', [0.0, 0.7])
def test_exhaustive_beam_finds_the_best_caption(name, alpha):
  max_steps = 4
  model, params, features = tiny_model(name)
  tokens, scores = decode.beam_search(model, params, features, max_steps,
                                      beam_size=128, length_alpha=alpha)
  for b in range(BATCH):
    captions = all_captions(max_steps)
    scored = dict(zip(captions, caption_log_probs(model, params, features[b], captions)))
    best = max(scored, key=lambda c: scored[c] / len(c) ** alpha)
    assert strip(tokens[b]) == best
    np.testing.assert_allclose(scores[b], scored[best], rtol=1e-5)


@pytest.mark.parametrize('beam_size', [1, 2, 3])
def test_returned_score_is_the_captions_log_probability(beam_size):
  """Ended beams stay ended: nothing is added to a caption after <eos>."""
  model, params, features = tiny_model('2f')
  tokens, scores = decode.beam_search(model, params, features, 6, beam_size)
  for b in range(BATCH):
    caption = strip(tokens[b])
    assert caption and EOS_ID not in caption[:-1]
    assert all(int(t) == PAD_ID for t in tokens[b][len(caption):])
    np.testing.assert_allclose(
        scores[b], caption_log_probs(model, params, features[b], [caption])[0], rtol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_beam_of_one_equals_greedy(name):
  model, params, features = tiny_model(name, init_scale=0.5)
  greedy = decode.greedy(model, params, features, 8)
  beam, _ = decode.beam_search(model, params, features, 8, beam_size=1)
  np.testing.assert_array_equal(greedy, beam)


@pytest.mark.parametrize('name', MODELS)
@pytest.mark.parametrize('method', decode.METHODS)
def test_every_model_decodes(name, method):
  model, params, features = tiny_model(name)
  config = tiny_config().decode
  config.method, config.beam_size = method, 3
  tokens = jax.jit(decode.decoder(model, config, max_steps=7))(params, features)
  assert tokens.shape == (BATCH, 7) and tokens.dtype == jnp.int32
  for row in np.asarray(tokens):
    caption = strip(row)
    assert caption and caption[0] != EOS_ID  # never empty
    assert BOS_ID not in caption and EOS_ID not in caption[:-1]


def test_sampling_is_reproducible_by_seed():
  model, params, features = tiny_model('2f', init_scale=0.1)  # flat: many outcomes
  features = np.repeat(features, 20, axis=0)

  def draw(seed):
    return np.asarray(decode.sample(model, params, features, 6, jax.random.key(seed), 1.5))

  np.testing.assert_array_equal(draw(0), draw(0))
  assert not np.array_equal(draw(0), draw(1))


def test_no_beam_ends_within_max_steps():
  model, params, features = tiny_model('2f')
  tokens, _ = decode.beam_search(model, params, features, 1, beam_size=3)
  assert all(len(strip(row)) == 1 and row[0] != EOS_ID for row in np.asarray(tokens))


@pytest.mark.parametrize('method', decode.METHODS)
def test_unk_is_generated_only_when_allowed(method):
  model, params, features = tiny_model('2f')
  bias = params['output']['Dense_0']['bias']
  params = {**params, 'output': {'Dense_0': {**params['output']['Dense_0'],
                                             'bias': bias.at[UNK_ID].set(100.0)}}}
  config = tiny_config().decode
  config.method = method
  assert not config.allow_unk  # the default
  tokens = np.asarray(jax.jit(decode.decoder(model, config, max_steps=5))(params, features))
  assert UNK_ID not in tokens and (tokens[:, 0] != PAD_ID).all()
  config.allow_unk = True
  tokens = np.asarray(jax.jit(decode.decoder(model, config, max_steps=5))(params, features))
  assert (tokens[:, 0] == UNK_ID).all()  # it dominates every step
