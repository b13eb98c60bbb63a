"""The PyTorch twins compute mmcap's functions: logits, losses, gradients,
beam search and retrieval scores from the same weights. Skipped without
torch."""

import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from mmcap import decode  # pylint: disable=g-import-not-at-top
from mmcap import losses
from mmcap import models
from mmcap import torch_twin
from mmcap.data import vocab
from mmcap.data.vocab import EOS_ID, PAD_ID
from mmcap.evaluation import retrieval
from mmcap.models import activity

from conftest import run_python

WORDS, FEATURES, STEPS, BATCH = 50, 12, 10, 5
VOCAB = WORDS + len(vocab.SPECIAL_TOKENS)  # 54, padded to 64
CAPTIONERS = ('lrcn_1u', 'lrcn_2u', 'lrcn_2f', 'mrnn', 'rnn_base')


def random_params(model, *inputs):
  """Params of the structure `model.init` gives, drawn from U(-0.3, 0.3):
  biases too, so that their layout is tested."""
  rng = np.random.default_rng(0)
  shapes = jax.eval_shape(model.init, jax.random.key(0), *inputs)['params']
  return jax.tree.map(lambda s: jnp.asarray(rng.uniform(-0.3, 0.3, s.shape), jnp.float32), shapes)


@functools.cache
def build(name: str):
  """A tiny mmcap captioner and its params."""
  lrcn = name.startswith('lrcn_')
  config = ml_collections.ConfigDict(dict(
      name='lrcn' if lrcn else name, variant=name.removeprefix('lrcn_') if lrcn else '2f',
      embed_dim=8, hidden_dim=16, multimodal_dim=12, vocab_multiple=16, dropout=0.5))
  model = models.build(config, VOCAB)
  features, inputs = np.zeros((1, FEATURES), np.float32), np.zeros((1, 2), np.int32)
  return model, random_params(model, features, inputs)


def batch(size: int = BATCH, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  return {'features': rng.normal(size=(size, FEATURES)).astype(np.float32),
          **vocab.random_captions(rng, size, STEPS, WORDS)}


def mmcap_loss(model, params, data):
  return losses.next_word_loss(model, params, data, None, 'token')[0]


def _lstm_layout(kernel, torch_order: bool):
  """An mmcap gate kernel [D, 4H] (i, f, o, g) as the twin holds it: [4H, D],
  in nn.LSTM's gate order i, f, g, o or in mmcap's."""
  i, f, o, g = np.split(np.asarray(kernel), 4, axis=-1)
  return np.concatenate([i, f, g, o] if torch_order else [i, f, o, g], -1).T


def _gradient_pairs(name, grads):
  """(twin parameter name, mmcap gradient in the twin's layout)."""
  pairs = [('output.linear.weight', grads['output']['Dense_0']['kernel'].T)]
  if name.startswith('lrcn_'):
    image_layer = 1 if name == 'lrcn_2f' else 0
    for k in range(1 if name == 'lrcn_1u' else 2):
      layer = grads[f'lstms_{k}']
      torch_name = 'weight_hh' if k == image_layer else 'weight_hh_l0'
      pairs.append((f'lstms.{k}.{torch_name}',
                    _lstm_layout(layer['recurrent_kernel'], k != image_layer)))
    pairs.append((f'lstms.{image_layer}.weight_image',
                  grads[f'lstms_{image_layer}']['static_proj']['kernel'].T))
    pairs.append(('embed.weight', grads['embed']['embedding']))
  else:
    pairs.append(('recurrent_kernel', grads['recurrent']['recurrent_kernel'].T))
    pairs.append(('embed_2.weight', grads['embed_2']['kernel'].T))
    if name == 'mrnn':
      pairs.append(('multimodal_image.weight', grads['multimodal_image']['kernel'].T))
  return pairs


@pytest.mark.parametrize('name', CAPTIONERS)
def test_logits_loss_and_gradients_match(name):
  model, params = build(name)
  twin, data = torch_twin.captioner(model, params).eval(), batch()
  tensors = torch_twin.to_torch(data)
  logits = twin(tensors['features'], tensors['inputs']).detach()
  loss = torch_twin.next_word_loss(twin, tensors)
  loss.backward()

  @jax.jit
  def expected(params):
    logits = model.apply({'params': params}, data['features'], data['inputs'])
    return logits, *jax.value_and_grad(lambda p: mmcap_loss(model, p, data))(params)

  expected_logits, expected_loss, grads = expected(params)
  assert logits.shape == expected_logits.shape == (BATCH, STEPS, 64)
  np.testing.assert_allclose(logits[..., :VOCAB], expected_logits[..., :VOCAB], atol=1e-5)
  assert torch.all(logits[..., VOCAB:] < -1e8)
  assert loss.item() == pytest.approx(float(expected_loss), rel=1e-5)
  for torch_name, expected in _gradient_pairs(name, grads):
    np.testing.assert_allclose(twin.get_parameter(torch_name).grad.numpy(), expected,
                               atol=1e-4, err_msg=torch_name)


@pytest.mark.parametrize('beam_size', [1, 3])
@pytest.mark.parametrize('name', CAPTIONERS)
def test_beam_search_matches(name, beam_size):
  model, params = build(name)
  # <eos> made likely, so that beams end at different steps and ended beams
  # are carried along.
  output = params['output']['Dense_0']
  eos_bias = output['bias'].at[EOS_ID].add(3.0)
  params = {**params, 'output': {'Dense_0': {**output, 'bias': eos_bias}}}
  twin, features = torch_twin.captioner(model, params), batch(8)['features']
  tokens, scores = torch_twin.beam_search(twin, torch.from_numpy(features), STEPS, beam_size, VOCAB)
  expected_tokens, expected_scores = decode.beam_search(model, params, features, STEPS, beam_size)
  assert tokens.dtype == torch.int64 and tokens.shape == (8, STEPS)
  np.testing.assert_array_equal(tokens.numpy(), np.asarray(expected_tokens))
  np.testing.assert_allclose(scores.numpy(), np.asarray(expected_scores), atol=1e-4)
  assert (tokens[:, -1] == PAD_ID).any()  # some caption ended early


@pytest.mark.parametrize('name', CAPTIONERS)
def test_pair_scores_match(name):
  model, params = build(name)
  twin, data = torch_twin.captioner(model, params), batch(7)
  features = data['features'][:5]
  tensors = torch_twin.to_torch(data)
  scores = torch_twin.pair_scores(twin, tensors['features'][:5], tensors['inputs'],
                                  tensors['targets'], 2, 3)
  mesh = jax.sharding.Mesh(jax.devices()[:1], ('data',))
  expected = retrieval.pair_scores(model, params, features, data['inputs'], data['targets'],
                                   2, 3, jax.sharding.NamedSharding(mesh, jax.P('data')))
  assert scores.shape == (5, 7)
  np.testing.assert_allclose(scores, expected, atol=1e-4)


@pytest.mark.parametrize('name', ['lrcn_2f', 'mrnn'])
def test_dropout_only_in_training(name):
  model, params = build(name)
  twin, tensors = torch_twin.captioner(model, params), torch_twin.to_torch(batch())
  assert twin.dropout.p == 0.5
  with torch.no_grad():
    twin.train()
    assert not torch.equal(twin(tensors['features'], tensors['inputs']),
                           twin(tensors['features'], tensors['inputs']))
    twin.eval()
    assert torch.equal(twin(tensors['features'], tensors['inputs']),
                       twin(tensors['features'], tensors['inputs']))


def build_activity(name: str):
  model = activity.build(ml_collections.ConfigDict(dict(name=name, hidden_dim=16)), 5)
  rng = np.random.default_rng(0)
  data = {'clip': rng.normal(size=(BATCH, 6, FEATURES)).astype(np.float32),
          'mask': (np.arange(6) < rng.integers(2, 7, BATCH)[:, None]).astype(np.float32),
          'label': rng.integers(5, size=BATCH).astype(np.int32)}
  return model, random_params(model, data['clip'][:1]), data


@pytest.mark.parametrize('name', activity.NAMES)
def test_activity_matches(name):
  model, params, data = build_activity(name)
  twin, tensors = torch_twin.activity(model, params).eval(), torch_twin.to_torch(data)
  with torch.no_grad():
    logits = twin(tensors['clip']).numpy()
    loss = float(torch_twin.frame_loss(twin, tensors))
  expected, expected_loss = jax.jit(lambda p: (
      model.apply({'params': p}, data['clip']), losses.frame_loss(model, p, data)[0]))(params)
  np.testing.assert_allclose(logits, expected, atol=1e-5)
  assert loss == pytest.approx(float(expected_loss), rel=1e-5)


@pytest.mark.parametrize('name', ['lrcn_2f', 'mrnn', 'activity_lrcn'])
def test_train_step_lowers_the_loss(name):
  torch.manual_seed(0)
  if name.startswith('activity_'):
    model, params, data = build_activity('lrcn')
    twin, loss_fn = torch_twin.activity(model, params), torch_twin.frame_loss
  else:
    model, params = build(name)
    twin, loss_fn, data = torch_twin.captioner(model, params), torch_twin.next_word_loss, batch()
  step = torch_twin.train_step_fn(twin, loss_fn, lr=0.1)
  tensors = torch_twin.to_torch(data)
  trained = [float(step(tensors)) for _ in range(8)]
  assert twin.training and trained[-1] < trained[0]


def test_benchmark_compares_every_row(tmp_path):
  output = tmp_path / 'bench.jsonl'
  result = run_python('-m', 'mmcap.benchmark', '--size=cpu', '--models=mrnn,activity_lrcn',
                      '--benchmarks=train,decode,retrieval', '--beam_sizes=2', '--steps=1',
                      '--warmup=0', '--compare=torch', f'--output={output}')
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [json.loads(line) for line in output.read_text().splitlines()]
  assert [(r['benchmark'], r['model']) for r in rows] == [
      ('train', 'mrnn'), ('decode', 'mrnn'), ('retrieval', 'mrnn'), ('train', 'activity_lrcn')]
  assert all(r['vs_torch'] > 0 and r['torch'] == torch.__version__ for r in rows)
  assert rows[0]['torch_step_ms'] > 0 and rows[1]['torch_seconds'] > 0
