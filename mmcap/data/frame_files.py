"""Per-video feature files, as a feature extractor writes them:
FEATURES_DIR/<video>.npy holding [T, D], the features of the video's T >= 1
frames in order (or of its consecutive frame pairs, for flow). UCF101 and
MSR-VTT videos come this way."""

import os
from collections.abc import Sequence
from typing import Protocol

from etils import epath
import numpy as np

from mmcap.data import sources
from mmcap.errors import InputError
from mmcap.files import io_errors


class ListedVideo(Protocol):
  """A video of a split list: its name (the file's, without .npy) and split."""

  name: str
  split: str


def check_features(
    features_dir: str, videos: Sequence[ListedVideo], feature_dim: int | None
) -> int:
  """Checks that every video has a [T >= 1, D] feature file of one D (the
  given one, if any), reading headers only; returns D."""
  for video in videos:
    path = os.path.join(features_dir, f'{video.name}.npy')
    frames = sources.read_npy(
        path, f'no feature file for video {video.name} of the {video.split} list')
    if frames.ndim != 2 or frames.shape[0] < 1:
      raise InputError(f'{path}: expected [T, D] features with T >= 1 frames, got shape {frames.shape}')
    if feature_dim is not None and frames.shape[1] != feature_dim:
      raise InputError(
          f'{path}: expected D = {feature_dim} features per frame, got shape {frames.shape}'
      )
    if not sources.is_real(frames.dtype):
      raise InputError(f'{path}: features must be real numbers, got {frames.dtype}')
    feature_dim = frames.shape[1]
  return feature_dim


def load_features(features_dir: str, video: ListedVideo) -> np.ndarray:
  """A checked video's features as float32, refusing NaN, Inf and values
  beyond float32."""
  path = os.path.join(features_dir, f'{video.name}.npy')
  return sources.as_float32(sources.read_npy(path, 'feature file not found'), path)


def read_dir(directory: str, feature_dim: int) -> dict[str, np.ndarray]:
  """Every DIRECTORY/<video>.npy, by name in sorted order: [T, D] frames (a
  [D] vector is one frame) of the given D, finite."""
  try:
    names = sorted(p.stem for p in epath.Path(directory).iterdir() if p.suffix == '.npy')
  except io_errors():
    raise InputError(f'{directory}: not a readable directory of <video>.npy feature files') from None
  if not names:
    raise InputError(f'{directory}: no <video>.npy feature files')
  videos = {}
  for name in names:
    path = os.path.join(directory, f'{name}.npy')
    frames = sources.read_npy(path, 'feature file not found')
    if frames.ndim == 1:
      frames = frames[None]
    if frames.ndim != 2 or not frames.shape[0] or frames.shape[1] != feature_dim:
      raise InputError(
          f'{path}: expected [T, {feature_dim}] features with T >= 1 (or one'
          f' [{feature_dim}] vector), got shape {frames.shape}'
      )
    if not sources.is_real(frames.dtype):
      raise InputError(f'{path}: features must be real numbers, got {frames.dtype}')
    videos[name] = sources.as_float32(frames, path)
  return videos
