"""The built-in demo dataset: procedurally composed scenes, no download.

A scene is one group of objects ("two red balls") or two groups in a spatial
relation ("a blue cup to the left of three green boxes"). Its image feature is a
fixed random non-linear map of the scene's attributes plus Gaussian noise, so
the feature carries the content of the captions but must be decoded. Each
image has five captions drawn from a small grammar of phrasings, including the
relation stated the other way round. Everything is a function of the seed.
The result goes through the same path as user data: Karpathy-style records
and a feature matrix, then `records.write_dataset`.
"""

from collections.abc import Iterator

import ml_collections
import numpy as np

from mmcap.data import records
from mmcap.data.sources import Image
from mmcap.data.vocab import Vocabulary

OBJECTS = ('ball', 'box', 'cup', 'car', 'tree', 'house', 'dog', 'cat')
COLOURS = ('red', 'green', 'blue', 'yellow', 'black', 'white')
COUNTS = ('a', 'two', 'three')
RELATIONS = ('to the left of', 'to the right of', 'above', 'below')
INVERSE = {0: 1, 1: 0, 2: 3, 3: 2}
CAPTIONS_PER_IMAGE = 5
_LATENT_DIM = 2 * (len(OBJECTS) + len(COLOURS) + len(COUNTS)) + 1 + len(RELATIONS)


def _noun_phrase(obj: int, colour: int, count: int) -> list[str]:
  noun = OBJECTS[obj]
  if count > 0:
    noun += 'es' if noun.endswith('x') else 's'
  return [COUNTS[count], COLOURS[colour], noun]


def _caption(rng: np.random.Generator, scene: tuple) -> list[str]:
  first, relation, second = scene
  np1 = _noun_phrase(*first)
  be = ['is'] if first[2] == 0 else ['are']
  if second is None:
    templates = (
        lambda: np1,
        lambda: ['there'] + be + np1,
        lambda: ['a', 'picture', 'of'] + np1,
    )
  else:
    np2 = _noun_phrase(*second)
    rel, inv = RELATIONS[relation].split(), RELATIONS[INVERSE[relation]].split()
    be2 = ['is'] if second[2] == 0 else ['are']
    templates = (
        lambda: np1 + rel + np2,
        lambda: ['there'] + be + np1 + rel + np2,
        lambda: np2 + be2 + inv + np1,
        lambda: ['a', 'picture', 'of'] + np1 + rel + np2,
        lambda: np1 + ['and'] + np2,
    )
  return templates[rng.integers(len(templates))]()


def _random_scene(rng: np.random.Generator) -> tuple:
  def group():
    return (
        int(rng.integers(len(OBJECTS))),
        int(rng.integers(len(COLOURS))),
        int(rng.integers(len(COUNTS))),
    )

  if rng.random() < 0.3:
    return group(), None, None
  return group(), int(rng.integers(len(RELATIONS))), group()


def _one_hot(index: int | None, size: int) -> np.ndarray:
  code = np.zeros(size, np.float32)
  if index is not None:
    code[index] = 1.0
  return code


def _latent(scene: tuple) -> np.ndarray:
  """One-hot code of the scene's attributes (zeros for an absent group)."""
  first, relation, second = scene
  sizes = (len(OBJECTS), len(COLOURS), len(COUNTS))
  parts = [_one_hot(v, n) for v, n in zip(first, sizes)]
  parts += [_one_hot(v, n) for v, n in zip(second or (None,) * 3, sizes)]
  parts += [_one_hot(relation, len(RELATIONS)), [float(second is not None)]]
  return np.concatenate(parts)


def _generate(config: ml_collections.ConfigDict) -> Iterator[tuple[Image, tuple, np.ndarray]]:
  """Each image of train, val and test in turn, with its scene and feature."""
  rng = np.random.default_rng(config.seed)
  projection = rng.normal(size=(_LATENT_DIM, config.feature_dim)) / np.sqrt(4.0)
  bias = rng.normal(size=config.feature_dim) * 0.1
  split_sizes = (
      ('train', config.num_train_images),
      ('val', config.num_val_images),
      ('test', config.num_test_images),
  )
  imgid = 0
  for split, size in split_sizes:
    for _ in range(size):
      scene = _random_scene(rng)
      sentences = tuple(
          tuple(_caption(rng, scene)) for _ in range(CAPTIONS_PER_IMAGE)
      )
      image = Image(
          imgid=imgid,
          filename=f'scene_{imgid:06d}.png',
          split=split,
          sentences=sentences,
          sentids=tuple(range(imgid * CAPTIONS_PER_IMAGE, (imgid + 1) * CAPTIONS_PER_IMAGE)),
          image_id=imgid,
      )
      clean = np.maximum(_latent(scene) @ projection + bias, 0.0)
      yield image, scene, clean + config.noise * rng.normal(size=config.feature_dim)
      imgid += 1


def make_images(
    config: ml_collections.ConfigDict,
) -> tuple[list[Image], np.ndarray]:
  """Scenes, captions and (N, feature_dim) features for train/val/test."""
  generated = list(_generate(config))
  return [image for image, _, _ in generated], np.asarray(
      [feature for _, _, feature in generated], np.float32)


def scenes(config: ml_collections.ConfigDict) -> dict[int, tuple]:
  """The scene of each image id, as `make_images` composes it: ((object,
  colour, count), relation, (object, colour, count) or None), indices into
  OBJECTS, COLOURS, COUNTS and RELATIONS (relation None for one group)."""
  return {image.image_id: scene for image, scene, _ in _generate(config)}


def prepare(config: ml_collections.ConfigDict, output_dir: str) -> None:
  """Generates the demo dataset and writes it as a prepared directory."""
  images, features = make_images(config)
  vocab = Vocabulary.build(
      (s for im in images if im.split == 'train' for s in im.sentences),
      min_count=1,
  )
  records.write_dataset(
      images,
      features,
      vocab,
      output_dir,
      source={'captions': 'mmcap demo', 'demo_config': config.to_dict()},
  )
