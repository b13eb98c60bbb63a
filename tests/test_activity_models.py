"""The activity models against a step-by-step NumPy implementation."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mmcap import losses
from mmcap.errors import InputError
from mmcap.models import activity

from test_models import lstm_reference

CLASSES, FEATURES, BATCH, FRAMES = 7, 6, 3, 5


def config(name='lrcn', hidden_dim=8, dtype='float32'):
  return ml_collections.ConfigDict(dict(
      name=name, hidden_dim=hidden_dim, input_dropout=0.9, output_dropout=0.5,
      init_scale=0.3, dtype=dtype, unroll=1))


def build(name='lrcn', hidden_dim=8, dtype='float32'):
  model = activity.build(config(name, hidden_dim, dtype), CLASSES)
  frames = np.random.default_rng(0).normal(size=(BATCH, FRAMES, FEATURES)).astype(np.float32)
  params = model.init(jax.random.key(0), frames)['params']
  # Give the classifier logits of order 1 (its N(0, 0.01) init is tiny).
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: x * 50 if 'classifier' in str(path) else x, params)
  return model, params, frames


def reference(name, params, frames):
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = np.maximum(frames.astype(np.float64), 0)  # ReLU; dropout is off in evaluation
  if name == 'lrcn':
    x = lstm_reference(x, p['lstm'])
  elif 'hidden' in p:
    x = np.maximum(x @ p['hidden']['kernel'] + p['hidden']['bias'], 0)
  return x @ p['classifier']['kernel'] + p['classifier']['bias']


@pytest.mark.parametrize('name, hidden_dim', [('lrcn', 8), ('single_frame', 8), ('single_frame', 0)])
def test_logits_equal_numpy_step_by_step(name, hidden_dim):
  model, params, frames = build(name, hidden_dim)
  logits = model.apply({'params': params}, frames)
  assert logits.shape == (BATCH, FRAMES, CLASSES)
  np.testing.assert_allclose(logits, reference(name, params, frames), rtol=1e-5, atol=1e-5)


def test_lstm_sees_the_past_and_single_frame_does_not():
  for name in ('lrcn', 'single_frame'):
    model, params, frames = build(name)
    changed = frames.copy()
    changed[:, 0] += 1.0  # only the first frame
    diff = np.abs(model.apply({'params': params}, frames)
                  - model.apply({'params': params}, changed)).max(axis=(0, 2))
    assert diff[0] > 0
    assert (diff[1:] > 0).all() if name == 'lrcn' else (diff[1:] == 0).all()


def test_frame_loss_is_the_mean_over_real_frames():
  model, params, frames = build()
  labels = np.array([0, 3, 6], np.int32)
  mask = np.ones((BATCH, FRAMES), np.float32)
  mask[1, 3:] = 0  # a short clip, padded
  loss, metrics = losses.frame_loss(model, params, {'clip': frames, 'mask': mask, 'label': labels})
  logits = reference('lrcn', params, frames)
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_p, np.broadcast_to(labels[:, None, None], (BATCH, FRAMES, 1)),
                            -1)[..., 0]
  np.testing.assert_allclose(loss, (nll * mask).sum() / mask.sum(), rtol=1e-5)
  assert metrics['frames'] == mask.sum()
  correct = (logits.argmax(-1) == labels[:, None]) * mask
  assert metrics['correct'] == correct.sum()


def test_bfloat16_compute_stays_close():
  model32, params, frames = build()
  model16 = build(dtype='bfloat16')[0]
  np.testing.assert_allclose(model16.apply({'params': params}, frames),
                             model32.apply({'params': params}, frames), atol=5e-2)


def test_parameter_counts_at_the_reference_size():
  d, h, c, fc7 = 4096, 256, 101, 4096
  lstm = activity.build(config('lrcn', hidden_dim=h), c)
  single = activity.build(config('single_frame', hidden_dim=fc7), c)
  counts = {}
  for name, model in (('lrcn', lstm), ('single_frame', single)):
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 16, d)))
    counts[name] = sum(np.prod(p.shape) for p in jax.tree.leaves(shapes))
  assert counts['lrcn'] == 4 * h * (d + 1 + h) + h * c + c
  assert counts['single_frame'] == d * fc7 + fc7 + fc7 * c + c


@pytest.mark.parametrize('field, value, message', [
    ('name', 'c3d', r"--config.model.name='c3d': expected one of"),
    ('input_dropout', 1.0, r'--config.model.input_dropout=1.0: expected a rate'),
])
def test_bad_settings_are_named(field, value, message):
  settings = config()
  settings[field] = value
  with pytest.raises(InputError, match=message):
    activity.build(settings, CLASSES)
