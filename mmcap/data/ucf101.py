"""Readers for UCF101's official split lists (the features of their videos
are per-video files, read by mmcap/data/frame_files.py).

  classInd.txt       '<1-based label> <Class>' per line
  trainlistNN.txt    'Class/v_Class_gGG_cCC.avi <1-based label>' per line
  testlistNN.txt     'Class/v_Class_gGG_cCC.avi' per line (the label is the
                     class of the folder)
  FEATURES_DIR/<video>.npy   [T, D] per-frame features of one stream, where
                     <video> is the file name without '.avi'
                     (v_ApplyEyeMakeup_g08_c01)

Every reader validates fully and raises `InputError` naming the file, line or
video and what was expected.
"""

import os

from mmcap.data import sources
from mmcap.data.video_records import Video
from mmcap.errors import InputError


def _lines(path: str) -> list[tuple[int, str]]:
  return [(n, line.strip()) for n, line in sources.text_lines(path, 'UCF101 split list')]


def read_split(lists_dir: str, split: int) -> tuple[list[str], list[Video]]:
  """The class names (by 0-based label) and the train and test videos of
  official split 1, 2 or 3."""
  if split not in (1, 2, 3):
    raise InputError(f'--split={split}: expected 1, 2 or 3')
  path = os.path.join(lists_dir, 'classInd.txt')
  classes = []
  for n, line in _lines(path):
    label, _, name = line.partition(' ')
    if not label.isdecimal() or int(label) != len(classes) + 1 or not name:
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
      if given and (not given.isdecimal() or int(given) != label + 1):
        raise InputError(
            f'{path}:{n}: label {given!r}, but {folder} is {label + 1} in classInd.txt'
            f' (labels are 1..{len(classes)})'
        )
      videos.append(Video(filename[: -len('.avi')], label, split_name))
  return classes, videos
