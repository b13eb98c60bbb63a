"""A prepared dataset on disk: TFRecord shards, a vocabulary and an info file.

Layout of a prepared directory:

  metadata.json              format version, feature_dim, per split: image and
                             caption counts and shard file names, the source
                             (dataset_info.json in directories prepared before
                             the TFDS metadata)
  vocab.json                 the Vocabulary (see vocab.py)
  {split}-{i:05d}-of-{n:05d}.tfrecord
  dataset_info.json, features.json
                             TFDS's metadata: `tfds.builder_from_directory`
                             reads the shards as the dataset 'mmcap_captions'
                             (the fields below nested: image/id is
                             example['image']['id'])

Schema: one `tf.train.Example` per image, so its feature vector is stored once:

  image/id            int64[1]    imgid (the feature row in the source)
  image/result_id     int64[1]    the image's id in results files and
                                  references (sources.Image.image_id: COCO's
                                  cocoid, Flickr30k's file number, else imgid)
  image/filename      bytes[1]
  image/feature       float[D]
  caption/token_ids   int64[sum L_k]  all captions' ids, concatenated, without
                                      <bos>/<eos>
  caption/lengths     int64[K]    L_k, the number of tokens of caption k
  caption/id          int64[K]    sentid
  caption/text        bytes[K]    the reference tokens joined by spaces

Each split's images are written in a random order (seeded), spread over its
shards, so that training reads them globally shuffled: the pipeline shuffles
the shard order each epoch and captions within a buffer. A directory is
written under a temporary name and renamed when complete, so a prepared
directory is never half-written.
"""

import os
from collections.abc import Iterable, Sequence

import numpy as np

from mmcap.data import prepared
from mmcap.data import sources
from mmcap.data.vocab import EOS, SPECIAL_TOKENS, UNK_ID, Vocabulary
from mmcap.errors import InputError
from mmcap.files import write_json

FORMAT_VERSION = 2  # 2: image/result_id, images in a random order
VOCAB_FILE = 'vocab.json'
TFDS_NAME = 'mmcap_captions'


def ints(values: Sequence[int]):
  """An int64 tf.train.Feature."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def strings(values: Sequence[str]):
  """A bytes tf.train.Feature of UTF-8 strings."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))


def caption_features(
    sentences: Sequence[Sequence[str]], sentids: Sequence[int], vocab: Vocabulary
) -> dict:
  """The caption/* fields of the schema, shared by every captioned example."""
  token_ids = [vocab.encode(s) for s in sentences]
  return {
      'caption/token_ids': ints([i for ids in token_ids for i in ids]),
      'caption/lengths': ints([len(ids) for ids in token_ids]),
      'caption/id': ints(sentids),
      'caption/text': strings([' '.join(s) for s in sentences]),
  }


def caption_tfds_features() -> dict:
  """The caption/* fields of the schema as TFDS features."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  ints_of_any_length = tfds.features.Tensor(shape=(None,), dtype=np.int64)
  return {'token_ids': ints_of_any_length, 'lengths': ints_of_any_length,
          'id': ints_of_any_length, 'text': tfds.features.Tensor(shape=(None,), dtype=np.str_)}


def _tfds_features(feature_dim: int) -> dict:
  """The schema as TFDS features."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  return {
      'image': {'id': np.int64, 'result_id': np.int64, 'filename': tfds.features.Text(),
                'feature': tfds.features.Tensor(shape=(feature_dim,), dtype=np.float32)},
      'caption': caption_tfds_features(),
  }


def _example(image: sources.Image, feature: np.ndarray, vocab: Vocabulary):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.train.Example(
      features=tf.train.Features(
          feature={
              'image/id': ints([image.imgid]),
              'image/result_id': ints([image.image_id]),
              'image/filename': strings([image.filename]),
              'image/feature': tf.train.Feature(
                  float_list=tf.train.FloatList(value=feature)
              ),
              **caption_features(image.sentences, image.sentids, vocab),
          }
      )
  )


def check_captions(
    captioned: Iterable[tuple[str, Sequence[int], Sequence[Sequence[str]]]],
    vocab: Vocabulary,
    path: str,
) -> None:
  """Every caption must contain at least one word of the vocabulary.
  `captioned`: (what, e.g. "image 'a.jpg'", sentids, sentences) each."""
  for what, sentids, sentences in captioned:
    for sentid, sentence in zip(sentids, sentences):
      if all(i == UNK_ID for i in vocab.encode(sentence)):
        raise InputError(
            f'{path}: caption sentid={sentid} of {what} has no'
            f' word in the vocabulary (min_word_count={vocab.min_count}):'
            f' {" ".join(sentence)!r}'
        )


def build_vocabulary(
    sentences: Sequence[Sequence[str]],
    min_word_count: int,
    captions_path: str,
    splits: Sequence[str],
) -> Vocabulary:
  """The vocabulary of the captions of the training `splits`, refused when it
  has no word to learn: then no caption could train (every word rarer than
  `min_word_count`, or the captions only special-token strings)."""
  if not sentences:
    raise InputError(f'{captions_path}: no captions in the vocabulary splits {tuple(splits)}')
  vocab = Vocabulary.build(sentences, min_word_count)
  if len(vocab) == len(SPECIAL_TOKENS):
    raise InputError(
        f'{captions_path}: no word of the captions in the vocabulary splits'
        f' {tuple(splits)} is seen min_word_count={min_word_count} times or more'
        f' (special-token strings such as {EOS!r} are not words): nothing to'
        ' train on'
    )
  return vocab


def write_dataset(
    images: Sequence[sources.Image],
    features: np.ndarray,
    vocab: Vocabulary,
    output_dir: str,
    source: dict[str, str],
    images_per_shard: int = 2000,
    order_seed: int = 0,
) -> None:
  """Writes TFRecord shards, vocabulary and info; atomic at the directory
  level. Each split's images go in a random order drawn from `order_seed`."""
  prepared.check_positive('images_per_shard', images_per_shard)
  if features.ndim != 2 or not features.shape[1]:
    raise InputError(
        f'{source.get("features", "<features>")}: expected (N, D) features with'
        f' D >= 1, got shape {features.shape}'
    )
  check_captions(
      ((f'image {im.filename!r}', im.sentids, im.sentences) for im in images),
      vocab, source.get('captions', '<captions>'),
  )
  with prepared.atomic_directory(output_dir) as tmp_dir:
    splits = {}
    rng = np.random.default_rng(order_seed)
    for split in sources.SPLITS:
      members = [im for im in images if im.split == split]
      if not members:
        continue
      shards = prepared.write_shards(
          tmp_dir, split, members, images_per_shard, rng,
          lambda image, _: _example(image, features[image.imgid], vocab).SerializeToString(),
          captions_of=lambda image: len(image.sentences),
      )
      splits[split] = {
          'num_images': len(members),
          'num_captions': sum(len(im.sentences) for im in members),
          **shards,
      }
    info = {
        'format_version': FORMAT_VERSION,
        'feature_dim': int(features.shape[1]),
        'vocab_size': len(vocab),
        'splits': splits,
        'source': source,
    }
    vocab.save(os.path.join(tmp_dir, VOCAB_FILE))
    prepared.write_tfds_metadata(
        tmp_dir, TFDS_NAME, FORMAT_VERSION, _tfds_features(info['feature_dim']), splits,
        'images', 'Images (their CNN features) and captions, prepared by mmcap; its'
        ' metadata (builder.info.metadata) holds the vocabulary size and the source.')
    write_json(os.path.join(tmp_dir, prepared.INFO_FILE), info)  # last: see atomic_directory


def prepare_dataset(
    captions_path: str,
    images: Sequence[sources.Image],
    features_path: str,
    output_dir: str,
    min_word_count: int = 5,
    vocab_splits: tuple[str, ...] = ('train', 'restval'),
    feature_dim: int | None = None,
    images_per_shard: int = 2000,
) -> None:
  """Validates the settings, captions and features, builds the vocabulary,
  writes records; anything wrong is refused before the output is made."""
  prepared.check_positive('images_per_shard', images_per_shard)
  prepared.check_positive('feature_dim', feature_dim)
  prepared.check_new_directory(output_dir)
  vocab = build_vocabulary(
      [s for im in images if im.split in vocab_splits for s in im.sentences],
      min_word_count, captions_path, vocab_splits,
  )
  features = sources.load_features(features_path, len(images), feature_dim)
  write_dataset(
      images,
      features,
      vocab,
      output_dir,
      source={'captions': captions_path, 'features': features_path},
      images_per_shard=images_per_shard,
  )


def load_info(dataset_dir: str) -> dict:
  """Reads and checks the info file of a prepared directory (or a workdir's
  copy)."""
  path = prepared.info_path(dataset_dir)
  info = prepared.read_json(
      path, f'is {dataset_dir!r} a prepared dataset (see `python -m mmcap.prepare`)?'
  )
  if not isinstance(info, dict) or info.get('format_version') != FORMAT_VERSION:
    found = info.get('format_version') if isinstance(info, dict) else None
    raise InputError(
        f'{path}: format_version {found}, expected {FORMAT_VERSION}; prepare'
        ' the dataset again with this mmcap (python -m mmcap.prepare)'
    )
  return info
