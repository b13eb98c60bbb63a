import numpy as np

from mmcap.data import demo

from conftest import tiny_config


def test_deterministic_and_split():
  cfg = tiny_config().dataset.demo
  images_a, features_a = demo.make_images(cfg)
  images_b, features_b = demo.make_images(cfg)
  assert images_a == images_b
  np.testing.assert_array_equal(features_a, features_b)
  splits = [im.split for im in images_a]
  assert splits.count('train') == 48 and splits.count('test') == 10
  cfg.seed = 1
  assert demo.make_images(cfg)[0] != images_a


def test_features_carry_caption_content():
  """The nearest training image in feature space has the same colours in its
  captions far more often than a random training image."""
  cfg = tiny_config().dataset.demo
  cfg.num_train_images, cfg.num_test_images, cfg.feature_dim = 600, 200, 64
  images, features = demo.make_images(cfg)

  def colour(image):
    return {w for w in image.sentences[0] if w in demo.COLOURS}

  train = [i for i, im in enumerate(images) if im.split == 'train']
  test = [i for i, im in enumerate(images) if im.split == 'test']
  distances = ((features[test][:, None] - features[train][None]) ** 2).sum(-1)
  nearest = np.asarray(train)[distances.argmin(1)]
  random = np.random.default_rng(0).choice(train, len(test))

  def agreement(neighbours):
    return np.mean([colour(images[t]) == colour(images[n]) for t, n in zip(test, neighbours)])

  assert agreement(nearest) > 4 * agreement(random)
