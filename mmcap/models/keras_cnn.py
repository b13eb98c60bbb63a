"""What mmcap's ImageNet CNNs (vgg.py, resnet.py) share with Keras's
applications: the Caffe preprocessing their weights were trained with, and
the legacy .h5 weights files, read with h5py by the file's own layer and
weight names as Keras's legacy loader reads them. Nothing is downloaded.
"""

import io
from collections.abc import Sequence

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np

from mmcap.errors import InputError
from mmcap.files import io_errors, is_url

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def caffe_input(images_rgb: jax.Array, dtype) -> jax.Array:
  """RGB images in 0..255 as the networks take them: channels to BGR, the
  ImageNet mean subtracted (Keras's `preprocess_input`, 'caffe' mode)."""
  x = images_rgb[..., ::-1].astype(jnp.float32) - jnp.asarray(CAFFE_MEAN_BGR)
  return x.astype(dtype)


def open_h5(path: str, network: str, weights_file: str):
  """The h5py file at `path`; a missing one names `weights_file`, the Keras
  applications file of `network`, to obtain."""
  import h5py  # pylint: disable=g-import-not-at-top

  try:
    # h5py opens local paths only: a URL's file is read into memory first.
    return h5py.File(io.BytesIO(epath.Path(path).read_bytes()) if is_url(path) else path, 'r')
  except FileNotFoundError:
    raise InputError(
        f'{path}: {network} weights not found; obtain {weights_file}'
        ' (the Keras applications file) and give its path'
    ) from None
  except io_errors() as e:
    raise InputError(f'{path}: not an HDF5 weights file ({e})') from None


def layer_weights(path: str, f, required: Sequence[str], network: str) -> dict[str, list]:
  """The file's weights (h5py datasets, read when used) by Keras layer
  name, each layer's in the order of its weight_names; a file without one
  of the `required` layers holds another network's weights."""
  group = f['model_weights'] if 'model_weights' in f else f
  names = [_text(n) for n in group.attrs.get('layer_names', [])]
  missing = [n for n in required if n not in names]
  if missing:
    raise InputError(
        f'{path}: no layer {missing[0]!r}; expected the weights of {network}'
        f' (layers {required[0]} .. {required[-1]}), found {names[:5]}...'
    )
  return {n: [group[n][_text(w)] for w in group[n].attrs['weight_names']] for n in names}


def take(path: str, layer: str, values: list, expected: dict, network: str,
         image_size: int) -> dict[str, np.ndarray]:
  """A layer's weights as float32 arrays under the names of `expected`
  (name -> shape, in the order of the file's weight_names), checked."""
  if len(values) != len(expected):
    raise InputError(
        f'{path}: layer {layer} has {len(values)} weights, expected {len(expected)}')
  taken = {}
  for (key, shape), value in zip(expected.items(), values):
    if value.shape != tuple(shape):
      raise InputError(
          f'{path}: layer {layer} {key} has shape {value.shape}, {network} expects'
          f' {tuple(shape)} (for {image_size}-pixel crops): the weights of another'
          ' architecture or crop size'
      )
    taken[key] = np.asarray(value, np.float32)
  return taken


def _text(name) -> str:
  return name.decode('utf8') if isinstance(name, bytes) else str(name)
