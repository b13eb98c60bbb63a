"""Readers of the video-caption files users have: MSVD as the S2VT release
ships it, and MSR-VTT. Each returns the videos with their captions and
`load_frames(video)`, that video's [T, D] float32 features, ready for
`video_captions.write_dataset`.

MSVD (S2VT's text files), in one directory:
  sents_{split}.txt   'vidN<TAB>sentence' per line; split train (required),
                      val and test (optional)
  yt_allframes_vgg_fc7_{split}.txt   'vidN_frame_K,f1,...,fD' per frame,
                      frames in file order (features='allframes')
  yt_pooled_fc7_mean_{split}.txt     'vidN,f1,...,fD' per video, or only
                      'f1,...,fD' with the video implied by the line: vid1..
                      in train, vid1201.. in val, vid1301.. in test, as S2VT's
                      youtube script reads it (features='pooled', T = 1)
MSR-VTT:
  videodatainfo.json  {"videos": [{"video_id": "video0", "split": "train" |
                      "validate" | "test"}, ...], "sentences": [{"caption":
                      "...", "video_id": "video0", "sen_id": 0}, ...]}
  FEATURES_DIR/<video_id>.npy   [T, D] per-frame features (frame_files.py)

Sentences are tokenized as the Karpathy JSON files are (`sources.tokenize`).
Every reader validates the captions and the features' shapes before anything
is written (values that are not finite are found while writing, which then
leaves nothing) and raises `InputError` naming the file, line or field and
what was expected.
"""

import json
import os
from collections.abc import Callable

from etils import epath
import numpy as np

from mmcap.data import frame_files
from mmcap.data import sources
from mmcap.data import video_captions
from mmcap.data.video_captions import VideoCaptions
from mmcap.errors import InputError
from mmcap.files import io_errors, reason

FrameLoader = Callable[[VideoCaptions], np.ndarray]
# (sentid, tokens) of each caption of each video, by video name.
_Captioned = dict[str, list[tuple[int, tuple[str, ...]]]]

MSVD_FEATURE_FILES = {
    'allframes': 'yt_allframes_vgg_fc7_{}.txt',
    'pooled': 'yt_pooled_fc7_mean_{}.txt',
}
# The video of the first line of a pooled file without video names, by split.
_MSVD_FIRST_VIDEO = {'train': 1, 'val': 1201, 'test': 1301}
# MSR-VTT's split names, and ours.
MSRVTT_SPLITS = {'train': 'train', 'validate': 'val', 'test': 'test'}


def read_msvd(
    directory: str, features: str = 'allframes', feature_dim: int | None = None
) -> tuple[list[VideoCaptions], FrameLoader]:
  """MSVD's captions and features as S2VT's text files hold them.

  `features` picks the feature files ('allframes' or 'pooled'); `feature_dim`,
  when given, is the D they must have. The captioned videos' features are
  parsed into memory once, as float32 rows (all of MSVD's allframes files are
  a few GB of text, under half that as float32); videos with features
  but no caption are dropped.
  """
  if features not in MSVD_FEATURE_FILES:
    raise InputError(f'features={features!r}: expected one of {list(MSVD_FEATURE_FILES)}')
  captioned, split_of = {}, {}
  for split in video_captions.SPLITS:
    path = os.path.join(directory, f'sents_{split}.txt')
    if split == 'train' or epath.Path(path).exists():
      _read_msvd_sentences(path, split, captioned, split_of)
  rows = {}
  for split in video_captions.SPLITS:
    wanted = [name for name in captioned if split_of[name] == split]
    if not wanted:
      continue
    path = os.path.join(directory, MSVD_FEATURE_FILES[features].format(split))
    split_rows, feature_dim = _read_msvd_features(path, features, split, set(wanted), feature_dim)
    missing = [name for name in wanted if name not in split_rows]
    if missing:
      raise InputError(
          f'{path}: no features for video {missing[0]} (captioned in sents_{split}.txt)')
    rows.update(split_rows)
  return _videos(captioned, split_of), lambda video: np.stack(rows[video.name])


def _read_msvd_sentences(
    path: str, split: str, captioned: _Captioned, split_of: dict[str, str]
) -> None:
  """Adds a sents file's captions, numbering them on from those before."""
  sentid = sum(len(c) for c in captioned.values())
  for n, line in sources.text_lines(path, 'MSVD sentences file'):
    name, tab, raw = line.partition('\t')
    name, tokens = name.strip(), sources.tokenize(raw)
    if not tab or not name:
      raise InputError(f'{path}:{n}: expected "VIDEO<TAB>sentence", got {line[:80]!r}')
    if not tokens:
      raise InputError(f'{path}:{n}: the sentence of {name} has no word')
    if split_of.setdefault(name, split) != split:
      raise InputError(f'{path}:{n}: video {name} is also in sents_{split_of[name]}.txt')
    captioned.setdefault(name, []).append((sentid, tokens))
    sentid += 1


def _read_msvd_features(
    path: str, layout: str, split: str, wanted: set[str], feature_dim: int | None
) -> tuple[dict[str, list[np.ndarray]], int | None]:
  """The float32 rows of each wanted video in a features file, in file
  order, and D (every line's, and `feature_dim` if given)."""
  rows, implied_names = {}, None
  for index, (n, line) in enumerate(sources.text_lines(path, f'MSVD {layout} features file')):
    fields = line.split(',')
    if layout == 'allframes':
      name, sep, _ = fields[0].partition('_frame_')
      if not sep or not name:
        raise InputError(f'{path}:{n}: expected "VIDEO_frame_K,f1,...,fD", got {line[:80]!r}')
      values = fields[1:]
    else:
      if implied_names is None:
        implied_names = _is_number(fields[0])
      if implied_names:
        name, values = f'vid{_MSVD_FIRST_VIDEO[split] + index}', fields
      else:
        name, values = fields[0].strip(), fields[1:]
      if name in rows:
        raise InputError(f'{path}:{n}: a second line of video {name}, expected one a video')
    row = _numbers(values, path, n)
    if feature_dim is None:
      feature_dim = row.size
    if row.size != feature_dim:
      raise InputError(f'{path}:{n}: {row.size} feature values, expected D = {feature_dim}')
    if name in wanted:
      rows.setdefault(name, []).append(row)
  return rows, feature_dim


def _is_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def _numbers(values: list[str], path: str, n: int) -> np.ndarray:
  """A line's feature values as float32, refusing text, NaN and Inf."""
  try:
    row = np.array(values, np.float32)
  except ValueError:
    bad = next(v for v in values if not _is_number(v))
    raise InputError(f'{path}:{n}: feature value {bad[:40]!r} is not a number') from None
  if not row.size:
    raise InputError(f'{path}:{n}: no feature values after the video')
  if not np.all(np.isfinite(row)):
    raise InputError(f'{path}:{n}: feature values not finite as float32 (NaN, Inf or too large)')
  return row


def read_msrvtt(
    json_path: str, features_dir: str, feature_dim: int | None = None
) -> tuple[list[VideoCaptions], FrameLoader]:
  """MSR-VTT's videodatainfo.json and its videos' `<video_id>.npy` files in
  `features_dir` (headers checked here, frames read by `load_frames`);
  `feature_dim`, when given, is the D they must have."""
  try:
    with epath.Path(json_path).open() as f:
      data = json.load(f)
  except FileNotFoundError:
    raise InputError(f'{json_path}: MSR-VTT captions file not found') from None
  except io_errors() as e:
    raise InputError(f'{json_path}: cannot read the MSR-VTT captions file ({reason(e)})') from None
  except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
    raise InputError(f'{json_path}: not valid JSON ({e})') from None
  split_of = {}
  for i, entry in enumerate(_field(data, 'videos', list, '', json_path)):
    where = f'videos[{i}]'
    name = _field(entry, 'video_id', str, where, json_path)
    split = _field(entry, 'split', str, where, json_path)
    if split not in MSRVTT_SPLITS:
      raise InputError(
          f'{json_path}: {where}.split is {split!r}, expected one of {list(MSRVTT_SPLITS)}')
    if name in split_of:
      raise InputError(f'{json_path}: {where}.video_id {name!r} repeats an earlier video')
    split_of[name] = MSRVTT_SPLITS[split]
  if not split_of:
    raise InputError(f'{json_path}: "videos" is empty')
  captioned, sentids = {name: [] for name in split_of}, set()
  for i, entry in enumerate(_field(data, 'sentences', list, '', json_path)):
    where = f'sentences[{i}]'
    name = _field(entry, 'video_id', str, where, json_path)
    tokens = sources.tokenize(_field(entry, 'caption', str, where, json_path))
    sentid = _field(entry, 'sen_id', int, where, json_path)
    if name not in captioned:
      raise InputError(f'{json_path}: {where}.video_id {name!r} is not in "videos"')
    if not tokens:
      raise InputError(f'{json_path}: {where}.caption has no word')
    if sentid in sentids:
      raise InputError(f'{json_path}: {where}.sen_id {sentid} repeats an earlier one')
    sentids.add(sentid)
    captioned[name].append((sentid, tokens))
  for name, captions in captioned.items():
    if not captions:
      raise InputError(f'{json_path}: video {name!r} has no sentence')
  videos = _videos(captioned, split_of)
  if not frame_files.check_features(features_dir, videos, feature_dim):
    # Every file has the first one's D, and no model learns from D = 0.
    path = os.path.join(features_dir, f'{videos[0].name}.npy')
    raise InputError(f'{path}: expected [T, D] features with D >= 1, got D = 0')
  return videos, lambda video: frame_files.load_features(features_dir, video)


def _field(obj, key: str, kind: type, where: str, path: str):
  """obj[key], which must be a `kind`; `where` names obj ('' at the top)."""
  if not isinstance(obj, dict):
    raise InputError(f'{path}: {where or "the top level"} must be a JSON object')
  name = f'{where}.{key}' if where else key
  if key not in obj:
    raise InputError(f'{path}: no field {name}')
  value = obj[key]
  if not isinstance(value, kind) or isinstance(value, bool):
    raise InputError(
        f'{path}: {name} must be {kind.__name__}, got {type(value).__name__}')
  if kind is int and not sources.is_int64(value):
    raise InputError(f'{path}: {name} is {value}, beyond int64 (records store int64)')
  return value


def _videos(captioned: _Captioned, split_of: dict[str, str]) -> list[VideoCaptions]:
  """The videos in order, with their results-file ids."""
  names = list(captioned)
  return [
      VideoCaptions(
          name=name,
          split=split_of[name],
          sentences=tuple(tokens for _, tokens in captioned[name]),
          sentids=tuple(sentid for sentid, _ in captioned[name]),
          video_id=video_id,
      )
      for name, video_id in zip(names, video_captions.result_ids(names))
  ]
