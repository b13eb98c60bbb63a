r"""Prepares an activity recognition dataset (one stream) from UCF101's split
lists and a directory of per-video feature files.

  python -m mmcap.prepare_videos --ucf101_lists=ucfTrainTestlist --split=1 \
      --features_dir=features/rgb --stream=rgb --output_dir=data/ucf101_rgb_s1

--ucf101_lists holds classInd.txt, trainlistNN.txt and testlistNN.txt;
--features_dir one <video>.npy of shape [T, D] per video of the split
(v_ApplyEyeMakeup_g08_c01.npy), frames in order (RGB) or consecutive frame
pairs (flow). The output directory (TFRecord shards, metadata.json, TFDS metadata;
schema in mmcap/data/video_records.py) is what `dataset.dir` of an activity
config points at; prepare the RGB and the flow stream into two directories.
Everything is checked before anything is written, and the directory is
written completely or not at all.
"""

import os

from absl import app
from absl import flags

from mmcap import errors
from mmcap.data import frame_files
from mmcap.data import prepared
from mmcap.data import ucf101
from mmcap.data import video_records
from mmcap.errors import InputError

_LISTS = flags.DEFINE_string('ucf101_lists', None, 'Directory of the UCF101 split lists.')
_SPLIT = flags.DEFINE_integer('split', 1, 'The official split: 1, 2 or 3.')
_FEATURES_DIR = flags.DEFINE_string('features_dir', None, 'Directory of <video>.npy [T, D].')
_STREAM = flags.DEFINE_enum('stream', 'rgb', list(video_records.STREAMS), 'The stream.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where to write (must not exist).')
_FEATURE_DIM = flags.DEFINE_integer('feature_dim', None, 'If set, the D every file must have.')
_FLOAT32 = flags.DEFINE_bool('float32', False, 'Store float32 (default: float16, half the size).')
_VIDEOS_PER_SHARD = flags.DEFINE_integer('videos_per_shard', 500, 'Videos per TFRecord shard.')
flags.mark_flags_as_required(['ucf101_lists', 'features_dir', 'output_dir'])


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  for flag in (_VIDEOS_PER_SHARD, _FEATURE_DIM):
    prepared.check_positive(flag.name, flag.value)
  prepared.check_new_directory(_OUTPUT_DIR.value)
  classes, videos = ucf101.read_split(_LISTS.value, _SPLIT.value)
  if not any(video.split == 'train' for video in videos):
    raise InputError(
        f'{os.path.join(_LISTS.value, f"trainlist{_SPLIT.value:02d}.txt")}: no'
        ' training videos: nothing to train on')
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
      source={'lists': _LISTS.value, 'split': _SPLIT.value, 'features': _FEATURES_DIR.value},
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
