"""Likelihood retrieval: rank metrics by hand, pair scores against each model's
own likelihood, and the demo far above random."""

import json

import jax
import numpy as np
import pytest

from mmcap import losses
from mmcap import train
from mmcap.evaluation import retrieval

from conftest import run_python, tiny_config
from test_models import MODELS, build


def test_rank_metrics_by_hand():
  # Sentences 0, 1 describe image 0; 2, 3 image 1. Sentence 3 is generic:
  # likely for every image, so it wins image 0 unless normalized by its prior.
  scores = np.array([[-4.0, -6.0, -9.0, -1.0],
                     [-9.0, -8.0, -4.0, -1.0]])
  metrics = retrieval.retrieval_metrics(scores, np.array([0, 0, 1, 1]))
  # Normalized (log P(S|I) - log mean_I P(S|I)): image 0 ranks s0 first
  # (0.69 > s1 0.57 > s3 0.00 > s2 -4.31), image 1 ranks s2 first.
  assert metrics['i2t_r1'] == 100.0 and metrics['i2t_medr'] == 1.0
  # Unnormalized: s3 (-1) beats image 0's own best s0 (-4): ranks 2 and 1.
  assert metrics['i2t_unnormalized_r1'] == 50.0
  assert metrics['i2t_unnormalized_medr'] == 1.5 and metrics['i2t_unnormalized_meanr'] == 1.5
  # Image retrieval: s0..s2 find their image first; s3 ties (-1, -1) and a
  # tie counts against the true image: rank 2.
  assert metrics['t2i_r1'] == 75.0 and metrics['t2i_meanr'] == 1.25


def test_recall_at_k_and_median():
  # 12 sentences of 12 images; sentence k's image ranks k + 1.
  n = 12
  scores = np.zeros((n, n))
  for k in range(n):
    scores[:, k] = -np.arange(n) - 1.0  # image j scores -(j + 1) for every sentence
    scores[k, k] = -(k + 1) + 0.5 - 1.0  # just below the image ranked k
  metrics = retrieval.retrieval_metrics(scores, np.arange(n))
  ranks = np.arange(1, n + 1)
  assert metrics['t2i_r1'] == pytest.approx(100 / n)
  assert metrics['t2i_r5'] == pytest.approx(500 / n)
  assert metrics['t2i_r10'] == pytest.approx(1000 / n)
  assert metrics['t2i_medr'] == np.median(ranks) and metrics['t2i_meanr'] == ranks.mean()


@pytest.mark.parametrize('num_images, per_image', [(10, 5), (50, 1)])
def test_scores_that_ignore_the_image_rank_at_chance_or_worse(num_images, per_image):
  """A negative control: rows all equal (an image-blind model) cannot be
  ranked; ties count against the true item, in both directions."""
  rng = np.random.default_rng(0)
  sentence_image = np.repeat(np.arange(num_images), per_image)
  blind = np.tile(rng.normal(size=len(sentence_image)), (num_images, 1))
  metrics = retrieval.retrieval_metrics(blind, sentence_image)
  assert metrics['t2i_r1'] == 0.0 and metrics['t2i_medr'] == num_images
  assert metrics['i2t_r1'] == 0.0
  assert metrics['i2t_medr'] == 1 + len(sentence_image) - per_image
  # A NaN score (a broken model) ranks last, not first.
  broken = blind.copy()
  broken[sentence_image, np.arange(len(sentence_image))] = np.nan
  assert retrieval.retrieval_metrics(broken, sentence_image)['t2i_r1'] == 0.0
  # A positive control: the same sentences, each singled out by its image.
  singled = blind.copy()
  singled[sentence_image, np.arange(len(sentence_image))] += 100.0
  metrics = retrieval.retrieval_metrics(singled, sentence_image)
  assert metrics['t2i_r1'] == metrics['i2t_r1'] == 100.0


@pytest.mark.parametrize('name', MODELS)
def test_pair_scores_equal_each_models_own_likelihood(name):
  model, params, _, _ = build(name)
  rng = np.random.default_rng(2)
  features = rng.normal(size=(3, 6)).astype(np.float32)
  # Sentences of 10 to 2 tokens, out of order: blocks of similar length,
  # each cut to its longest (rounded up to 4 steps), 3 to a block.
  lengths = np.array([10, 3, 7, 2, 9, 5, 4])
  inputs = rng.integers(1, 13, size=(7, 10)).astype(np.int32)
  targets = np.concatenate([inputs[:, 1:], np.full((7, 1), 2)], 1).astype(np.int32)
  targets[np.arange(10) >= lengths[:, None]] = 0
  inputs[np.arange(10) >= lengths[:, None]] = 0
  mesh = jax.make_mesh((1,), ('data',), axis_types=(jax.sharding.AxisType.Auto,))
  scores = retrieval.pair_scores(model, params, features, inputs, targets,
                                 images_per_block=2, sentences_per_block=3,
                                 sentence_sharding=jax.NamedSharding(mesh, jax.P('data')))
  assert scores.shape == (3, 7)
  for i in range(3):
    batch = {'features': np.repeat(features[i:i + 1], 7, 0), 'inputs': inputs, 'targets': targets}
    nll, _ = losses.sentence_nll(model, params, batch)
    np.testing.assert_allclose(scores[i], -np.asarray(nll), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_block_scores_equal_whatever_the_images_per_step(name):
  # One image at a time (CPUs), two, or the whole block at once (GPUs).
  model, params, _, _ = build(name)
  rng = np.random.default_rng(3)
  features = rng.normal(size=(3, 6)).astype(np.float32)
  inputs = rng.integers(1, 13, size=(4, 5)).astype(np.int32)
  targets = np.concatenate([inputs[:, 1:], np.full((4, 1), 2)], 1).astype(np.int32)
  apply = lambda method, x: model.apply({'params': params}, x, method=getattr(model, method))
  terms, image_terms = apply('sentence_terms', inputs), apply('image_terms', features)
  scores = [retrieval.block_scores(model, params, terms, image_terms, targets, per_step)
            for per_step in (None, 1, 2)]
  assert scores[0].shape == (3, 4)
  for other in scores[1:]:
    np.testing.assert_allclose(other, scores[0], rtol=1e-5, atol=1e-5)
  assert retrieval.images_per_step() == 1  # the test machines are CPUs


def test_blocks_are_even_and_divide_over_the_devices():
  assert retrieval.block_size(100, 32) == 25  # 4 blocks of 25, not 4 of 32
  assert retrieval.block_size(500, 256) == 250
  assert retrieval.block_size(500, 256, multiple=8) == 256
  assert retrieval.block_size(10, 256) == 10  # never more than the data
  assert retrieval.block_size(1000, 32, multiple=8) == 32


def test_demo_retrieval_far_above_random_from_the_command_line(tmp_path):
  config = tiny_config()
  config.dataset.demo.num_train_images = 600
  config.dataset.demo.num_test_images = 60
  config.dataset.demo.feature_dim = 64
  config.model.embed_dim, config.model.hidden_dim = 32, 64
  config.batch_size, config.num_train_steps = 32, 300
  config.checkpoint_every_steps = config.log_every_steps = 300
  config.best_metric = ''
  for evaluator in config.evals.values():  # the command line evaluates
    evaluator.enabled = False
  train.train_and_evaluate(config, str(tmp_path))
  result = run_python(
      '-m', 'mmcap.main', '--config=tests/tiny_config.py', f'--workdir={tmp_path}',
      '--mode=evaluate', '--config.evals.test_retrieval.enabled=True',
      '--config.evals.test_captions.nearest_neighbour_baseline=True',
      '--config.dataset.demo.num_train_images=600', '--config.dataset.demo.num_test_images=60',
      '--config.dataset.demo.feature_dim=64', '--config.model.embed_dim=32',
      '--config.model.hidden_dim=64', '--config.batch_size=32')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'results.json') as f:
    results = json.load(f)
  for key in ('i2t_r1', 'i2t_r5', 'i2t_r10', 'i2t_medr', 't2i_r1', 't2i_r5', 't2i_r10',
              't2i_medr', 'bleu_4', 'rouge_l', 'cider', 'perplexity', 'bits_per_word',
              'sentence_perplexity', 'nearest_neighbour_bleu_4'):
    assert f'test/{key}' in results, key
  # Random: R@10 = 10 / 60 = 17%, median rank 30 (images) / 150 (of 300 sentences).
  assert results['test/t2i_r10'] > 50 and results['test/t2i_medr'] < 10
  assert results['test/i2t_r10'] > 50 and results['test/i2t_medr'] < 10
  assert results['test/bits_per_word'] == pytest.approx(np.log2(results['test/perplexity']))


def test_rnn_base_trained_on_the_demo_retrieves_at_chance(tmp_path):
  """RNN-Base ignores the image, so its likelihood retrieval is blind."""
  config = tiny_config()
  config.model.name = 'rnn_base'
  config.num_train_steps = 20
  config.evals.test_retrieval.enabled = True
  results = train.train_and_evaluate(config, str(tmp_path))
  # 10 test images of 5 sentences: chance R@1 is 10% (images) and 2% of 50.
  assert results['test/t2i_r1'] == 0.0 and results['test/i2t_r1'] == 0.0
  assert results['test/t2i_medr'] == 10.0
