"""Readers of MSVD's and MSR-VTT's files, and the command that prepares them."""

import json
import os
import re

import numpy as np
import pytest

from mmcap.data import video_captions
from mmcap.data import video_sources
from mmcap.data.vocab import Vocabulary
from mmcap.errors import InputError

from conftest import run_python

DIM = 4
# MSVD sentences by split, in file order: vid1's captions are not adjacent.
MSVD_SENTENCES = {
    'train': [('vid1', 'A man plays a guitar.'), ('vid2', 'a dog runs'),
              ('vid1', 'The man is playing')],
    'val': [('vid1201', 'a cat sleeps')],
    'test': [('vid1301', 'A man runs!')],
}
# Feature lines by split, (video, frame number) in file order; vid3 has no
# caption, and vid2's frame numbers are out of order (file order counts).
MSVD_FRAMES = {
    'train': [('vid2', 10), ('vid1', 1), ('vid1', 2), ('vid3', 1), ('vid2', 2), ('vid1', 3)],
    'val': [('vid1201', 1)],
    'test': [('vid1301', 1), ('vid1301', 2)],
}


def frame(name: str, k: int) -> np.ndarray:
  """The features of one frame: distinct, exact in float32."""
  return (np.arange(DIM, dtype=np.float32) + 10 * int(name[3:]) + k) / 4


def write_msvd(root, layout='allframes'):
  """MSVD in S2VT's text files; layout 'allframes', 'pooled' (named videos)
  or 'pooled_implied' (the videos implied by the line)."""
  for split, lines in MSVD_SENTENCES.items():
    (root / f'sents_{split}.txt').write_text(
        ''.join(f'{name}\t{sentence}\n' for name, sentence in lines) + '\n')
  for split, frames in MSVD_FRAMES.items():
    if layout == 'allframes':
      lines = [f'{name}_frame_{k},' + ','.join(map(str, frame(name, k))) for name, k in frames]
      (root / f'yt_allframes_vgg_fc7_{split}.txt').write_text('\n'.join(lines) + '\n')
    else:
      names = dict.fromkeys(name for name, _ in frames)  # vid2 first
      if layout == 'pooled_implied':
        names = sorted(names, key=lambda name: int(name[3:]))
      prefix = '{},' if layout == 'pooled' else ''
      lines = [prefix.format(name) + ','.join(map(str, frame(name, 0))) for name in names]
      (root / f'yt_pooled_fc7_mean_{split}.txt').write_text('\n'.join(lines) + '\n')
  return str(root)


def test_reads_msvd_allframes(tmp_path):
  videos, load_frames = video_sources.read_msvd(write_msvd(tmp_path), 'allframes')
  assert [(v.name, v.split, v.sentids, v.video_id) for v in videos] == [
      ('vid1', 'train', (0, 2), 1), ('vid2', 'train', (1,), 2),
      ('vid1201', 'val', (3,), 1201), ('vid1301', 'test', (4,), 1301)]
  assert videos[0].sentences == (('a', 'man', 'plays', 'a', 'guitar'),
                                 ('the', 'man', 'is', 'playing'))
  for video in videos:
    want = [frame(name, k) for split in MSVD_FRAMES for name, k in MSVD_FRAMES[split]
            if name == video.name]
    got = load_frames(video)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.stack(want))
  np.testing.assert_array_equal(load_frames(videos[1]), [frame('vid2', 10), frame('vid2', 2)])


@pytest.mark.parametrize('layout', ['pooled', 'pooled_implied'])
def test_reads_msvd_pooled_both_layouts(tmp_path, layout):
  videos, load_frames = video_sources.read_msvd(write_msvd(tmp_path, layout), 'pooled')
  assert [(v.name, v.split) for v in videos] == [
      ('vid1', 'train'), ('vid2', 'train'), ('vid1201', 'val'), ('vid1301', 'test')]
  for video in videos:
    np.testing.assert_array_equal(load_frames(video), frame(video.name, 0)[None])


def test_val_and_test_sentences_are_optional(tmp_path):
  write_msvd(tmp_path)
  os.remove(tmp_path / 'sents_val.txt')
  os.remove(tmp_path / 'yt_allframes_vgg_fc7_val.txt')
  videos, _ = video_sources.read_msvd(str(tmp_path), 'allframes')
  assert [v.split for v in videos] == ['train', 'train', 'test']


def _append(line):
  return lambda text: text + line


@pytest.mark.parametrize('filename, edit, features, feature_dim, message', [
    ('sents_train.txt', None, 'allframes', None,
     r'sents_train.txt: MSVD sentences file not found'),
    ('sents_train.txt', _append('vid4 a man\n'), 'allframes', None,
     r'sents_train.txt:5: expected "VIDEO<TAB>sentence"'),
    ('sents_val.txt', _append('vid1202\t...\n'), 'allframes', None,
     r'sents_val.txt:3: the sentence of vid1202 has no word'),
    ('sents_test.txt', _append('vid2\ta dog\n'), 'allframes', None,
     r'sents_test.txt:3: video vid2 is also in sents_train.txt'),
    ('yt_allframes_vgg_fc7_test.txt', lambda text: text.replace('vid1301', 'vid1302'),
     'allframes', None, r'vgg_fc7_test.txt: no features for video vid1301 \(captioned in sents_test'),
    ('yt_allframes_vgg_fc7_val.txt', None, 'allframes', None,
     r'vgg_fc7_val.txt: MSVD allframes features file not found'),
    ('yt_allframes_vgg_fc7_train.txt', _append('vid1_frame_4,1,2,3\n'), 'allframes', None,
     r'vgg_fc7_train.txt:7: 3 feature values, expected D = 4'),
    ('yt_allframes_vgg_fc7_val.txt', _append('vid1201_frame_2,1,2,abc,4\n'), 'allframes', None,
     r"vgg_fc7_val.txt:2: feature value 'abc' is not a number"),
    ('yt_allframes_vgg_fc7_val.txt', _append('vid1201,1,2,3,4\n'), 'allframes', None,
     r'vgg_fc7_val.txt:2: expected "VIDEO_frame_K,f1,...,fD"'),
    ('yt_allframes_vgg_fc7_val.txt', _append('vid1201_frame_2,1,nan,3,4\n'), 'allframes', None,
     r'vgg_fc7_val.txt:2: feature values not finite'),
    ('sents_train.txt', lambda text: text, 'allframes', 4096,
     r'vgg_fc7_train.txt:1: 4 feature values, expected D = 4096'),
    ('yt_pooled_fc7_mean_train.txt', _append('vid2,1,2,3,4\n'), 'pooled', None,
     r'mean_train.txt:4: a second line of video vid2'),
])
def test_bad_msvd_files_are_named(tmp_path, filename, edit, features, feature_dim, message):
  write_msvd(tmp_path, features)
  path = tmp_path / filename
  if edit is None:
    os.remove(path)
  else:
    path.write_text(edit(path.read_text()))
  with pytest.raises(InputError, match=message):
    video_sources.read_msvd(str(tmp_path), features, feature_dim)


MSRVTT = {
    'videos': [{'video_id': 'video7010', 'split': 'train', 'id': 7010},
               {'video_id': 'video7011', 'split': 'validate', 'id': 7011},
               {'video_id': 'video9', 'split': 'test', 'id': 9}],
    'sentences': [{'caption': 'A man is singing.', 'video_id': 'video7010', 'sen_id': 10},
                  {'caption': 'a woman talks', 'video_id': 'video9', 'sen_id': 3},
                  {'caption': 'someone sings', 'video_id': 'video7010', 'sen_id': 11},
                  {'caption': 'a car drives', 'video_id': 'video7011', 'sen_id': 12}],
}


def write_msrvtt(root, data=MSRVTT):
  """videodatainfo.json and one [T, D] .npy per video, T = 2, 3, 4."""
  (root / 'videodatainfo.json').write_text(json.dumps(data))
  (root / 'features').mkdir()
  for t, name in enumerate(['video7010', 'video7011', 'video9'], 2):
    np.save(root / 'features' / f'{name}.npy', np.full((t, DIM), t, np.float64))
  return str(root / 'videodatainfo.json'), str(root / 'features')


def test_reads_msrvtt(tmp_path):
  videos, load_frames = video_sources.read_msrvtt(*write_msrvtt(tmp_path))
  assert [(v.name, v.split, v.sentids, v.video_id) for v in videos] == [
      ('video7010', 'train', (10, 11), 7010), ('video7011', 'val', (12,), 7011),
      ('video9', 'test', (3,), 9)]
  assert videos[0].sentences == (('a', 'man', 'is', 'singing'), ('someone', 'sings'))
  frames = load_frames(videos[2])
  assert frames.dtype == np.float32
  np.testing.assert_array_equal(frames, np.full((4, DIM), 4))


def _changed(edit):
  data = json.loads(json.dumps(MSRVTT))
  edit(data)
  return data


def _add_video5(data):
  data['videos'].append({'video_id': 'video5', 'split': 'train'})
  data['sentences'].append({'caption': 'a man', 'video_id': 'video5', 'sen_id': 0})


@pytest.mark.parametrize('data, feature_dim, message', [
    ('{"videos": [', None, r'videodatainfo.json: not valid JSON'),
    (_changed(lambda d: d['videos'][1].pop('split')), None, r'no field videos\[1\].split'),
    (_changed(lambda d: d['sentences'][2].update(sen_id='11')), None,
     r'sentences\[2\].sen_id must be int, got str'),
    (_changed(lambda d: d['videos'][2].update(split='dev')), None,
     r"videos\[2\].split is 'dev', expected one of \['train', 'validate', 'test'\]"),
    (_changed(lambda d: d['sentences'][1].update(video_id='video8')), None,
     r"sentences\[1\].video_id 'video8' is not in \"videos\""),
    (_changed(lambda d: d['sentences'].pop(1)), None, r"video 'video9' has no sentence"),
    (_changed(lambda d: d['sentences'][3].update(sen_id=10)), None,
     r'sentences\[3\].sen_id 10 repeats an earlier one'),
    (_changed(_add_video5), None, r'video5.npy: no feature file for video video5 of the train list'),
    (MSRVTT, 2048, r'video7010.npy: expected D = 2048 features per frame'),
])
def test_bad_msrvtt_files_are_named(tmp_path, data, feature_dim, message):
  json_path, features_dir = write_msrvtt(tmp_path)
  with open(json_path, 'w') as f:
    f.write(data if isinstance(data, str) else json.dumps(data))
  with pytest.raises(InputError, match=message):
    video_sources.read_msrvtt(json_path, features_dir, feature_dim)


def test_write_dataset_round_trip(tmp_path):
  videos, load_frames = video_sources.read_msvd(write_msvd(tmp_path), 'allframes')
  vocab = Vocabulary.build([s for v in videos if v.split == 'train' for s in v.sentences], 1)
  output_dir = str(tmp_path / 'out')
  video_captions.write_dataset(videos, load_frames, vocab, output_dir, {'captions': 'msvd'},
                               videos_per_shard=1)
  info = video_captions.load_info(output_dir)
  assert info['feature_dim'] == DIM and info['vocab_size'] == len(vocab)
  assert {split: (e['num_videos'], e['num_captions'], e['num_frames'], e['max_frames'])
          for split, e in info['splits'].items()} == {
              'train': (2, 3, 5, 3), 'val': (1, 1, 1, 1), 'test': (1, 1, 2, 2)}
  assert len(info['splits']['train']['files']) == 2


def prepare(*flags):
  return run_python('-m', 'mmcap.prepare_video_captions', *flags)


def test_cli_prepares_msvd(tmp_path):
  output_dir = tmp_path / 'out'
  result = prepare(f'--msvd_dir={write_msvd(tmp_path)}', f'--output_dir={output_dir}',
                   '--min_word_count=1', '--float16')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == (
      f'wrote {output_dir}: videos (captions) per split: train 2 (3), val 1 (1),'
      ' test 1 (1); 4-d features; 13 words')
  assert video_captions.load_info(str(output_dir))['storage_dtype'] == 'float16'


@pytest.mark.parametrize('flags, message', [
    (['--msvd_dir={root}', '--demo', '--output_dir={out}'],
     r"give exactly one of --msvd_dir, --msrvtt_json and --demo, got \['--msvd_dir', '--demo'\]"),
    # Refused before reading anything (the MSVD directory here is absent).
    (['--msvd_dir={root}/absent', '--output_dir={root}'], r'{root}: output directory already exists'),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, flags, message):
  root, out = write_msvd(tmp_path), tmp_path / 'out'
  before = sorted(os.listdir(root))
  result = prepare(*(f.format(root=root, out=out) for f in flags))
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-3000:]
  assert re.search(message.format(root=re.escape(root)), lines[0]), lines[0]
  assert not out.exists() and sorted(os.listdir(root)) == before


def test_cli_demo(tmp_path):
  result = prepare('--demo', f'--output_dir={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr[-3000:]
  info = video_captions.load_info(str(tmp_path / 'out'))
  assert set(info['splits']) == {'train', 'val', 'test'}
