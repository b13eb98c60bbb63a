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
import io
import json
import math
import os
import re
from collections.abc import Iterator
from tokenize import TokenError
from typing import BinaryIO

from etils import epath
import numpy as np
import scipy.io

from mmcap.data.vocab import SPECIAL_TOKENS
from mmcap.errors import InputError
from mmcap.files import io_errors, is_url, reason

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
  folder: str = ''  # a Karpathy JSON's filepath (COCO: 'train2014'), if any


def _field(obj, key, kind, where, path):
  if not isinstance(obj, dict) or key not in obj:
    raise InputError(f'{path}: {where} has no field "{key}"')
  value = obj[key]
  if not isinstance(value, kind) or isinstance(value, bool):
    raise InputError(
        f'{path}: {where}.{key} must be {kind.__name__}, got'
        f' {type(value).__name__}'
    )
  if kind is int and not is_int64(value):
    raise InputError(f'{path}: {where}.{key} is {value}, beyond int64 (records store int64)')
  return value


def is_int64(value: int) -> bool:
  """Whether an id fits the int64 fields of TFRecord examples."""
  return -2**63 <= value < 2**63


def read_karpathy_json(path: str) -> list[Image]:
  """Reads and validates a Karpathy-splits JSON file."""
  try:
    with epath.Path(path).open() as f:
      data = json.load(f)
  except FileNotFoundError:
    raise InputError(f'{path}: captions file not found') from None
  except io_errors() as e:
    raise InputError(f'{path}: cannot read the captions file ({reason(e)})') from None
  except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
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
            folder=entry['filepath'] if isinstance(entry.get('filepath'), str) else '',
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
  if all(isinstance(c, int) and not isinstance(c, bool) and is_int64(c) for c in cocoids):
    if len(set(cocoids)) == len(cocoids):
      return cocoids
  stems = [
      os.path.splitext(str(e.get('filename', '')))[0] if isinstance(e, dict) else ''
      for e in entries
  ]
  if all(s.isdecimal() for s in stems) and len(set(map(int, stems))) == len(stems):
    return [int(s) for s in stems]
  return None


def tokenize(raw: str) -> tuple[str, ...]:
  """Lower-cased alphanumeric words, as in the Karpathy JSON files. The
  special-token strings ('<pad>', '<bos>', '<eos>', '<unk>') stay whole, as
  in a Karpathy JSON's tokens, rather than become the words 'pad', 'eos', ...:
  they are markup, never vocabulary words, and encode as <unk> (vocab.py)."""
  return tuple(re.findall(_TOKEN, raw.lower()))


_TOKEN = '|'.join([*(re.escape(t) for t in SPECIAL_TOKENS), '[a-z0-9]+'])


def text_lines(path: str, what: str, blank_lines: bool = False) -> Iterator[tuple[int, str]]:
  """(line number, line without its newline) of a UTF-8 text file's
  non-blank lines (every line, with `blank_lines`); `what` names the file
  in errors ('Flickr8k split list')."""
  try:
    with epath.Path(path).open('rb') as f:
      for n, line in enumerate(f, 1):
        line = line.decode('utf-8')
        if blank_lines or line.strip():
          yield n, line.rstrip('\r\n')
  except FileNotFoundError:
    raise InputError(f'{path}: {what} not found') from None
  except UnicodeDecodeError as e:
    raise InputError(f'{path}: not a UTF-8 text file ({e})') from None
  except io_errors() as e:
    raise InputError(f'{path}: cannot read the {what} ({reason(e)})') from None


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
    for _, line in text_lines(os.path.join(directory, name), 'Flickr8k split list'):
      split_of[line.strip()] = split
  path = os.path.join(directory, 'Flickr8k.token.txt')
  captions: dict[str, list[tuple[str, ...]]] = {}
  for line_no, line in text_lines(path, 'Flickr8k captions file'):
    key, sep, raw = line.partition('\t')
    name, hash_, _ = key.rpartition('#')
    if not sep or not hash_:
      raise InputError(f'{path}:{line_no}: expected "NAME.jpg#k<TAB>caption"')
    if name in split_of:
      captions.setdefault(name, []).append(tokenize(raw))
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


def names_path(features_path: str) -> str:
  """The file beside a features .npy that names its rows, one per line, as
  `mmcap.extract` writes it: feats.npy -> feats.names.txt."""
  return features_path.removesuffix('.npy') + '.names.txt'


def read_feature_rows(features_path: str) -> dict[str, int]:
  """{image name: its row} from the names file beside `features_path`."""
  path = names_path(features_path)
  rows = {}
  for line, name in text_lines(path, f'names file of {features_path}', blank_lines=True):
    if not name.strip():
      raise InputError(f'{path}: line {line} names no image; each line names the image of its row')
    if name in rows:
      raise InputError(f'{path}: names a row twice; each name must be one image\'s')
    rows[name] = line - 1
  return rows


def read_npy(path: str, missing: str) -> np.ndarray:
  """A .npy file's array of numbers, memory-mapped. Its header is checked
  against the file's size first, so a truncated file, or one whose header
  claims a huge shape, is refused rather than allocated. `missing` says
  what a missing file is ('features file not found'). A URL's file is
  read whole into memory: there is no memory map over a network."""
  buffer = None
  try:
    if is_url(path):
      buffer = io.BytesIO(epath.Path(path).read_bytes())
      shape, dtype = _npy_header(buffer, path)
      data_start, size = buffer.tell(), len(buffer.getbuffer())
    else:
      with open(path, 'rb') as f:
        shape, dtype = _npy_header(f, path)
        data_start = f.tell()
      size = os.path.getsize(path)
  except FileNotFoundError:
    raise InputError(f'{path}: {missing}') from None
  except io_errors() as e:
    raise InputError(f'{path}: cannot read ({reason(e)})') from None
  needed = data_start + math.prod(shape) * dtype.itemsize
  if dtype.hasobject:
    raise InputError(f'{path}: holds Python objects (dtype {dtype}), expected numbers')
  if size < needed:
    raise InputError(
        f'{path}: truncated: {size} bytes, but its header (shape {shape}, dtype'
        f' {dtype}) needs {needed}')
  try:
    if buffer is not None:
      buffer.seek(0)
      return np.load(buffer, allow_pickle=False)
    return np.load(path, mmap_mode='r', allow_pickle=False)
  except (OSError, ValueError) as e:
    raise InputError(f'{path}: cannot read as a .npy array ({e})') from None


def _npy_header(f: BinaryIO, path: str) -> tuple[tuple[int, ...], np.dtype]:
  """The shape and dtype in the header of an open .npy file."""
  try:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
      shape, _, dtype = np.lib.format.read_array_header_2_0(f)
  except (ValueError, TokenError) as e:
    raise InputError(f'{path}: not a .npy file ({e})') from None
  return shape, dtype


def _read_mat_feats(path: str) -> np.ndarray:
  """The `feats` variable of a .mat file (neuraltalk's vgg_feats.mat)."""
  try:
    with epath.Path(path).open('rb') as f:
      mat = scipy.io.loadmat(f)
  except FileNotFoundError:
    raise InputError(f'{path}: features file not found') from None
  # scipy's parser fails on a corrupt file in many ways (IndexError,
  # TypeError, MatReadError, OSError, ...): each is a file it cannot read.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise InputError(f'{path}: not a readable MATLAB file ({type(e).__name__}: {e})') from None
  if 'feats' not in mat:
    raise InputError(f'{path}: no variable "feats" (neuraltalk layout)')
  return np.asarray(mat['feats'])


def is_real(dtype: np.dtype) -> bool:
  """Whether features of `dtype` are real numbers (integers or floats; not
  booleans, complex numbers, strings or objects)."""
  return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def as_float32(array: np.ndarray, path: str) -> np.ndarray:
  """A float32 copy of `array` in memory (not a view of a memory-mapped
  file), refusing NaN, Inf and values beyond float32's range."""
  with np.errstate(over='ignore', invalid='ignore'):
    array = np.array(array, np.float32)
  if not np.all(np.isfinite(array)):
    raise InputError(f'{path}: features contain NaN or Inf (or values beyond float32)')
  return array


def load_features(
    path: str, num_images: int | None, feature_dim: int | None = None
) -> np.ndarray:
  """Loads (N, D) float32 features from `.npy` (N, D) or `.mat` (D, N).

  `num_images` and `feature_dim`, when given, are the N and D the caller
  expects (N = one row per imgid; D e.g. 4096 for fc7).
  """
  if path.endswith('.npy'):
    features = read_npy(path, 'features file not found')
    layout, stored_shape = '(N, D)', features.shape
  elif path.endswith('.mat'):
    features = _read_mat_feats(path)
    layout, stored_shape = '(D, N)', features.shape
    if features.ndim == 2:
      features = features.T
  else:
    raise InputError(f'{path}: features must be a .npy or .mat file')
  if features.ndim != 2:
    raise InputError(
        f'{path}: features must be 2-D {layout}, got shape {stored_shape}'
    )
  if not features.shape[1]:
    raise InputError(
        f'{path}: expected {layout} with D >= 1 feature dimensions, got shape'
        f' {stored_shape}'
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
  if not is_real(features.dtype):
    raise InputError(f'{path}: features must be real numbers, got {features.dtype}')
  return as_float32(features, path)
