"""Optical flow images as LRCN computes them: dense flow between consecutive
frames (TV-L1, or Farneback's), encoded as an image: x and y as 16 v + 128,
the magnitude as 16 |v| + 128, clipped to [0, 255]. OpenCV is the optional
extra mmcap[flow]; `python -m mmcap.flow` is the command."""

import os
import shutil
import time

import numpy as np

from mmcap.data import image_files
from mmcap.errors import InputError, WriteError
from mmcap.files import is_url

SCALE, CENTRE = 16.0, 128.0


def encode(flow: np.ndarray) -> np.ndarray:
  """[H, W, 2] flow in pixels -> [H, W, 3] uint8: x, y as 16 v + 128 and
  the magnitude as 16 |v| + 128, clipped to [0, 255]."""
  magnitude = np.linalg.norm(flow, axis=-1, keepdims=True)
  channels = np.concatenate([flow, magnitude], axis=-1)
  return np.clip(np.rint(SCALE * channels + CENTRE), 0, 255).astype(np.uint8)


def decode(image: np.ndarray) -> np.ndarray:
  """The [H, W, 2] flow of an encoded image (to within 1/32 pixel, where
  not clipped)."""
  return (image[..., :2].astype(np.float32) - CENTRE) / SCALE


def _cv2():
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise InputError(
        "mmcap.flow needs OpenCV with its contrib modules: pip install 'mmcap[flow]'"
    ) from None
  return cv2


def flow_function(method: str):
  """`flow(previous, next)` of two grey uint8 frames -> [H, W, 2] float32."""
  cv2 = _cv2()
  if method == 'tvl1':
    if not hasattr(cv2, 'optflow'):
      raise InputError(
          '--method=tvl1 needs OpenCV\'s contrib modules (opencv-contrib-python-headless,'
          " as in 'mmcap[flow]'); or use --method=farneback")
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    return lambda previous, following: tvl1.calc(previous, following, None)
  # pyr_scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, sigma 1.2.
  return lambda previous, following: cv2.calcOpticalFlowFarneback(
      previous, following, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _read_grey(cv2, path: str, shape: tuple | None) -> np.ndarray:
  frame = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
  if frame is None:
    raise InputError(f'{path}: not a readable JPEG or PNG image')
  if shape is not None and frame.shape != shape:
    raise InputError(f'{path}: {frame.shape[1]}x{frame.shape[0]} pixels, but the video\'s'
                     f' first frame is {shape[1]}x{shape[0]}')
  return frame


def video_flow(cv2, frames: list[str], output_dir: str, flow) -> int:
  """Writes the flow images of one video's frame files; returns their count."""
  if len(frames) < 2:
    raise InputError(
        f'{os.path.dirname(frames[0])}: {len(frames)} frame(s), a flow needs at least 2')
  tmp_dir = f'{output_dir}.tmp'
  shutil.rmtree(tmp_dir, ignore_errors=True)
  try:
    os.makedirs(tmp_dir)
    previous = _read_grey(cv2, frames[0], None)
    for k, path in enumerate(frames[1:], 1):
      following = _read_grey(cv2, path, previous.shape)
      image = encode(flow(previous, following))
      # OpenCV writes BGR: the x channel goes first in the file's RGB.
      if not cv2.imwrite(os.path.join(tmp_dir, f'flow_{k:05d}.png'), image[..., ::-1]):
        raise WriteError(f'{tmp_dir}: flow_{k:05d}.png not written')
      previous = following
    os.rename(tmp_dir, output_dir)
  except BaseException as error:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    if isinstance(error, OSError):
      raise WriteError(f'{output_dir}: not written ({error.strerror or error})') from None
    raise
  return len(frames) - 1


def compute(frames: str, output: str, method: str) -> None:
  """Flow images of every video under `frames` into `output`: local
  directories, which OpenCV reads and writes."""
  for flag, value in (('--frames', frames), ('--output', output)):
    if is_url(value):
      raise InputError(f'{flag}={value}: optical flow needs a local directory; copy the'
                       ' frames to this machine, and the flow images to the bucket after')
  videos = image_files.video_frames(frames, '--frames')
  flow = flow_function(method)
  cv2 = _cv2()
  try:
    os.makedirs(output, exist_ok=True)
  except OSError as e:
    raise WriteError(f'--output={output}: cannot create it ({e.strerror})') from None
  start, images, done = time.perf_counter(), 0, 0
  for n, (video, video_frames) in enumerate(videos.items(), 1):
    if os.path.isdir(os.path.join(output, video)):
      done += 1
      continue
    images += video_flow(cv2, video_frames, os.path.join(output, video), flow)
    seconds = time.perf_counter() - start
    print(f'{n}/{len(videos)} videos, {images / seconds:.1f} flow images/s ({video})',
          flush=True)
  print(f'{len(videos)} videos ({done} done before) -> {output}')
