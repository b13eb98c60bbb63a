"""The train step against a hand-computed update of the reference Caffe
solver: 20 x the token-mean gradient, clipped to global norm 10, the output
bias at lr_mult 2 and decay_mult 0, momentum with the rate inside."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mmcap import losses
from mmcap import models
from mmcap.core import steps
from mmcap.tasks.captioning.config import lrcn_config

from test_models import BATCH, FEATURES, STEPS, VOCAB, model_config


def caffe_updates(grads_per_step, params, lr, momentum, clip, weight_decay):
  """Caffe's SGDSolver, step by step in float64: ClipGradients, Regularize
  (decay_mult), then history = momentum * history + lr * lr_mult * diff."""
  flat, treedef = jax.tree_util.tree_flatten_with_path(params)
  names = ['/'.join(k.key for k in path) for path, _ in flat]
  theta = [np.asarray(x, np.float64) for _, x in flat]
  history = [np.zeros_like(t) for t in theta]
  clipped = []
  for grads in grads_per_step:
    diff = [np.asarray(g, np.float64) for g in jax.tree.leaves(grads)]
    norm = np.sqrt(sum((d**2).sum() for d in diff))
    clipped.append(norm > clip)
    if norm > clip:
      diff = [d * clip / norm for d in diff]
    for i, name in enumerate(names):
      lr_mult, decay_mult = (2.0, 0.0) if name == 'output/Dense_0/bias' else (1.0, 1.0)
      d = diff[i] + weight_decay * decay_mult * theta[i]
      history[i] = momentum * history[i] + lr * lr_mult * d
      theta[i] = theta[i] - history[i]
  return jax.tree_util.tree_unflatten(treedef, theta), clipped


def test_two_steps_equal_the_caffe_solver():
  config = lrcn_config()
  config.optimizer.weight_decay = 1e-3  # the reference has 0; exercise decay_mult
  model_settings = model_config('2f')
  model_settings.dropout, model_settings.init_scale = 0.0, 0.5
  model = models.build(model_settings, VOCAB)
  rng = np.random.default_rng(0)
  batches = []
  for _ in range(2):
    inputs = rng.integers(1, VOCAB, size=(BATCH, STEPS)).astype(np.int32)
    targets = np.concatenate([inputs[:, 1:], np.full((BATCH, 1), 2)], 1).astype(np.int32)
    targets[0, 3:] = 0  # padding
    batches.append({'features': rng.normal(size=(BATCH, FEATURES)).astype(np.float32),
                    'inputs': inputs, 'targets': targets})
  params = model.init(jax.random.key(0), batches[0]['features'], batches[0]['inputs'])['params']
  loss_fn = functools.partial(losses.next_word_loss, model, normalization='token')
  optimizer = steps.make_optimizer(config.optimizer)
  state = steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params),
                           jax.random.key(0))
  grads, theta = [], params
  for batch in batches:
    # Caffe's diff: loss_weight x the gradient of the mean NLL per token.
    token_mean = lambda p, b=batch: losses.token_nll(model, p, b)[0] / (b['targets'] != 0).sum()
    grads.append(jax.tree.map(lambda g: config.loss_weight * g, jax.grad(token_mean)(theta)))
    state, _ = steps.train_step(state, batch, loss_fn=loss_fn, optimizer=optimizer,
                                loss_weight=config.loss_weight)
    theta = state.params
  # The hand computation uses the gradient at the parameters of each step.
  want, clipped = caffe_updates(grads, params, lr=0.01, momentum=0.9, clip=10.0,
                                weight_decay=1e-3)
  assert clipped == [False, True]  # both sides of the clipping are exercised
  jax.tree.map(lambda got, w: np.testing.assert_allclose(got, w, rtol=2e-5, atol=1e-7),
               state.params, want)


def test_loss_weight_scales_the_gradient_not_the_reported_loss():
  model = models.build(model_config('mrnn'), VOCAB)
  rng = np.random.default_rng(1)
  inputs = rng.integers(1, VOCAB, size=(BATCH, STEPS)).astype(np.int32)
  batch = {'features': rng.normal(size=(BATCH, FEATURES)).astype(np.float32),
           'inputs': inputs, 'targets': inputs}
  params = model.init(jax.random.key(0), batch['features'], inputs)['params']
  optimizer = steps.make_optimizer(lrcn_config().optimizer)
  state = steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params),
                           jax.random.key(0))
  loss_fn = functools.partial(losses.next_word_loss, model, normalization='token')
  metrics = {
      weight: steps.train_step(state, batch, loss_fn=loss_fn, optimizer=optimizer,
                               loss_weight=weight)[1]
      for weight in (1.0, 20.0)
  }
  assert metrics[1.0]['loss'] == metrics[20.0]['loss']
  # The gradient norm reported is the one clipping sees: 20 times larger.
  np.testing.assert_allclose(metrics[20.0]['grad_norm'], 20 * metrics[1.0]['grad_norm'],
                             rtol=1e-6)


def test_lr_mult_scales_adam_updates_and_frozen_parameters_skip_clipping():
  config = lrcn_config().optimizer
  params = {'a': jnp.ones(3), 'b': jnp.ones(3), 'frozen': jnp.ones(3)}
  grads = {'a': jnp.full(3, 0.5), 'b': jnp.full(3, 0.5), 'frozen': jnp.full(3, 100.0)}
  config.param_multipliers = (('^a$', 2.0, 1.0), ('^frozen$', 0.0, 1.0))
  for name in ('adam', 'sgd'):
    config.name = name
    optimizer = steps.make_optimizer(config)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    np.testing.assert_allclose(updates['a'], 2 * updates['b'], rtol=1e-6)
    assert (updates['frozen'] == 0).all()
  # The frozen parameter's gradient of 100 did not make clipping (at 10)
  # shrink the others: SGD's first update is lr * g.
  np.testing.assert_allclose(updates['b'], -0.01 * 0.5, rtol=1e-6)
