"""Image files for feature extraction: which files, in which order, and
their pixels as fixed-size crops, decoded and resized in tf.data.

Crops follow the references' Caffe feature extraction: the image resized to
S x S (aspect not kept), then its centre C x C crop, or with `ten_crop` the
four corner crops and the centre one, each also mirrored, whose features
are averaged. Grayscale, CMYK and RGBA images become RGB.
"""

import os
import re
from collections.abc import Callable, Iterator, Sequence

from etils import epath
import numpy as np
import tensorflow as tf

from mmcap.data import sources
from mmcap.errors import InputError

tf.config.set_visible_devices([], 'GPU')
tf.config.set_visible_devices([], 'TPU')

EXTENSIONS = ('.jpg', '.jpeg', '.png')


def in_directory(directory: str) -> list[str]:
  """The JPEG and PNG files of a directory, in sorted name order."""
  if not epath.Path(directory).is_dir():
    raise InputError(f'--images={directory}: not a directory')
  names = sorted(p.name for p in epath.Path(directory).iterdir() if p.name.lower().endswith(EXTENSIONS))
  if not names:
    raise InputError(f'--images={directory}: no {"/".join(EXTENSIONS)} file')
  return [os.path.join(directory, n) for n in names]


def video_frames(directory: str, flag: str = '--videos') -> dict[str, list[str]]:
  """The frame files of each video of a directory (given as `flag`) of one
  directory per video, by video name, each in sorted name order."""
  if not epath.Path(directory).is_dir():
    raise InputError(f'{flag}={directory}: not a directory')
  videos = {}
  for name in sorted(p.name for p in epath.Path(directory).iterdir()):
    video_dir = os.path.join(directory, name)
    if epath.Path(video_dir).is_dir():
      frames = sorted(
          p.name for p in epath.Path(video_dir).iterdir() if p.name.lower().endswith(EXTENSIONS))
      if not frames:
        raise InputError(f'{video_dir}: no {"/".join(EXTENSIONS)} frame file')
      videos[name] = [os.path.join(video_dir, n) for n in frames]
  if not videos:
    raise InputError(f'{flag}={directory}: no video directories in it')
  return videos


def of_karpathy_json(path: str, image_root: str) -> list[str]:
  """The image files of a Karpathy-splits JSON, in `imgid` order (the rows
  that `prepare` reads): IMAGE_ROOT/[filepath/]filename."""
  images = sorted(sources.read_karpathy_json(path), key=lambda im: im.imgid)  # 0..N-1
  return [os.path.join(image_root, im.folder, im.filename) for im in images]


def decode(path: tf.Tensor) -> tf.Tensor:
  """An image file's RGB pixels, [H, W, 3] uint8."""
  return decode_contents(tf.io.read_file(path))


def decode_contents(contents: tf.Tensor) -> tf.Tensor:
  """A JPEG's or PNG's RGB pixels, [H, W, 3] uint8. JPEGs are decoded with
  libjpeg's accurate integer DCT (as PIL and OpenCV decode them), not
  TensorFlow's default fast one."""
  return tf.cond(
      tf.io.is_jpeg(contents),
      lambda: tf.io.decode_jpeg(contents, channels=3, dct_method='INTEGER_ACCURATE'),
      lambda: tf.io.decode_png(contents, channels=3),
  )


def _crops(contents: tf.Tensor, resize: int, crop: int, ten_crop: bool) -> tf.Tensor:
  image = tf.image.resize(tf.cast(decode_contents(contents), tf.float32), [resize, resize])
  centre = (resize - crop) // 2
  if not ten_crop:
    return image[centre:centre + crop, centre:centre + crop]
  far = resize - crop
  crops = [image[y:y + crop, x:x + crop]
           for y, x in ((0, 0), (0, far), (far, 0), (far, far), (centre, centre))]
  return tf.stack(crops + [c[:, ::-1] for c in crops])


def file_contents(paths: Sequence[str]) -> tf.data.Dataset:
  """(encoded image, path) of each of `paths`, in order, for encoded_batches."""
  return tf.data.Dataset.from_tensor_slices(list(paths)).map(
      lambda path: (tf.io.read_file(path), path))


def encoded_batches(
    contents: tf.data.Dataset, count: int, resize: int, crop: int, ten_crop: bool,
    batch_size: int, on_error: Callable[[int, int], None],
) -> Iterator[tuple[np.ndarray, list[str]]]:
  """Crops of the `count` encoded JPEGs or PNGs of `contents` ((bytes, name)
  pairs), in order, [B, C, C, 3] (ten_crop: [B, 10, C, C, 3]) float32 RGB in
  0..255, the last batch zero-padded to `batch_size`, with their names. An
  image that does not decode calls `on_error(start, stop)` with its batch's
  range, which raises InputError naming it."""
  ds = contents.map(
      lambda data, name: (_crops(data, resize, crop, ten_crop), name),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
  )
  shape = ([10] if ten_crop else []) + [crop, crop, 3]
  iterator = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
  for start in range(0, count, batch_size):
    try:
      batch, names = next(iterator)
    except tf.errors.OpError:
      on_error(start, min(start + batch_size, count))
      raise
    padding = np.zeros((batch_size - len(batch), *shape), np.float32)
    yield (np.concatenate([batch, padding]) if len(padding) else batch,
           [name.decode() for name in names])


def raise_for_bad_file(paths: Sequence[str]) -> None:
  """Finds the first of `paths` that does not read or decode and names it."""
  for path in paths:
    if not epath.Path(path).is_file():
      raise InputError(f'{path}: image file not found')
    try:
      decode(tf.constant(path))
    except tf.errors.OpError as e:
      reason = re.sub(r'\{\{.*?\}\}\s*', '', e.message.splitlines()[0] if e.message else '')
      reason = reason.split(' [Op:')[0] or type(e).__name__
      raise InputError(f'{path}: not a readable JPEG or PNG image ({reason})') from None
