"""UCF101 split lists, prepared video records, and the clip pipelines."""

import itertools
import os

import numpy as np
import pytest

from mmcap.data import clips
from mmcap.data import frame_files
from mmcap.data import ucf101
from mmcap.data import video_records
from mmcap.errors import InputError

from conftest import run_command_lines, run_python

CLASSES = ['ApplyEyeMakeup', 'Basketball', 'Surfing']
DIM = 8


def write_ucf(root, frames_by_video=None, train_extra='', test_extra=''):
  """Split lists of 6 training and 3 test videos, and their features."""
  lists, features = root / 'lists', root / 'features'
  lists.mkdir()
  features.mkdir()
  (lists / 'classInd.txt').write_text(''.join(f'{i + 1} {c}\n' for i, c in enumerate(CLASSES)))
  train = [(c, f'v_{c}_g{g:02d}_c01') for c in CLASSES for g in (8, 9)]
  test = [(c, f'v_{c}_g01_c01') for c in CLASSES]
  (lists / 'trainlist01.txt').write_text(
      ''.join(f'{c}/{v}.avi {CLASSES.index(c) + 1}\n' for c, v in train) + train_extra)
  (lists / 'testlist01.txt').write_text(''.join(f'{c}/{v}.avi\n' for c, v in test) + test_extra)
  rng = np.random.default_rng(0)
  frames_by_video = frames_by_video or {}
  for n, (_, video) in enumerate(train + test):
    length = frames_by_video.get(video, 5 + 7 * n)  # 5 (shorter than a clip) .. 61
    np.save(features / f'{video}.npy', rng.normal(size=(length, DIM)).astype(np.float32))
  return str(lists), str(features)


@pytest.fixture
def ucf(tmp_path):
  return write_ucf(tmp_path)


def test_reads_the_split_lists(ucf):
  classes, videos = ucf101.read_split(ucf[0], 1)
  assert classes == CLASSES
  assert [(v.name, v.label, v.split) for v in videos if v.split == 'test'] == [
      ('v_ApplyEyeMakeup_g01_c01', 0, 'test'), ('v_Basketball_g01_c01', 1, 'test'),
      ('v_Surfing_g01_c01', 2, 'test')]
  assert sum(v.split == 'train' for v in videos) == 6
  assert frame_files.check_features(ucf[1], videos, None) == DIM


@pytest.mark.parametrize('train_extra, message', [
    ('Surfing/v_Surfing_g10_c01.avi 102\n', r"trainlist01.txt:7: label '102', but Surfing is 3"),
    ('Diving/v_Diving_g01_c01.avi 2\n', r'trainlist01.txt:7: expected "Class/v_Class_gGG_cCC.avi"'),
    ('Surfing/v_Surfing_g10_c01.avi 3\n', r'v_Surfing_g10_c01.npy: no feature file for video'),
])
def test_bad_lists_are_named(tmp_path, train_extra, message):
  lists, features = write_ucf(tmp_path, train_extra=train_extra)
  with pytest.raises(InputError, match=message):
    classes, videos = ucf101.read_split(lists, 1)
    frame_files.check_features(features, videos, None)


@pytest.mark.parametrize('frames, feature_dim, message', [
    (np.zeros((0, DIM)), None, r'expected \[T, D\] features with T >= 1 frames'),
    (np.zeros((4, DIM + 1)), None, r'expected D = 8 features per frame'),
    (np.zeros((4, DIM)), 4096, r'expected D = 4096 features per frame'),
])
def test_bad_feature_files_are_named(ucf, frames, feature_dim, message):
  np.save(os.path.join(ucf[1], 'v_Surfing_g09_c01.npy'), frames.astype(np.float32))
  _, videos = ucf101.read_split(ucf[0], 1)
  with pytest.raises(InputError, match=message):
    frame_files.check_features(ucf[1], videos, feature_dim)


def prepare(ucf, output, *flags):
  return run_python('-m', 'mmcap.prepare_videos', f'--ucf101_lists={ucf[0]}',
                    f'--features_dir={ucf[1]}', f'--output_dir={output}', *flags)


def test_prepare_command_writes_float16_records(ucf, tmp_path):
  result = prepare(ucf, tmp_path / 'out', '--videos_per_shard=2')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'rgb stream, 3 classes, 8-d features' in result.stdout
  info = video_records.load_info(str(tmp_path / 'out'))
  assert info['storage_dtype'] == 'float16' and len(info['splits']['train']['files']) == 3
  batch = next(clips.eval_clips(str(tmp_path / 'out'), info, 'test', 32, 100, 100))
  for video, (name, _, length, _) in enumerate(info['splits']['test']['videos']):
    want = np.load(os.path.join(ucf[1], f'{name}.npy')).astype(np.float16)
    row = list(batch['video']).index(video)
    np.testing.assert_array_equal(batch['clip'][row, :length], want)
    assert batch['mask'][row].sum() == length


def test_prepare_errors_are_one_line_and_write_nothing(ucf, tmp_path):
  os.remove(os.path.join(ucf[1], 'v_Basketball_g01_c01.npy'))
  result = prepare(ucf, tmp_path / 'out')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f'error: {ucf[1]}/v_Basketball_g01_c01.npy: no feature file for video'
      ' v_Basketball_g01_c01 of the test list']
  assert not (tmp_path / 'out').exists() and not list(tmp_path.glob('.preparing-*'))


TFDS_FLAG_ERRORS = [
    (['--ucf101_lists={lists}', '--tfds=ucf101/ucf101_1'],
     'give exactly one of --ucf101_lists and --tfds'),
    ([], 'give exactly one of --ucf101_lists and --tfds'),
    (['--tfds=ucf101/ucf101_1', '--split=2'],
     '--split: the --tfds=ucf101/ucf101_1 config names the split'),
    (['--ucf101_lists={lists}', '--tfds_splits=train'],
     '--tfds_splits, --tfds_data_dir: give them with --tfds'),
    (['--tfds=ucf101/ucf101_1', '--tfds_data_dir={d}/empty'],
     '--tfds=ucf101/ucf101_1: not prepared in {d}/empty/ucf101/ucf101_1/2.0.0'),
    (['--tfds=coco_captions'], "--tfds=coco_captions: no ClassLabel field 'label'"),
    (['--tfds=ucf101/ucf101_1', '--tfds_splits=train,dev'],
     '--tfds_splits=train,dev: expected TFDS splits named train, validation or test'),
    (['--tfds=ucf101/ucf101_1', '--tfds_splits=train,train'],
     '--tfds_splits=train,train: a split given twice'),
]


def test_tfds_flags_are_checked_in_one_line(ucf, tmp_path):
  lists, features = ucf
  common = [f'--features_dir={features}', f'--output_dir={tmp_path}/out']
  cases = [common + [f.format(lists=lists, d=tmp_path) for f in flags]
           for flags, _ in TFDS_FLAG_ERRORS]
  for (_, message), result in zip(TFDS_FLAG_ERRORS, run_command_lines(
      'mmcap.prepare_videos', cases, tmp_path)):
    assert result['traceback'] is None and result['status'] == 2, result
    (line,) = result['stderr'].strip().splitlines()
    assert line.startswith('error: ' + message.format(d=tmp_path)), line
  assert not (tmp_path / 'out').exists()


@pytest.fixture
def prepared(ucf, tmp_path):
  classes, videos = ucf101.read_split(ucf[0], 1)
  path = str(tmp_path / 'prepared')
  video_records.write_videos(videos, lambda v: frame_files.load_features(ucf[1], v), classes,
                             'rgb', path, {}, storage_dtype='float32', videos_per_shard=2)
  return path, video_records.load_info(path)


def test_clip_starts_rule():
  assert clips.clip_starts(40, 16, 8) == [0, 8, 16, 24]
  assert clips.clip_starts(41, 16, 8) == [0, 8, 16, 24, 25]  # plus the last 16 frames
  assert clips.clip_starts(16, 16, 8) == [0]
  assert clips.clip_starts(5, 16, 8) == [0]  # shorter than a clip: one, padded


def test_eval_clips_cover_every_video_by_the_rule(prepared):
  path, info = prepared
  found = {}
  for batch in clips.eval_clips(path, info, 'train', 4, 16, 8):
    for video, mask in zip(batch['video'], batch['mask']):
      if video >= 0:
        found.setdefault(int(video), []).append(int(mask.sum()))
  assert batch['video'][-1] == -1  # padding
  for video, (_, _, length, _) in enumerate(info['splits']['train']['videos']):
    assert len(found[video]) == len(clips.clip_starts(length, 16, 8))
    assert found[video][-1] == min(length, 16)


def test_train_clips_shapes_masks_seeding_and_resume(prepared):
  path, info = prepared

  def take(seed, skip=0, n=6):
    return list(itertools.islice(
        clips.train_clips(path, info, ['train'], 3, 16, 4, seed=seed, skip_batches=skip), n))

  first = take(0)
  assert first[0]['clip'].shape == (3, 16, DIM) and first[0]['mask'].shape == (3, 16)
  lengths = {v: n for v, (_, _, n, _) in enumerate(info['splits']['train']['videos'])}
  for batch in first:
    for video, mask, clip in zip(batch['video'], batch['mask'], batch['clip']):
      assert mask.sum() == min(lengths[int(video)], 16)
      assert (clip[int(mask.sum()):] == 0).all()
  again, other, resumed = take(0), take(1), take(0, skip=4, n=2)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a['clip'], b['clip'])
  assert not all(np.array_equal(a['clip'], b['clip']) for a, b in zip(first, other))
  for a, b in zip(first[4:], resumed):
    np.testing.assert_array_equal(a['clip'], b['clip'])


def test_process_shares_of_train_clips_make_the_one_process_batches(prepared):
  path, info = prepared

  def take(batch_size, process_index=0, process_count=1):
    return list(itertools.islice(clips.train_clips(
        path, info, ['train'], batch_size, 16, 4, seed=0, skip_batches=1,
        process_index=process_index, process_count=process_count), 3))

  whole, shares = take(4), [take(2, i, 2) for i in range(2)]
  for step, batch in enumerate(whole):
    for name in ('clip', 'mask', 'label', 'video'):
      np.testing.assert_array_equal(
          np.concatenate([share[step][name] for share in shares]), batch[name])


def test_processes_run_the_same_number_of_eval_batches(prepared):
  path, info = prepared
  shares = [list(clips.eval_clips(path, info, 'train', 2, 16, 8, process_index=i, process_count=2))
            for i in range(2)]
  assert len(shares[0]) == len(shares[1])
  videos = [{int(v) for b in s for v in b['video'] if v >= 0} for s in shares]
  assert not videos[0] & videos[1] and len(videos[0] | videos[1]) == 6
