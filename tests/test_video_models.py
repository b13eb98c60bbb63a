"""S2VT against a step-by-step NumPy transcription of its reference net,
its decoding against brute force, and the mean-pool input against NumPy."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap import decode
from mmcap import models
from mmcap.data import video_captions
from mmcap.data.vocab import BOS_ID, EOS_ID
from mmcap.errors import InputError

from conftest import tiny_config
from test_decode import all_captions, strip
from test_models import lstm_reference

VOCAB, FEATURES, SLOTS, BATCH, STEPS = 13, 6, 5, 3, 4
NUM_FRAMES = (5, 2, 3)  # real frames of each video; the rest are padding


def s2vt_config(init_scale=0.5, **overrides):
  config = tiny_config().model
  config.name, config.embed_dim, config.hidden_dim = 's2vt', 7, 9
  config.vocab_multiple, config.init_scale = 8, init_scale
  config.update(overrides)
  return config


def videos(rng, batch=BATCH, num_frames=NUM_FRAMES):
  frames = rng.normal(size=(batch, SLOTS, FEATURES)).astype(np.float32)
  mask = (np.arange(SLOTS)[None] < np.asarray(num_frames)[:, None]).astype(np.float32)
  frames[mask == 0] = 99.0  # padding must not matter, whatever it holds
  return {'frames': frames, 'frame_mask': mask}


def build(init_scale=0.5, **overrides):
  model = models.build(s2vt_config(init_scale, **overrides), VOCAB)
  rng = np.random.default_rng(0)
  features = videos(rng)
  inputs = rng.integers(1, VOCAB, size=(BATCH, STEPS)).astype(np.int32)
  params = model.init(jax.random.key(0), features, inputs)['params']
  # The frame embedding's bias starts at 0.2 for every unit: vary it.
  params['frame_embed']['bias'] = jnp.asarray(rng.normal(size=7), jnp.float32)
  return model, params, features, inputs


def s2vt_reference(params, features, inputs):
  """Each video on its own: LSTM1 over its N real frames' embeddings, then
  over b_e (the zero frame's embedding) once per word; LSTM2 over [LSTM1 h,
  0, 0] at the frames and [LSTM1 h, word embedding, 1] at the words;
  logits from LSTM2 at the words."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  logits = []
  for b, n in enumerate(features['frame_mask'].sum(1).astype(int)):
    embedded = features['frames'][b, :n] @ p['frame_embed']['kernel'] + p['frame_embed']['bias']
    blank = np.broadcast_to(p['frame_embed']['bias'], (inputs.shape[1], 7))
    h1 = lstm_reference(np.concatenate([embedded, blank])[None], p['bottom'])[0]
    words = np.concatenate([np.zeros((n, 7)), p['embed']['embedding'][inputs[b]]])
    stage = np.concatenate([np.zeros(n), np.ones(inputs.shape[1])])[:, None]
    h2 = lstm_reference(np.concatenate([h1, words, stage], 1)[None], p['top'])[0]
    logits.append(h2[n:] @ p['output']['Dense_0']['kernel'] + p['output']['Dense_0']['bias'])
  return np.stack(logits)


def test_s2vt_equals_numpy_transcription():
  model, params, features, inputs = build()
  logits = model.apply({'params': params}, features, inputs)
  assert logits.shape == (BATCH, STEPS, 16)
  np.testing.assert_allclose(logits[..., :VOCAB],
                             s2vt_reference(params, features, inputs)[..., :VOCAB],
                             rtol=1e-5, atol=1e-5)


def test_s2vt_follows_the_captioner_protocol_and_not_the_factored_one():
  model, params, features, inputs = build()
  assert isinstance(model, models.Captioner)
  assert not isinstance(model, models.captioner.FactoredCaptioner)
  for method in ('__call__', 'init_decode', 'decode_step'):
    want = inspect.signature(getattr(models.Captioner, method)).parameters
    assert list(inspect.signature(getattr(type(model), method)).parameters) == list(want)


def test_decode_steps_equal_teacher_forcing():
  model, params, features, inputs = build()
  full = model.apply({'params': params}, features, inputs)
  state = model.apply({'params': params}, features, method=model.init_decode)
  for t in range(STEPS):
    logits, state = model.apply({'params': params}, state, inputs[:, t],
                                method=model.decode_step)
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5)


def test_frame_order_matters_and_padding_does_not():
  model, params, features, inputs = build()
  logits = model.apply({'params': params}, features, inputs)
  reversed_frames = dict(features, frames=features['frames'].copy())
  reversed_frames['frames'][0, :5] = features['frames'][0, 4::-1]
  assert not np.allclose(model.apply({'params': params}, reversed_frames, inputs)[0], logits[0])
  other_padding = dict(features, frames=np.where(features['frame_mask'][..., None] > 0,
                                                 features['frames'], -5.0))
  np.testing.assert_array_equal(model.apply({'params': params}, other_padding, inputs), logits)


def test_dropout_is_on_the_frame_features():
  """At a rate near 1, training mode sees every frame as zeros: its
  embedding is b_e, as at the word steps."""
  model, params, features, inputs = build(dropout=0.999999)
  blank = dict(features, frames=np.zeros_like(features['frames']))
  dropped = model.apply({'params': params}, features, inputs, train=True,
                        rngs={'dropout': jax.random.key(0)})
  np.testing.assert_allclose(dropped, model.apply({'params': params}, blank, inputs),
                             rtol=1e-5, atol=1e-5)


def test_beam_of_one_equals_greedy():
  model, params, features, _ = build()
  greedy = decode.greedy(model, params, features, 6)
  beam, _ = decode.beam_search(model, params, features, 6, beam_size=1)
  np.testing.assert_array_equal(greedy, beam)


@pytest.mark.parametrize('alpha', [0.0, 0.7])
def test_exhaustive_beam_finds_the_best_caption(alpha):
  """A beam of 128 over words {<eos>, 4, 5} finds the caption of highest
  (length-normalized) teacher-forced log-probability of all."""
  model = models.build(s2vt_config(init_scale=1.0), 6)
  rng = np.random.default_rng(1)
  features = videos(rng)
  params = model.init(jax.random.key(1), features, np.zeros((BATCH, 2), np.int32))['params']
  max_steps = 4
  tokens, scores = decode.beam_search(model, params, features, max_steps, beam_size=128,
                                      length_alpha=alpha)
  captions = all_captions(max_steps)
  inputs = np.zeros((len(captions), max_steps), np.int32)
  for i, caption in enumerate(captions):
    inputs[i, : len(caption)] = (BOS_ID,) + tuple(caption[:-1])
  for b in range(BATCH):
    one = jax.tree.map(lambda x: np.repeat(x[b:b + 1], len(captions), 0), features)
    logits = model.apply({'params': params}, one, inputs)
    step_scores = np.asarray(jax.vmap(decode.log_probs, in_axes=(1, 0, None), out_axes=1)(
        logits, jnp.arange(max_steps), 6), np.float64)
    scored = {c: sum(step_scores[i, t, w] for t, w in enumerate(c))
              for i, c in enumerate(captions)}
    best = max(scored, key=lambda c: scored[c] / len(c) ** alpha)
    assert strip(tokens[b]) == best
    np.testing.assert_allclose(scores[b], scored[best], rtol=1e-5)
  assert EOS_ID in np.asarray(tokens)  # some captions end before max_steps


def test_every_decoding_method_runs_jitted():
  model, params, features, _ = build()
  for method in decode.METHODS:
    config = tiny_config().decode
    config.method = method
    tokens = jax.jit(decode.decoder(model, config, max_steps=5))(params, features)
    assert tokens.shape == (BATCH, 5)


@pytest.mark.parametrize('video_input, stride, max_frames', [
    ('mean_pool', 1, 0), ('mean_pool', 2, 3), ('frames', 3, 4), ('frames', 1, 2),
])
def test_frame_selection_in_tensorflow_equals_numpy(video_input, stride, max_frames):
  frames = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
  selection = video_captions.FrameSelection(video_input, stride, max_frames)
  expected = frames[::stride][: max_frames or None]
  chosen = selection.select(frames)
  got = jax.tree.map(np.asarray, selection.select_tf(frames))
  if video_input == 'mean_pool':
    np.testing.assert_allclose(chosen, expected.mean(0), rtol=1e-6)
  else:
    n = len(expected)
    np.testing.assert_array_equal(chosen['frames'][:n], expected)
    assert not chosen['frames'][n:].any() and chosen['frame_mask'].sum() == n
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), chosen, got)


@pytest.mark.parametrize('video_input, stride, max_frames, message', [
    ('pooled', 1, 0, 'video_input'),
    ('frames', 0, 4, 'frame_stride'),
    ('frames', 1, 0, 'max_frames'),
])
def test_frame_selection_refuses_bad_settings(video_input, stride, max_frames, message):
  with pytest.raises(InputError, match=message):
    video_captions.FrameSelection(video_input, stride, max_frames)
