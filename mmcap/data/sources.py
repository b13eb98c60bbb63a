"""Readers for the caption and feature files users already have.

Captions: a Karpathy-splits JSON (`dataset_{coco,flickr8k,flickr30k}.json`) or
the raw Flickr8k text release. Features: a `.npy` of shape (N, D) whose row is
the image's `imgid`, or neuraltalk's `vgg_feats.mat` whose `feats` is (D, N).
Every reader validates fully and raises `InputError` naming the file and field.

Each image gets the id that results files and the COCO tools use
(`Image.image_id`): the Karpathy JSON's `cocoid` where every image has one
(COCO, so results load against the official captions_val2014.json), else the
file name's number where every file name is a distinct number (Flickr30k's
'1000092795.jpg'), else `imgid` (Flickr8k).
"""

import dataclasses
import json
import os
import re

import numpy as np
import scipy.io

from mmcap.errors import InputError

SPLITS = ('train', 'restval', 'val', 'test')


@dataclasses.dataclass(frozen=True)
class Image:
  """One image and its reference sentences (each a list of tokens)."""

  imgid: int  # its row in the features file
  filename: str
  split: str
  sentences: tuple[tuple[str, ...], ...]
  sentids: tuple[int, ...]
  image_id: int  # its id in results files (see the module docstring)


def _field(obj, key, kind, where, path):
  if not isinstance(obj, dict) or key not in obj:
    raise InputError(f'{path}: {where} has no field "{key}"')
  value = obj[key]
  if not isinstance(value, kind) or isinstance(value, bool):
    raise InputError(
        f'{path}: {where}.{key} must be {kind.__name__}, got'
        f' {type(value).__name__}'
    )
  return value


def read_karpathy_json(path: str) -> list[Image]:
  """Reads and validates a Karpathy-splits JSON file."""
  try:
    with open(path) as f:
      data = json.load(f)
  except FileNotFoundError:
    raise InputError(f'{path}: captions file not found') from None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise InputError(f'{path}: not valid JSON ({e})') from None
  entries = _field(data, 'images', list, 'top level', path)
  images = []
  image_ids = _image_ids(entries)
  for i, entry in enumerate(entries):
    where = f'images[{i}]'
    split = _field(entry, 'split', str, where, path)
    if split not in SPLITS:
      raise InputError(f'{path}: {where}.split is "{split}", expected one of {SPLITS}')
    sentences, sentids = [], []
    for j, sentence in enumerate(_field(entry, 'sentences', list, where, path)):
      swhere = f'{where}.sentences[{j}]'
      tokens = _field(sentence, 'tokens', list, swhere, path)
      if not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise InputError(
            f'{path}: {swhere}.tokens must be a non-empty list of words'
        )
      sentences.append(tuple(tokens))
      sentids.append(_field(sentence, 'sentid', int, swhere, path))
    if not sentences:
      raise InputError(f'{path}: {where} has no sentences')
    images.append(
        Image(
            imgid=_field(entry, 'imgid', int, where, path),
            filename=_field(entry, 'filename', str, where, path),
            split=split,
            sentences=tuple(sentences),
            sentids=tuple(sentids),
            image_id=image_ids[i] if image_ids else entry['imgid'],
        )
    )
  if not images:
    raise InputError(f'{path}: "images" is empty')
  imgids = sorted(im.imgid for im in images)
  if imgids != list(range(len(images))):
    raise InputError(
        f'{path}: imgid values must be 0..{len(images) - 1}, each once (they'
        ' index the feature rows)'
    )
  return images


def _image_ids(entries: list) -> list[int] | None:
  """The entries' cocoids, or their file names' numbers, if every entry has a
  distinct one; else None."""
  cocoids = [e.get('cocoid') if isinstance(e, dict) else None for e in entries]
  if all(isinstance(c, int) and not isinstance(c, bool) for c in cocoids):
    if len(set(cocoids)) == len(cocoids):
      return cocoids
  stems = [
      os.path.splitext(str(e.get('filename', '')))[0] if isinstance(e, dict) else ''
      for e in entries
  ]
  if all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
    return [int(s) for s in stems]
  return None


def tokenize(raw: str) -> tuple[str, ...]:
  """Lower-cased alphanumeric words, as in the Karpathy JSON files."""
  return tuple(re.findall(r'[a-z0-9]+', raw.lower()))


def read_flickr8k_text(directory: str) -> list[Image]:
  """Reads the raw Flickr8k release into the same records as the JSON.

  Images in no split list are dropped (as in Karpathy's JSON); `imgid` numbers
  the kept images in their order of first appearance in Flickr8k.token.txt, so
  a features file for this source must have its rows in that order.
  """
  split_files = {
      'train': 'Flickr_8k.trainImages.txt',
      'val': 'Flickr_8k.devImages.txt',
      'test': 'Flickr_8k.testImages.txt',
  }
  split_of = {}
  for split, name in split_files.items():
    path = os.path.join(directory, name)
    try:
      with open(path) as f:
        for line in f:
          if line.strip():
            split_of[line.strip()] = split
    except FileNotFoundError:
      raise InputError(f'{path}: Flickr8k split list not found') from None
  path = os.path.join(directory, 'Flickr8k.token.txt')
  captions: dict[str, list[tuple[str, ...]]] = {}
  try:
    with open(path) as f:
      for line_no, line in enumerate(f, 1):
        if not line.strip():
          continue
        key, sep, raw = line.rstrip('\n').partition('\t')
        name, hash_, _ = key.rpartition('#')
        if not sep or not hash_:
          raise InputError(
              f'{path}:{line_no}: expected "NAME.jpg#k<TAB>caption"'
          )
        if name in split_of:
          captions.setdefault(name, []).append(tokenize(raw))
  except FileNotFoundError:
    raise InputError(f'{path}: Flickr8k captions file not found') from None
  images, sentid = [], 0
  for imgid, (name, sentences) in enumerate(captions.items()):
    for tokens in sentences:
      if not tokens:
        raise InputError(f'{path}: a caption of {name} has no words')
    ids = tuple(range(sentid, sentid + len(sentences)))
    sentid += len(sentences)
    images.append(Image(imgid, name, split_of[name], tuple(sentences), ids, imgid))
  if not images:
    raise InputError(f'{path}: no caption belongs to an image of the split lists')
  return images


def load_features(
    path: str, num_images: int | None, feature_dim: int | None = None
) -> np.ndarray:
  """Loads (N, D) float32 features from `.npy` (N, D) or `.mat` (D, N).

  `num_images` and `feature_dim`, when given, are the N and D the caller
  expects (N = one row per imgid; D e.g. 4096 for fc7).
  """
  try:
    if path.endswith('.npy'):
      features = np.load(path, allow_pickle=False)
      layout, stored_shape = '(N, D)', features.shape
    elif path.endswith('.mat'):
      mat = scipy.io.loadmat(path)
      if 'feats' not in mat:
        raise InputError(f'{path}: no variable "feats" (neuraltalk layout)')
      features = mat['feats']
      stored_shape = features.shape
      if features.ndim == 2:
        features = features.T
      layout = '(D, N)'
    else:
      raise InputError(f'{path}: features must be a .npy or .mat file')
  except FileNotFoundError:
    raise InputError(f'{path}: features file not found') from None
  except (ValueError, OSError) as e:
    raise InputError(f'{path}: cannot read features ({e})') from None
  if features.ndim != 2:
    raise InputError(
        f'{path}: features must be 2-D {layout}, got shape {stored_shape}'
    )
  if num_images is not None and features.shape[0] != num_images:
    raise InputError(
        f'{path}: expected {layout} with N = {num_images} images (one per'
        f' imgid), got shape {stored_shape}'
    )
  if feature_dim is not None and features.shape[1] != feature_dim:
    raise InputError(
        f'{path}: expected {layout} with D = {feature_dim} feature'
        f' dimensions, got shape {stored_shape}'
    )
  if not np.issubdtype(features.dtype, np.number):
    raise InputError(f'{path}: features must be numeric, got {features.dtype}')
  features = np.asarray(features, np.float32)
  if not np.all(np.isfinite(features)):
    raise InputError(f'{path}: features contain NaN or Inf')
  return features
