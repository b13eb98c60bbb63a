r"""Prepares an activity recognition dataset (one stream) from UCF101's split
lists and a directory of per-video feature files.

  python -m mmcap.prepare_videos --ucf101_lists=ucfTrainTestlist --split=1 \
      --features_dir=features/rgb --stream=rgb --output_dir=data/ucf101_rgb_s1

  python -m mmcap.prepare_videos --tfds=ucf101/ucf101_1_256 \
      --features_dir=features/rgb --stream=rgb --output_dir=data/ucf101_rgb_s1

--ucf101_lists holds classInd.txt, trainlistNN.txt and testlistNN.txt;
--features_dir one <video>.npy of shape [T, D] per video of the split
(v_ApplyEyeMakeup_g08_c01.npy), frames in order (RGB) or consecutive frame
pairs (flow). The output directory (TFRecord shards, metadata.json, TFDS metadata;
schema in mmcap/data/video_records.py) is what `dataset.dir` of an activity
config points at; prepare the RGB and the flow stream into two directories.
With --tfds=NAME (a prepared TFDS video classification dataset such as
ucf101, whose config names the split: ucf101_1_256, ucf101_1, _2, _3), the
classes are its `label` names and the videos its --tfds_splits (train,test),
each found in --features_dir as `mmcap.extract --tfds_video_field` named it
(<split>_<index>.npy); features that extract recorded (extraction.json) as
of another dataset, config or version, or without a split asked for, are
refused.
Everything is checked before anything is written, and the directory is
written completely or not at all.
"""

import json
import os

from absl import app
from absl import flags
from etils import epath

from mmcap import errors
from mmcap.data import frame_files
from mmcap.data import prepared
from mmcap.data import ucf101
from mmcap.data import video_records
from mmcap.errors import InputError
from mmcap.files import io_errors, reason

_LISTS = flags.DEFINE_string('ucf101_lists', None, 'Directory of the UCF101 split lists.')
_TFDS = flags.DEFINE_string(
    'tfds', None, 'Instead of --ucf101_lists: a prepared TFDS video dataset, e.g. ucf101/ucf101_1.')
_TFDS_SPLITS = flags.DEFINE_list('tfds_splits', ['train', 'test'], '--tfds: its splits to read.')
_TFDS_DATA_DIR = flags.DEFINE_string(
    'tfds_data_dir', None, "--tfds: its data directory (default: TFDS's, ~/tensorflow_datasets).")
_SPLIT = flags.DEFINE_integer('split', 1, 'The official split: 1, 2 or 3.')
_FEATURES_DIR = flags.DEFINE_string('features_dir', None, 'Directory of <video>.npy [T, D].')
_STREAM = flags.DEFINE_enum('stream', 'rgb', list(video_records.STREAMS), 'The stream.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where to write (must not exist).')
_FEATURE_DIM = flags.DEFINE_integer('feature_dim', None, 'If set, the D every file must have.')
_FLOAT32 = flags.DEFINE_bool('float32', False, 'Store float32 (default: float16, half the size).')
_VIDEOS_PER_SHARD = flags.DEFINE_integer('videos_per_shard', 500, 'Videos per TFRecord shard.')
flags.mark_flags_as_required(['features_dir', 'output_dir'])


def _read_videos() -> tuple[list[str], list[video_records.Video], dict]:
  """The classes, the videos and the source record, from the split lists or
  from TFDS."""
  if (_LISTS.value is None) == (_TFDS.value is None):
    raise InputError('give exactly one of --ucf101_lists and --tfds')
  if _TFDS.value is None:
    if _TFDS_SPLITS.present or _TFDS_DATA_DIR.present:
      raise InputError('--tfds_splits, --tfds_data_dir: give them with --tfds')
    classes, videos = ucf101.read_split(_LISTS.value, _SPLIT.value)
    return classes, videos, {'lists': _LISTS.value, 'split': _SPLIT.value}
  if _SPLIT.present:
    raise InputError(f'--split: the --tfds={_TFDS.value} config names the split'
                     ' (ucf101/ucf101_1, _2, _3)')
  from mmcap.data import tfds_source  # pylint: disable=g-import-not-at-top
  if len(set(_TFDS_SPLITS.value)) != len(_TFDS_SPLITS.value):
    raise InputError(f'--tfds_splits={",".join(_TFDS_SPLITS.value)}: a split given twice')
  _check_extraction(tfds_source.full_name(_TFDS.value, _TFDS_DATA_DIR.value))
  classes, listed = tfds_source.read_video_labels(
      _TFDS.value, _TFDS_SPLITS.value, _TFDS_DATA_DIR.value)
  videos = [video_records.Video(*video) for video in listed]
  return classes, videos, {'tfds': _TFDS.value, 'splits': _TFDS_SPLITS.value}


def _check_extraction(full_name: str) -> None:
  """A video of a TFDS dataset is known by its place in the dataset's
  reading order only, so its features must come from the same dataset,
  config and version and cover the splits asked for: what `mmcap.extract`
  recorded in FEATURES_DIR/extraction.json, where it is there."""
  path = os.path.join(_FEATURES_DIR.value, 'extraction.json')
  if not epath.Path(path).exists():
    return  # features made otherwise: the user's to match
  try:
    inputs = json.loads(epath.Path(path).read_text())['inputs']
  except (*io_errors(), ValueError, KeyError, TypeError) as e:
    raise InputError(f'{path}: not an extraction record of mmcap.extract ({reason(e)})') from None
  extracted = inputs.get('tfds') if isinstance(inputs, dict) else None
  if extracted != full_name:
    raise InputError(f'{path}: the features are of {extracted or "files, not TFDS"}, not of'
                     f' {full_name}: extract them from --tfds={_TFDS.value}')
  missing = sorted(set(_TFDS_SPLITS.value) - set(inputs.get('splits', [])))
  if missing:
    raise InputError(f'{path}: no features of split {", ".join(missing)} of {full_name}'
                     ' (extract with --tfds_split naming every split given here)')


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  errors.start_command(argv)
  for flag in (_VIDEOS_PER_SHARD, _FEATURE_DIM):
    prepared.check_positive(flag.name, flag.value)
  prepared.check_new_directory(_OUTPUT_DIR.value)
  classes, videos, source = _read_videos()
  if not any(video.split == 'train' for video in videos):
    where = (f'--tfds={_TFDS.value}' if _TFDS.value is not None
             else os.path.join(_LISTS.value, f'trainlist{_SPLIT.value:02d}.txt'))
    raise InputError(f'{where}: no training videos: nothing to train on')
  if not frame_files.check_features(_FEATURES_DIR.value, videos, _FEATURE_DIM.value):
    # Every file has the first one's D, and no model learns from D = 0.
    path = os.path.join(_FEATURES_DIR.value, f'{videos[0].name}.npy')
    raise InputError(f'{path}: expected [T, D] features with D >= 1, got D = 0')
  video_records.write_videos(
      videos,
      lambda video: frame_files.load_features(_FEATURES_DIR.value, video),
      classes,
      _STREAM.value,
      _OUTPUT_DIR.value,
      source={**source, 'features': _FEATURES_DIR.value},
      storage_dtype='float32' if _FLOAT32.value else 'float16',
      videos_per_shard=_VIDEOS_PER_SHARD.value,
  )
  info = video_records.load_info(_OUTPUT_DIR.value)
  counts = {split: v['num_videos'] for split, v in info['splits'].items()}
  print(
      f'wrote {_OUTPUT_DIR.value}: {info["stream"]} stream, {len(classes)} classes,'
      f' {info["feature_dim"]}-d features, videos per split {counts}'
  )


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
