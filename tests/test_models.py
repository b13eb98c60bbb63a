"""Every model against a slow NumPy implementation of its written equations."""

import dataclasses
import functools
import inspect
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmcap import losses
from mmcap import models
from mmcap.core import steps
from mmcap.errors import InputError
from mmcap.data.vocab import PAD_ID

from conftest import run_python, tiny_config

VOCAB, FEATURES, BATCH, STEPS = 13, 6, 3, 5


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


def lstm_reference(x_btd, p, static_bd=None, static_p=None):
  """i, f, o, g = split(W_x x_t + W_h h_{t-1} + b [+ W_s s]); step by step."""
  h = np.zeros((x_btd.shape[0], p['recurrent_kernel'].shape[0]))
  c = np.zeros_like(h)
  outputs = []
  for t in range(x_btd.shape[1]):
    gates = x_btd[:, t] @ p['input_proj']['kernel'] + p['input_proj']['bias']
    gates = gates + h @ p['recurrent_kernel']
    if static_bd is not None:
      gates = gates + static_bd @ static_p['kernel']
    i, f, o, g = np.split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    outputs.append(h)
  return np.stack(outputs, 1)


def lrcn_reference(variant, params, features, inputs):
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  words = p['embed']['embedding'][inputs]
  if variant == '1u':
    top = lstm_reference(words, p['lstms_0'], features, p['lstms_0']['static_proj'])
  elif variant == '2u':
    h1 = lstm_reference(words, p['lstms_0'], features, p['lstms_0']['static_proj'])
    top = lstm_reference(h1, p['lstms_1'])
  else:
    h1 = lstm_reference(words, p['lstms_0'])
    top = lstm_reference(h1, p['lstms_1'], features, p['lstms_1']['static_proj'])
  return top @ p['output']['Dense_0']['kernel'] + p['output']['Dense_0']['bias']


def mrnn_reference(use_image, params, features, inputs):
  """w = W2 W1 x + b2; r = ReLU(U r + w); m = 1.7159 tanh(2/3 (V_w w + V_r r
  + V_I I + b)); logits = W_o m + b_o. Step by step."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  r = np.zeros((inputs.shape[0], p['recurrent']['recurrent_kernel'].shape[0]))
  outputs = []
  for t in range(inputs.shape[1]):
    w = p['embed_1']['embedding'][inputs[:, t]] @ p['embed_2']['kernel'] + p['embed_2']['bias']
    r = np.maximum(r @ p['recurrent']['recurrent_kernel'] + w, 0)
    pre = (w @ p['multimodal_word']['kernel'] + p['multimodal_word']['bias']
           + r @ p['multimodal_recurrent']['kernel'])
    if use_image:
      pre = pre + features @ p['multimodal_image']['kernel']
    m = 1.7159 * np.tanh(2 * pre / 3)
    outputs.append(m @ p['output']['Dense_0']['kernel'] + p['output']['Dense_0']['bias'])
  return np.stack(outputs, 1)


def reference(name, params, features, inputs):
  if name in ('mrnn', 'rnn_base'):
    return mrnn_reference(name == 'mrnn', params, features, inputs)
  return lrcn_reference(name, params, features, inputs)


MODELS = ['1u', '2u', '2f', 'mrnn', 'rnn_base']


def model_config(name, dtype='float32'):
  """Tiny sizes; `name` is an LRCN variant or 'mrnn' / 'rnn_base'."""
  config = tiny_config().model
  if name in ('mrnn', 'rnn_base'):
    config.name, config.multimodal_dim = name, 12
  else:
    config.variant = name
  config.dtype, config.vocab_multiple = dtype, 8
  return config


def build(name, dtype='float32'):
  config = model_config(name, dtype)
  config.init_scale = 0.5  # logits of order 1, so the tolerances bite
  model = models.build(config, VOCAB)
  rng = np.random.default_rng(0)
  features = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
  inputs = rng.integers(1, VOCAB, size=(BATCH, STEPS)).astype(np.int32)
  params = model.init(jax.random.key(0), features, inputs)['params']
  return model, params, features, inputs


@pytest.mark.parametrize('name', MODELS)
def test_forward_equals_numpy_equations(name):
  model, params, features, inputs = build(name)
  logits = model.apply({'params': params}, features, inputs)
  assert logits.shape == (BATCH, STEPS, 16)  # 13 padded to a multiple of 8
  np.testing.assert_allclose(
      logits[..., :VOCAB], reference(name, params, features, inputs)[..., :VOCAB],
      rtol=1e-5, atol=1e-5)
  assert (logits[..., VOCAB:] <= -1e8).all()  # padding columns masked


@pytest.mark.parametrize('name', MODELS)
def test_decode_steps_equal_teacher_forcing(name):
  model, params, features, inputs = build(name)
  full = model.apply({'params': params}, features, inputs)
  state = model.apply({'params': params}, features, method=model.init_decode)
  for t in range(STEPS):
    logits, state = model.apply({'params': params}, state, inputs[:, t],
                                method=model.decode_step)
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_padding_does_not_change_the_loss(name):
  model, params, features, inputs = build(name)
  targets = np.concatenate([inputs[:, 1:], np.full((BATCH, 1), 2)], 1).astype(np.int32)
  targets[0, 3:] = PAD_ID  # a shorter caption
  batch = {'features': features, 'inputs': inputs, 'targets': targets}
  longer = {
      'features': features,
      'inputs': np.pad(inputs, ((0, 0), (0, 4))),
      'targets': np.pad(targets, ((0, 0), (0, 4))),
  }
  longer['inputs'][0, 4:] = 7  # junk after the end must not matter either
  nll, tokens = losses.token_nll(model, params, batch)
  nll_long, tokens_long = losses.token_nll(model, params, longer)
  assert tokens == tokens_long == BATCH * STEPS - 2
  np.testing.assert_allclose(nll, nll_long, rtol=1e-6)


@pytest.mark.parametrize('name', ['2f', 'mrnn'])
def test_bfloat16_compute_stays_close_with_float32_params(name):
  model32, params, features, inputs = build(name)
  model16 = build(name, 'bfloat16')[0]
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
  logits16 = model16.apply({'params': params}, features, inputs)
  logits32 = model32.apply({'params': params}, features, inputs)
  assert logits16.dtype == jnp.float32
  np.testing.assert_allclose(logits16[..., :VOCAB], logits32[..., :VOCAB], atol=2e-2)


@pytest.mark.parametrize('name', MODELS)
def test_gradients_are_finite(name):
  model, params, features, inputs = build(name)
  batch = {'features': features, 'inputs': inputs, 'targets': inputs}
  grads = jax.grad(lambda p: losses.token_nll(model, p, batch)[0])(params)
  assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


def lrcn_count(variant, V, E, H, F):
  """Closed form: embedding, LSTMs (W_x + b + W_h [+ W_image]), softmax."""
  Vp = -(-V // 128) * 128
  lstm = lambda d_in, static: 4 * H * (d_in + 1 + H + static)
  layers = {
      '1u': lstm(E, F),
      '2u': lstm(E, F) + lstm(H, 0),
      '2f': lstm(E, 0) + lstm(H, F),
  }[variant]
  return V * E + layers + H * Vp + Vp


def mrnn_count(use_image, V, F, E1=128, E2=256, M=512):
  """Closed form: W1, W2 + b2, U_r, V_w + b, V_r, [V_I], softmax."""
  Vp = -(-V // 128) * 128
  return (V * E1 + E1 * E2 + E2 + E2 * E2 + E2 * M + M + E2 * M
          + use_image * F * M + M * Vp + Vp)


@pytest.mark.parametrize('name', MODELS)
def test_parameter_counts_at_paper_sizes(name):
  V, F = 8800 + 4, 4096  # COCO words seen >= 5 times, with mmcap's 4 specials
  config = tiny_config().model
  if name in ('mrnn', 'rnn_base'):
    config.name, config.embed_dim, config.hidden_dim = name, 128, 256
    config.multimodal_dim = 512
    expected = mrnn_count(name == 'mrnn', V, F)
  else:
    config.variant, config.embed_dim, config.hidden_dim = name, 1000, 1000
    expected = lrcn_count(name, V, 1000, 1000, F)
  model = models.build(config, V)
  shapes = jax.eval_shape(
      model.init, jax.random.key(0), jnp.zeros((1, F)), jnp.zeros((1, 20), jnp.int32))
  assert sum(np.prod(p.shape) for p in jax.tree.leaves(shapes)) == expected


def test_rnn_base_ignores_the_image():
  model, params, features, inputs = build('rnn_base')
  other = model.apply({'params': params}, features + 1.0, inputs)
  np.testing.assert_array_equal(model.apply({'params': params}, features, inputs), other)


def test_sentence_normalization_is_the_papers_cost():
  """m-RNN's cost: summed NLL of each sentence, averaged over sentences."""
  model, params, features, inputs = build('mrnn')
  model = model.clone(config=dataclasses.replace(model.config, dropout=0.0))  # train_step's loss equals eval's
  targets = np.concatenate([inputs[:, 1:], np.full((BATCH, 1), 2)], 1).astype(np.int32)
  targets[0, 2:] = PAD_ID
  batch = {'features': features, 'inputs': inputs, 'targets': targets}
  optimizer = steps.make_optimizer(tiny_config().optimizer)
  state = steps.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params),
                           jax.random.key(0))
  nll, _ = losses.token_nll(model, params, batch)
  for normalization, count in (('sentence', BATCH), ('token', BATCH * STEPS - 3)):
    loss_fn = functools.partial(losses.next_word_loss, model, normalization=normalization)
    _, metrics = steps.train_step(state, batch, loss_fn=loss_fn, optimizer=optimizer)
    np.testing.assert_allclose(metrics['loss'], nll / count, rtol=1e-6)


@pytest.mark.parametrize('name', ['mrnn', 'rnn_base'])
def test_mrnn_dropout_is_on_the_multimodal_layer(name):
  """Dropout on m(t) before the softmax: at a rate near 1, training-mode
  logits are the softmax layer's bias alone, whatever the words and image."""
  model, params, features, inputs = build(name)
  model = model.clone(config=dataclasses.replace(model.config, dropout=0.999999))
  logits = model.apply({'params': params}, features, inputs, train=True,
                       rngs={'dropout': jax.random.key(0)})
  bias = np.asarray(params['output']['Dense_0']['bias'][:VOCAB])
  np.testing.assert_allclose(logits[..., :VOCAB], np.broadcast_to(bias, (BATCH, STEPS, VOCAB)),
                             atol=1e-6)
  evaluation = model.apply({'params': params}, features, inputs)  # no dropout
  np.testing.assert_allclose(evaluation[..., :VOCAB],
                             reference(name, params, features, inputs)[..., :VOCAB],
                             rtol=1e-5, atol=1e-5)


def test_unknown_model_is_named():
  config = tiny_config().model
  config.variant = '3x'
  with pytest.raises(InputError, match='--config.model.variant=.3x.'):
    models.build(config, VOCAB)


@pytest.mark.parametrize('name', MODELS)
def test_every_captioner_follows_the_protocol(name):
  """The methods decoding and retrieval call, with the protocol's signatures,
  agreeing with the forward pass."""
  model, params, features, inputs = build(name)
  assert isinstance(model, models.captioner.FactoredCaptioner)
  for method in ('__call__', 'init_decode', 'decode_step', 'sentence_terms',
                 'image_terms', 'pair_logits'):
    want = inspect.signature(getattr(models.captioner.FactoredCaptioner, method)).parameters
    got = inspect.signature(getattr(type(model), method)).parameters
    assert list(got) == list(want), method
  apply = lambda method, *args: model.apply({'params': params}, *args, method=method)
  sentence_terms = apply(model.sentence_terms, inputs)
  image_terms = apply(model.image_terms, features)
  assert sentence_terms.shape[:2] == (BATCH, STEPS) and image_terms.shape[0] == BATCH
  np.testing.assert_allclose(apply(model.pair_logits, sentence_terms, image_terms),
                             model.apply({'params': params}, features, inputs),
                             rtol=1e-6, atol=1e-6)
  logits, _ = apply(model.decode_step, apply(model.init_decode, features), inputs[:, 0])
  assert logits.shape == (BATCH, 16)


@pytest.mark.parametrize('cell', ['lstm', 'relu'])
@pytest.mark.parametrize('masked, unroll', [(False, 1), (True, 1), (True, 3)])
def test_recurrence_gradient_equals_autodiff_of_a_plain_scan(cell, masked, unroll):
  # scan_recurrence's hand-written gradient (the kernel's as one matmul after
  # the loop) against jax.grad of the same steps in a plain lax.scan: of the
  # kernel, the initial carry and the inputs, through hidden states and the
  # final carry alike; unrolled (3 of 5 steps, so with a remainder) or not.
  from mmcap.models import recurrence  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  batch, steps_, hidden = 3, 5, 4
  cell_fn = {'lstm': recurrence.lstm_cell, 'relu': recurrence.relu_cell}[cell]
  gates = 4 * hidden if cell == 'lstm' else hidden
  normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
  carry = (normal(batch, hidden), normal(batch, hidden)) if cell == 'lstm' else normal(batch, hidden)
  kernel, inputs = normal(hidden, gates), normal(batch, steps_, gates)
  keep = (rng.random((batch, steps_)) < 0.6).astype(np.float32) if masked else None
  hidden_weights = normal(batch, steps_, hidden)
  carry_weights = jax.tree.map(lambda x: normal(*x.shape), carry)

  def plain_scan(kernel, carry, inputs):
    def step(carry, xs):
      new, _ = recurrence.recurrent_step(cell_fn, kernel, carry, xs[0])
      if masked:
        new = jax.tree.map(lambda n, o: jnp.where(xs[1][:, None] > 0, n, o), new, carry)
      return new, jax.tree.leaves(new)[0]
    time_major = (jnp.swapaxes(inputs, 0, 1), None if keep is None else keep.T)
    carry, hidden_tbh = jax.lax.scan(step, carry, time_major)
    return carry, jnp.swapaxes(hidden_tbh, 0, 1)

  def loss(scan):
    def fn(kernel, carry, inputs):
      final, hidden_bth = scan(kernel, carry, inputs)
      return jnp.sum(hidden_bth * hidden_weights) + sum(
          jnp.sum(a * w) for a, w in zip(jax.tree.leaves(final), jax.tree.leaves(carry_weights)))
    return fn

  ours = lambda kernel, carry, inputs: recurrence.scan_recurrence(
      cell_fn, kernel, carry, inputs, keep, unroll)
  np.testing.assert_allclose(loss(ours)(kernel, carry, inputs),
                             loss(plain_scan)(kernel, carry, inputs), rtol=1e-6)
  got = jax.grad(loss(ours), (0, 1, 2))(kernel, carry, inputs)
  want = jax.grad(loss(plain_scan), (0, 1, 2))(kernel, carry, inputs)
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('cell', ['lstm', 'relu'])
@pytest.mark.parametrize('row_blocks, unroll', [(1, 1), (2, 3), (3, 1), (7, 5), (9, 2)])
def test_recurrence_over_row_blocks_equals_the_full_one_at_each_rows_steps(
    cell, row_blocks, unroll):
  # With lengths, scan_recurrence runs the rows longest first and computes
  # at each step only the blocks that still have a row with that step: the
  # hidden states at each row's first `length` steps, and the gradients
  # through them, equal the full recurrence's. Rows unsorted, one empty.
  from mmcap.models import recurrence  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  steps_, hidden = 5, 4
  lengths = np.array([3, 5, 0, 1, 5, 2, 4])
  batch = len(lengths)
  cell_fn = {'lstm': recurrence.lstm_cell, 'relu': recurrence.relu_cell}[cell]
  gates = 4 * hidden if cell == 'lstm' else hidden
  normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
  carry = (normal(batch, hidden), normal(batch, hidden)) if cell == 'lstm' else normal(batch, hidden)
  kernel, inputs = normal(hidden, gates), normal(batch, steps_, gates)
  valid = np.arange(steps_) < lengths[:, None]
  hidden_weights = normal(batch, steps_, hidden) * valid[..., None]

  def loss(**kwargs):
    def fn(kernel, carry, inputs):
      _, hidden_bth = recurrence.scan_recurrence(
          cell_fn, kernel, carry, inputs, unroll=unroll, **kwargs)
      return jnp.sum(hidden_bth * hidden_weights), hidden_bth
    return fn

  ragged = loss(lengths_b=jnp.asarray(lengths), row_blocks=row_blocks)
  (value, got_hidden), got = jax.value_and_grad(ragged, (0, 1, 2), has_aux=True)(
      kernel, carry, inputs)
  (expected, want_hidden), want = jax.value_and_grad(loss(), (0, 1, 2), has_aux=True)(
      kernel, carry, inputs)
  np.testing.assert_allclose(value, expected, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(got_hidden)[valid], np.asarray(want_hidden)[valid],
                             rtol=1e-6, atol=1e-6)
  assert np.all(np.isfinite(got_hidden))
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_permute_rows_gradient_is_the_inverse_permutation():
  from mmcap.models import recurrence  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(2)
  a = rng.normal(size=(2, 5, 3)).astype(np.float32)
  order = np.stack([rng.permutation(5), rng.permutation(5)])
  cotangent = rng.normal(size=a.shape).astype(np.float32)
  plain = lambda a: jnp.take_along_axis(a, jnp.asarray(order)[..., None], axis=1)
  got, vjp = jax.vjp(lambda a: recurrence.permute_rows(a, jnp.asarray(order)), a)
  want, want_vjp = jax.vjp(plain, a)
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(vjp(cotangent)[0], want_vjp(cotangent)[0])


# LRCN's training loss under data parallelism on 2 devices: each device
# sorts and computes only its own rows (no all-gather in the compiled step),
# and the loss and gradients equal those of the full logits, with one
# caption's targets not a prefix of its steps (a <pad> target mid-row).
SHARDED_LOSS_SCRIPT = """
import json, sys, re
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
sys.path.insert(0, 'tests')
from mmcap import losses, models
import test_models

config = test_models.model_config('2f')
model = models.build(config, test_models.VOCAB)
rng = np.random.default_rng(0)
batch_size, steps = 8, 6
lengths = rng.integers(1, steps + 1, batch_size)
inputs = rng.integers(4, test_models.VOCAB, (batch_size, steps)).astype(np.int32)
targets = np.where(np.arange(steps) < lengths[:, None], np.roll(inputs, -1, 1), 0).astype(np.int32)
targets[0, 1] = 0  # a gap: positions that are not a prefix
batch = {'features': rng.normal(size=(batch_size, test_models.FEATURES)).astype(np.float32),
         'inputs': inputs, 'targets': targets}
params = model.init(jax.random.key(0), batch['features'][:1], inputs[:1])['params']
mesh = Mesh(np.array(jax.devices()), ('data',))
data, replicated = NamedSharding(mesh, P('data')), NamedSharding(mesh, P())

def loss(params, batch):
  return losses.next_word_loss(model, params, batch, None, 'token')[0]

def plain(params, batch):
  nll, tokens = losses.token_nll(model, params, batch, None)
  return nll / tokens

step = jax.jit(jax.value_and_grad(loss), in_shardings=(replicated, data))
text = step.lower(params, batch).compile().as_text()
value, grads = step(params, batch)
want, want_grads = jax.jit(jax.value_and_grad(plain))(params, batch)
err = max(jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), grads, want_grads)))
print(json.dumps({'devices': jax.device_count(), 'all_gathers': len(re.findall(r'all-gather', text)),
                  'all_reduces': len(re.findall(r'all-reduce\\(', text)),
                  'loss': float(value), 'want': float(want), 'max_grad_error': err}))
"""


def test_sharded_training_loss_keeps_rows_on_their_device():
  proc = run_python('-c', SHARDED_LOSS_SCRIPT,
                    env={'XLA_FLAGS': '--xla_force_host_platform_device_count=2'})
  assert proc.returncode == 0, proc.stderr[-3000:]
  found = json.loads(proc.stdout.strip().splitlines()[-1])
  assert found['devices'] == 2 and found['all_gathers'] == 0, found
  assert found['loss'] == pytest.approx(found['want'], rel=1e-6)
  assert found['max_grad_error'] < 1e-6, found
