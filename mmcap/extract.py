r"""Extracts CNN features from image files, in the layout `prepare` reads.

  python -m mmcap.extract --images=DIR --cnn=vgg16 \
      --weights=vgg16_weights_tf_dim_ordering_tf_kernels.h5 --layer=fc7 \
      --output=feats.npy
  python -m mmcap.extract --karpathy_json=dataset_coco.json --image_root=coco \
      --weights=vgg16_weights_tf_dim_ordering_tf_kernels.h5 --output=feats.npy
  python -m mmcap.extract --images=DIR --cnn=resnet50 \
      --weights=resnet50_weights_tf_dim_ordering_tf_kernels.h5 --output=feats.npy
  python -m mmcap.extract --videos=flow/ --layer=fc6 --output=features/flow/
  python -m mmcap.extract --tfds=coco_captions --tfds_split=val --output=feats.npy
  python -m mmcap.extract --tfds=ucf101/ucf101_1_256 --tfds_video_field=video \
      --tfds_split=train+test --every=5 --output=features/rgb/

Rows: a directory's JPEG and PNG files in sorted name order, or a Karpathy
JSON's images by `imgid` (IMAGE_ROOT/[filepath/]filename), so that
`python -m mmcap.prepare --karpathy_json=... --features=feats.npy` reads
them. With --tfds=NAME, the examples of a prepared TensorFlow Datasets
split (--tfds_split; --tfds_data_dir, else TFDS's default directory; nothing
is downloaded) in TFDS's fixed reading order, their --tfds_image_field
decoded as image files are. The names go beside the output, one per line
(feats.names.txt): the paths, or a TFDS example's file name field
(image/filename, file_name) or else its index in the split; `mmcap.prepare
--tfds` finds each image's row by them.
Each image is resized to --resize x --resize and centre-cropped to --crop
(the references: 256 and 224; --resize=224 --crop=224 leaves a 224 x 224
image as it is), or with --ten_crop its ten crops are averaged; the
network runs jitted over all devices (--dtype=bfloat16 or float32), and
writes `--layer`: VGG-16's (--cnn=vgg16, the references'; fc7: 4,096-d, the
default; pool5 flattened) or ResNet-50's (--cnn=resnet50; avg_pool: 2,048-d,
the default), from the network's Keras applications weights file. Progress (images/s, time left)
is printed after every part of --part_size images; each finished part is
kept in OUTPUT.parts/, so the same command, rerun after an interruption,
does not redo it (another extraction into the same output, with other
images, weights or flags, is refused). The output is written only when
every part is done.

With --videos=DIR (one directory of frame images per video, e.g. the flow
images of `mmcap.flow`), --output is a directory that receives one
<video>.npy [T, D] per video, the features of every --every-th frame in
name order: the per-video feature files that `prepare_videos` and
`prepare_video_captions` read. Each file appears whole; a rerun skips the
videos done (and refuses an output directory of another extraction).
With --tfds=NAME --tfds_video_field=FIELD, the examples of the splits of
--tfds_split joined by + (train+test; no slices) are videos of encoded
frames, extracted in the same way into one <split>_<index>.npy per video
(train_000000.npy, ...): TFDS returns no file name for them, so each is
named by its place in its split's fixed reading order, which
`prepare_videos --tfds` follows to find its label.
"""

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from absl import app
from absl import flags
from etils import epath
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mmcap import errors
from mmcap.core.placement import Placement
from mmcap.data import image_files
from mmcap.data import prepared
from mmcap.data import sources
from mmcap.data import tfds_source
from mmcap.errors import InputError, WriteError
from mmcap.files import (absolute, atomic_write, check_output_path, io_errors, reason,
                         size_and_mtime)
from mmcap.models import resnet
from mmcap.models import vgg
from mmcap.models.cnns import NETWORKS

_IMAGES = flags.DEFINE_string('images', None, 'A directory of JPEG and PNG images.')
_KARPATHY_JSON = flags.DEFINE_string(
    'karpathy_json', None, 'A Karpathy-splits JSON naming the images (rows by imgid).'
)
_VIDEOS = flags.DEFINE_string(
    'videos', None, 'A directory of one directory of frame images per video.'
)
_TFDS = flags.DEFINE_string(
    'tfds', None, 'A prepared TensorFlow Datasets image dataset, e.g. coco_captions.')
_TFDS_SPLIT = flags.DEFINE_string(
    'tfds_split', 'train', '--tfds: the split, e.g. val (videos: splits joined by +, train+test).')
_TFDS_DATA_DIR = flags.DEFINE_string(
    'tfds_data_dir', None, "--tfds: its data directory (default: TFDS's, ~/tensorflow_datasets).")
_TFDS_IMAGE_FIELD = flags.DEFINE_string('tfds_image_field', 'image', '--tfds: the image field.')
_TFDS_VIDEO_FIELD = flags.DEFINE_string(
    'tfds_video_field', None,
    '--tfds: a video field (ucf101: video); its examples are then extracted as --videos are.')
_EVERY = flags.DEFINE_integer(
    'every', 1, '--videos, --tfds_video_field: the features of every EVERY-th frame.')
_IMAGE_ROOT = flags.DEFINE_string(
    'image_root', '.', '--karpathy_json: the directory its file names are relative to.'
)
_CNN = flags.DEFINE_enum(
    'cnn', 'vgg16', list(NETWORKS), "The network: VGG-16 (the references') or ResNet-50.")
_WEIGHTS = flags.DEFINE_string(
    'weights', None,
    "The network's Keras .h5 weights file (default: its Keras applications file,"
    f' {vgg.KERAS_WEIGHTS_FILE} or {resnet.KERAS_WEIGHTS_FILE}).')
_LAYER = flags.DEFINE_string(
    'layer', None,
    f'The layer to write: VGG-16 {", ".join(vgg.LAYERS)} (default fc7); ResNet-50'
    f' {", ".join(resnet.LAYERS)} (default avg_pool).')
_RESIZE = flags.DEFINE_integer('resize', 256, 'Images are resized to RESIZE x RESIZE ...')
_CROP = flags.DEFINE_integer('crop', 224, '... then centre-cropped to CROP x CROP.')
_TEN_CROP = flags.DEFINE_bool('ten_crop', False, 'Average the features of ten crops.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'Images per step, over all devices.')
_PART_SIZE = flags.DEFINE_integer('part_size', 2048, 'Images per resumable part.')
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'], 'Compute dtype.')
_OUTPUT = flags.DEFINE_string(
    'output', None,
    'The features file to write (.npy); with --videos or --tfds_video_field, a directory.')
flags.mark_flags_as_required(['output'])


def _network():
  """The module of --cnn (models/cnns.py)."""
  return NETWORKS[_CNN.value].module


def _weights() -> str:
  return _WEIGHTS.value or _network().KERAS_WEIGHTS_FILE


def _layer() -> str:
  return _LAYER.value or NETWORKS[_CNN.value].default_layer


def _per_video() -> bool:
  """Whether the output is one features file per video."""
  return _VIDEOS.value is not None or _TFDS_VIDEO_FIELD.value is not None


def _check_flags() -> None:
  if sum(f.value is not None for f in (_IMAGES, _KARPATHY_JSON, _VIDEOS, _TFDS)) != 1:
    raise InputError('give exactly one of --images, --karpathy_json, --videos and --tfds')
  if _TFDS_VIDEO_FIELD.value is not None and _TFDS.value is None:
    raise InputError('--tfds_video_field: give it with --tfds')
  output = _OUTPUT.value
  if _per_video():
    if output.endswith('.npy') or (epath.Path(output).is_file()):
      raise InputError(f'--output={output}: expected a directory for'
                       f' {"--videos" if _VIDEOS.value is not None else "--tfds_video_field"}')
  elif not output.endswith('.npy'):
    raise InputError(f'--output={output}: expected a .npy file name')
  elif epath.Path(output).exists():
    raise InputError(f'--output={output}: already exists; remove it or choose another name')
  else:
    check_output_path(output, '--output')
  for flag in (_RESIZE, _CROP, _BATCH_SIZE, _PART_SIZE, _EVERY):
    prepared.check_positive(flag.name, flag.value)
  if _CROP.value > _RESIZE.value or _CROP.value % 32:
    raise InputError(
        f'--crop={_CROP.value}: expected a multiple of 32 (the networks downsample 32'
        f' times) no larger than --resize={_RESIZE.value}'
    )
  if _layer() not in _network().LAYERS:
    raise InputError(f'--layer={_layer()}: {_network().NETWORK} (--cnn={_CNN.value}) has'
                     f' {", ".join(_network().LAYERS)}')
  if _BATCH_SIZE.value % jax.device_count():
    raise InputError(
        f'--batch_size={_BATCH_SIZE.value}: expected a multiple of the'
        f' {jax.device_count()} devices'
    )


def features_fn(model: nn.Module, layer: str, placement: Placement):
  """The jitted [B, (10,) C, C, 3] -> [B, D] features of one batch by the
  CNN `model`, sharded over the devices, ten crops averaged."""

  def features(params, images):
    crops = images.reshape((-1,) + images.shape[-3:])
    found = model.apply({'params': params}, crops, (layer,))[layer]
    found = found.reshape(images.shape[0], -1, int(np.prod(found.shape[1:])))
    return jnp.mean(found, axis=1)

  return jax.jit(features, in_shardings=(placement.replicated, placement.data),
                 out_shardings=placement.replicated)


def _record(inputs: Any) -> dict:
  """What an extraction's rows are of: its inputs, the weights file and
  every flag that changes a row."""
  return {
      'inputs': inputs,
      'weights': [absolute(_weights()), *size_and_mtime(_weights())],
      'layer': _layer(),
      **{f.name: f.value for f in (_CNN, _RESIZE, _CROP, _TEN_CROP, _PART_SIZE, _DTYPE, _EVERY)},
  }


def _claim(directory: str, record: dict) -> None:
  """Makes `directory` the work directory of the extraction `record`
  describes; one of another extraction is refused rather than mixed in."""
  record_file = os.path.join(directory, 'extraction.json')
  if epath.Path(directory).is_dir() and any(epath.Path(directory).iterdir()):
    try:
      same = json.loads(epath.Path(record_file).read_text()) == record
    except (*io_errors(), ValueError):
      same = False
    if not same:
      raise InputError(
          f'{directory}: holds another extraction (other inputs, weights or flags);'
          ' remove it to start again'
      )
    return
  try:
    epath.Path(directory).mkdir(parents=True, exist_ok=True)
  except io_errors() as e:
    raise WriteError(f'--output={_OUTPUT.value}: cannot create {directory} ({reason(e)})') from None
  with atomic_write(record_file) as f:
    json.dump(record, f)


@dataclasses.dataclass(frozen=True)
class Rows:
  """The images whose features are the output's rows, in order."""

  count: int
  identity: Any  # what the extraction's record holds of them
  images: Callable[[int, int], Any]  # (start, stop) -> tf.data of (encoded image, name)
  on_error: Callable[[int, int], None]  # raises InputError naming a bad image in a range


def file_rows(paths: list[str]) -> Rows:
  """Image files as rows."""
  return Rows(
      len(paths), {'files': [absolute(p) for p in paths]},
      lambda start, stop: image_files.file_contents(paths[start:stop]),
      lambda start, stop: image_files.raise_for_bad_file(paths[start:stop]))


def tfds_rows(split: tfds_source.Split) -> Rows:
  """A TFDS split's images as rows."""
  def on_error(start, stop):
    raise InputError(f'--tfds={split.dataset}: an image of examples {start} to {stop - 1} of'
                     f' {split.split} does not decode')

  return Rows(split.num_examples,
              {'tfds': split.dataset, 'version': split.version, 'split': split.split,
               'image_field': split.image_field},
              split.images, on_error)


@dataclasses.dataclass(frozen=True)
class VideoRows:
  """The videos whose features are the output's files, in order."""

  names: list[str]
  identity: Any  # what the extraction's record holds of them
  frames: Callable[[], Iterator[tuple[str, Rows]]]  # each video's kept frames as rows


def file_videos(videos: dict[str, list[str]]) -> VideoRows:
  """Videos of frame files as rows of every --every-th frame."""
  names = sorted(videos)
  return VideoRows(
      names, {'videos': absolute(_VIDEOS.value), 'names': names},
      lambda: ((name, file_rows(videos[name][::_EVERY.value])) for name in names))


def tfds_videos(source: tfds_source.Videos) -> VideoRows:
  """A TFDS video dataset's examples as rows of every --every-th frame."""

  def frames():
    for name, count, encoded in source.frames(_EVERY.value):
      if not count:
        raise InputError(f'--tfds={source.dataset}: video {name} has no frames')

      def on_error(start, stop, name=name):
        raise InputError(
            f'--tfds={source.dataset}: a frame of video {name} (frames {start * _EVERY.value}'
            f' to {(stop - 1) * _EVERY.value}) does not decode')

      yield name, Rows(count, None, encoded, on_error)

  names = source.names
  return VideoRows(names,
                   {'tfds': source.full_name, 'splits': list(source.examples),
                    'video_field': source.video_field, 'names': names}, frames)


def _features(extract, params, placement, rows: Rows, start: int, stop: int
              ) -> tuple[np.ndarray, list[str]]:
  """[stop - start, D] float32 features of rows start to stop - 1, and their names."""
  features, names = [], []
  for batch, batch_names in image_files.encoded_batches(
      rows.images(start, stop), stop - start, _RESIZE.value, _CROP.value, _TEN_CROP.value,
      _BATCH_SIZE.value, lambda a, b: rows.on_error(start + a, start + b)):
    features.append(np.asarray(extract(params, placement.to_global({'x': batch})['x'])))
    names += batch_names
  return np.concatenate(features)[:stop - start].astype(np.float32), names


def _progress(done: int, total: int, start_time: float, what: str) -> str:
  rate = done / max(time.perf_counter() - start_time, 1e-9)
  return f'{rate:.1f} {what}/s, eta {max(total - done, 0) / max(rate, 1e-9):.0f} s'


def extract_images(extract, params, placement, rows: Rows, output: str) -> None:
  """Features of `rows` into `output` (.npy), names beside it, through
  resumable parts in OUTPUT.parts (each a .names.txt, then its .npy)."""
  parts_dir = output + '.parts'
  _claim(parts_dir, _record(rows.identity))
  part_size = _PART_SIZE.value
  num_parts = -(-rows.count // part_size)
  part_files = [os.path.join(parts_dir, f'part-{part:05d}-of-{num_parts:05d}')
                for part in range(num_parts)]
  start_time, done = time.perf_counter(), 0
  for part, part_file in enumerate(part_files):
    if epath.Path(part_file + '.npy').exists():
      continue  # done by an earlier, interrupted run
    start, stop = part * part_size, min((part + 1) * part_size, rows.count)
    features, names = _features(extract, params, placement, rows, start, stop)
    with atomic_write(part_file + '.names.txt', 'w') as f:
      f.write(''.join(name + '\n' for name in names))
    with atomic_write(part_file + '.npy', 'wb') as f:
      np.save(f, features)
    done += stop - start
    print(f'extract: part {part + 1}/{num_parts},'
          f' {_progress(done, done + rows.count - stop, start_time, "images")}', flush=True)
  features = np.concatenate([sources.read_npy(f + '.npy', 'part file not found')
                             for f in part_files])
  names = [line for f in part_files
           for line in epath.Path(f + '.names.txt').read_text().splitlines()]
  if len(features) != rows.count or len(names) != rows.count:
    raise InputError(f'{parts_dir}: holds {len(features)} rows and {len(names)} names for'
                     f' {rows.count} images; remove it and extract again')
  names_file = sources.names_path(output)
  with atomic_write(names_file, 'w') as f:
    f.write(''.join(name + '\n' for name in names))
  with atomic_write(output, 'wb') as f:
    np.save(f, features)
  epath.Path(parts_dir).rmtree()
  print(f'wrote {output}: {features.shape[0]} x {features.shape[1]} float32 ({_layer()}),'
        f' names in {names_file}')


def extract_videos(extract, params, placement, videos: VideoRows, output: str) -> None:
  """Features of every --every-th frame of each video into OUTPUT/<video>.npy."""
  _claim(output, _record(videos.identity))
  start_time, done, skipped, dim = time.perf_counter(), 0, 0, 'D'
  for n, (video, rows) in enumerate(videos.frames(), 1):
    path = os.path.join(output, f'{video}.npy')
    if epath.Path(path).exists():
      skipped += 1
      continue  # done by an earlier, interrupted run
    features, _ = _features(extract, params, placement, rows, 0, rows.count)
    with atomic_write(path, 'wb') as f:
      np.save(f, features)
    done, dim = done + 1, features.shape[1]
    print(f'extract: video {n}/{len(videos.names)} ({video}),'
          f' {_progress(done, len(videos.names) - skipped, start_time, "videos")}', flush=True)
  print(f'wrote {len(videos.names)} <video>.npy files of [T, {dim}] float32 ({_layer()})'
        f' to {output}')


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  errors.start_command(argv)
  _check_flags()
  if _IMAGES.value is not None:
    rows = file_rows(image_files.in_directory(_IMAGES.value))
  elif _KARPATHY_JSON.value is not None:
    rows = file_rows(image_files.of_karpathy_json(_KARPATHY_JSON.value, _IMAGE_ROOT.value))
  elif _TFDS_VIDEO_FIELD.value is not None:
    videos = tfds_videos(tfds_source.open_videos(
        _TFDS.value, _TFDS_SPLIT.value, _TFDS_DATA_DIR.value, _TFDS_VIDEO_FIELD.value))
  elif _TFDS.value is not None:
    rows = tfds_rows(tfds_source.open_split(
        _TFDS.value, _TFDS_SPLIT.value, _TFDS_DATA_DIR.value, _TFDS_IMAGE_FIELD.value))
  else:
    videos = file_videos(image_files.video_frames(_VIDEOS.value))
  network = _network()
  config = network.config_from_keras_h5(_weights(), _CROP.value)
  config = dataclasses.replace(config, dtype=_DTYPE.value)
  if _layer() == 'logits' and not config.num_classes:
    raise InputError(f'--layer=logits: {_weights()} has no classifier (a _notop file)')
  placement = Placement.over_all_devices()
  params = jax.device_put(network.load_keras_h5(_weights(), config), placement.replicated)
  extract = features_fn(NETWORKS[_CNN.value].model(config), _layer(), placement)
  if not _per_video():
    extract_images(extract, params, placement, rows, _OUTPUT.value)
  else:
    extract_videos(extract, params, placement, videos, _OUTPUT.value)


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
