"""Readers for UCF101's official split lists and a directory of per-video
feature files.

  classInd.txt       '<1-based label> <Class>' per line
  trainlistNN.txt    'Class/v_Class_gGG_cCC.avi <1-based label>' per line
  testlistNN.txt     'Class/v_Class_gGG_cCC.avi' per line (the label is the
                     class of the folder)
  FEATURES_DIR/<video>.npy   [T, D] per-frame features of one stream, where
                     <video> is the file name without '.avi'
                     (v_ApplyEyeMakeup_g08_c01), T >= 1 frames

Every reader validates fully and raises `InputError` naming the file, line or
video and what was expected.
"""

import os

import numpy as np

from mmcap.data.video_records import Video
from mmcap.errors import InputError


def _lines(path: str) -> list[tuple[int, str]]:
  try:
    with open(path) as f:
      return [(n, line.strip()) for n, line in enumerate(f, 1) if line.strip()]
  except FileNotFoundError:
    raise InputError(f'{path}: UCF101 split list not found') from None


def read_split(lists_dir: str, split: int) -> tuple[list[str], list[Video]]:
  """The class names (by 0-based label) and the train and test videos of
  official split 1, 2 or 3."""
  if split not in (1, 2, 3):
    raise InputError(f'--split={split}: expected 1, 2 or 3')
  path = os.path.join(lists_dir, 'classInd.txt')
  classes = []
  for n, line in _lines(path):
    label, _, name = line.partition(' ')
    if not label.isdigit() or int(label) != len(classes) + 1 or not name:
      raise InputError(f'{path}:{n}: expected "{len(classes) + 1} <Class>", got {line!r}')
    classes.append(name)
  labels = {name: i for i, name in enumerate(classes)}
  videos = []
  for split_name in ('train', 'test'):
    path = os.path.join(lists_dir, f'{split_name}list{split:02d}.txt')
    for n, line in _lines(path):
      entry, _, given = line.partition(' ')
      folder, _, filename = entry.rpartition('/')
      if folder not in labels or not filename.endswith('.avi'):
        raise InputError(
            f'{path}:{n}: expected "Class/v_Class_gGG_cCC.avi" with a class of'
            f' classInd.txt, got {line!r}'
        )
      label = labels[folder]
      if given and (not given.isdigit() or int(given) != label + 1):
        raise InputError(
            f'{path}:{n}: label {given!r}, but {folder} is {label + 1} in classInd.txt'
            f' (labels are 1..{len(classes)})'
        )
      videos.append(Video(filename[: -len('.avi')], label, split_name))
  return classes, videos


def check_features(features_dir: str, videos: list[Video], feature_dim: int | None) -> int:
  """Checks that every video has a [T >= 1, D] feature file of one D (the
  given one, if any), reading headers only; returns D."""
  for video in videos:
    path = os.path.join(features_dir, f'{video.name}.npy')
    try:
      frames = np.load(path, mmap_mode='r', allow_pickle=False)
    except FileNotFoundError:
      raise InputError(
          f'{path}: no feature file for video {video.name} of the {video.split} list'
      ) from None
    except (ValueError, OSError) as e:
      raise InputError(f'{path}: cannot read features ({e})') from None
    if frames.ndim != 2 or frames.shape[0] < 1:
      raise InputError(f'{path}: expected [T, D] features with T >= 1 frames, got shape {frames.shape}')
    if feature_dim is not None and frames.shape[1] != feature_dim:
      raise InputError(
          f'{path}: expected D = {feature_dim} features per frame, got shape {frames.shape}'
      )
    if not np.issubdtype(frames.dtype, np.number):
      raise InputError(f'{path}: features must be numeric, got {frames.dtype}')
    feature_dim = frames.shape[1]
  return feature_dim


def load_features(features_dir: str, video: Video) -> np.ndarray:
  """A checked video's features, refusing NaN or Inf."""
  path = os.path.join(features_dir, f'{video.name}.npy')
  frames = np.load(path, allow_pickle=False)
  if not np.all(np.isfinite(frames)):
    raise InputError(f'{path}: features contain NaN or Inf')
  return frames
