"""The prepare commands never report success for a dataset that cannot
train: count flags below 1, zero-dimensional features and captions without
a word to learn are refused, naming the flag or file, and leave nothing."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.io

from mmcap.data import pipeline
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data import sources
from mmcap.data import video_captions
from mmcap.data import video_records
from mmcap.data import video_sources
from mmcap.data.vocab import SPECIAL_TOKENS, UNK_ID, Vocabulary
from mmcap.errors import InputError, WriteError

from conftest import REPO, run_python


def karpathy(root, captions):
  """A Karpathy JSON of one image per (split, tokens), and (N, 4) features."""
  images = [
      {'filename': f'{i}.jpg', 'imgid': i, 'split': split,
       'sentences': [{'tokens': tokens, 'sentid': i}]}
      for i, (split, tokens) in enumerate(captions)
  ]
  (root / 'dataset.json').write_text(json.dumps({'images': images}))
  np.save(root / 'f.npy', np.ones((len(images), 4), np.float32))
  return str(root / 'dataset.json'), str(root / 'f.npy')


def prepare_images(root, captions, output_dir, **kwargs):
  path, features = karpathy(root, captions)
  records.prepare_dataset(path, sources.read_karpathy_json(path), features,
                          str(output_dir), **kwargs)
  return path


@pytest.mark.parametrize('flag, value', [('images_per_shard', 0), ('feature_dim', -1)])
def test_prepare_dataset_refuses_counts_below_one(tmp_path, flag, value):
  with pytest.raises(InputError, match=rf'^--{flag}={value}: expected a positive number$'):
    prepare_images(tmp_path, [('train', ['a', 'dog'])], tmp_path / 'new' / 'out',
                   min_word_count=1, **{flag: value})
  assert sorted(os.listdir(tmp_path)) == ['dataset.json', 'f.npy']


@pytest.mark.parametrize('tokens', [['<eos>'], ['<pad>', '<unk>'], ['<bos>', '<eos>']])
def test_captions_of_only_special_tokens_have_nothing_to_learn(tmp_path, tokens):
  with pytest.raises(InputError) as error:
    prepare_images(tmp_path, [('train', tokens), ('train', tokens), ('val', tokens)],
                   tmp_path / 'out', min_word_count=1)
  assert re.match(
      rf"{re.escape(str(tmp_path / 'dataset.json'))}: no word of the captions in the"
      r" vocabulary splits \('train', 'restval'\) is seen min_word_count=1 times or more"
      r" \(special-token strings such as '<eos>' are not words\): nothing to train on$",
      str(error.value)), str(error.value)
  assert sorted(os.listdir(tmp_path)) == ['dataset.json', 'f.npy']


def test_one_caption_of_only_special_tokens_is_named(tmp_path):
  with pytest.raises(InputError, match=r"dataset.json: caption sentid=1 of image '1.jpg' has"
                     r" no word in the vocabulary \(min_word_count=1\): '<eos> <pad>'"):
    prepare_images(tmp_path, [('train', ['a', 'dog']), ('train', ['<eos>', '<pad>'])],
                   tmp_path / 'out', min_word_count=1)


def test_special_tokens_inside_captions_are_stored_as_unk(tmp_path):
  output_dir = tmp_path / 'out'
  prepare_images(tmp_path, [('train', ['a', '<eos>', 'dog']), ('train', ['a', 'dog']),
                            ('val', ['a', '<eos>', 'dog', '<pad>'])], output_dir,
                 min_word_count=1)
  vocab = Vocabulary.load(str(output_dir / records.VOCAB_FILE))
  assert vocab.words == SPECIAL_TOKENS + ('a', 'dog')
  info = records.load_info(str(output_dir))
  batch = next(pipeline.eval_batches(pipeline.images(str(output_dir), info), 'val', 1, 6,
                                     per_caption=True))
  assert batch['targets'].tolist() == [[4, UNK_ID, 5, UNK_ID, 2, 0]]


def test_zero_dimensional_mat_features_are_refused(tmp_path):
  # The .npy (N, 0) case is in test_sources.
  path = str(tmp_path / 'vgg_feats.mat')
  scipy.io.savemat(path, {'feats': np.zeros((0, 2))})
  with pytest.raises(InputError, match=(
      rf'^{re.escape(path)}: expected \(D, N\) with D >= 1 feature dimensions, got'
      r' shape \(0, 2\)$')):
    sources.load_features(path, 2)


def test_zero_dimensional_msrvtt_features_are_refused(tmp_path):
  data = {'videos': [{'video_id': 'video1', 'split': 'train'}],
          'sentences': [{'caption': 'a man sings', 'video_id': 'video1', 'sen_id': 0}]}
  (tmp_path / 'info.json').write_text(json.dumps(data))
  (tmp_path / 'features').mkdir()
  np.save(tmp_path / 'features' / 'video1.npy', np.zeros((3, 0), np.float32))
  with pytest.raises(InputError, match=(
      rf'^{re.escape(str(tmp_path / "features" / "video1.npy"))}: expected \[T, D\]'
      r' features with D >= 1, got D = 0$')):
    video_sources.read_msrvtt(str(tmp_path / 'info.json'), str(tmp_path / 'features'))


def test_msvd_captions_of_only_special_tokens_have_nothing_to_learn(tmp_path):
  (tmp_path / 'sents_train.txt').write_text('vid1\t<pad> <unk>\nvid2\t<EOS>\n')
  (tmp_path / 'yt_allframes_vgg_fc7_train.txt').write_text('vid1_frame_1,1,2\nvid2_frame_1,3,4\n')
  videos, _ = video_sources.read_msvd(str(tmp_path))
  assert [v.sentences for v in videos] == [(('<pad>', '<unk>'),), (('<eos>',),)]
  train = [s for v in videos for s in v.sentences]
  with pytest.raises(InputError, match=rf"^{re.escape(str(tmp_path))}: no word of the captions"
                     r" in the vocabulary splits \('train',\)"):
    records.build_vocabulary(train, 1, str(tmp_path), ('train',))


def test_video_writers_refuse_videos_per_shard_below_one(tmp_path):
  video = video_captions.VideoCaptions('vid1', 'train', (('a', 'dog'),), (0,), 1)
  vocab = Vocabulary.build([['a', 'dog']], 1)
  with pytest.raises(InputError, match=r'^--videos_per_shard=0: expected a positive number$'):
    video_captions.write_dataset([video], lambda v: np.ones((2, 3)), vocab,
                                 str(tmp_path / 'out'), {}, videos_per_shard=0)
  with pytest.raises(InputError, match=r'^--videos_per_shard=-2: expected a positive number$'):
    video_records.write_videos([video_records.Video('v_A_g01_c01', 0, 'train')],
                               lambda v: np.ones((2, 3)), ['A'], 'rgb', str(tmp_path / 'out'),
                               {}, videos_per_shard=-2)
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('shape', [(2, 0), (0, 3)])
def test_activity_writer_refuses_empty_frames_and_leaves_nothing(tmp_path, shape):
  with pytest.raises(InputError, match=rf'^video v_A_g01_c01: expected \[T, D\] features with'
                     rf' T, D >= 1, got shape {re.escape(str(shape))}$'):
    video_records.write_videos([video_records.Video('v_A_g01_c01', 0, 'train')],
                               lambda v: np.ones(shape), ['A'], 'rgb',
                               str(tmp_path / 'new' / 'out'), {})
  assert not os.listdir(tmp_path)


def test_atomic_directory_failure_removes_the_parents_it_made(tmp_path):
  (tmp_path / 'kept').mkdir()
  for output_dir in (tmp_path / 'kept' / 'out', tmp_path / 'a' / 'b' / 'out'):
    with pytest.raises(RuntimeError):
      with prepared.atomic_directory(str(output_dir)) as tmp_dir:
        open(os.path.join(tmp_dir, 'part'), 'w').close()
        raise RuntimeError('interrupted')
  assert os.listdir(tmp_path) == ['kept'] and not os.listdir(tmp_path / 'kept')


def image_command(root):
  captions, features = karpathy(root, [('train', ['a', 'dog'])])
  return (['mmcap.prepare', f'--karpathy_json={captions}', f'--features={features}',
           '--images_per_shard=0'], r'--images_per_shard=0: expected a positive number')


def ucf101(root, train_list, dim):
  """UCF101 split lists of one class and [3, dim] features of its videos."""
  (root / 'lists').mkdir()
  (root / 'lists' / 'classInd.txt').write_text('1 A\n')
  (root / 'lists' / 'trainlist01.txt').write_text(train_list)
  (root / 'lists' / 'testlist01.txt').write_text('A/v_A_g02_c01.avi\n')
  (root / 'features').mkdir()
  for name in ('v_A_g01_c01', 'v_A_g02_c01'):
    np.save(root / 'features' / f'{name}.npy', np.zeros((3, dim), np.float32))
  return ['mmcap.prepare_videos', f'--ucf101_lists={root / "lists"}',
          f'--features_dir={root / "features"}']


def video_command(root):
  return (ucf101(root, 'A/v_A_g01_c01.avi 1\n', 0),
          rf'{re.escape(str(root / "features" / "v_A_g01_c01.npy"))}: expected \[T, D\]'
          r' features with D >= 1, got D = 0')


def video_without_training_command(root):
  return (ucf101(root, '', 2),
          rf'{re.escape(str(root / "lists" / "trainlist01.txt"))}: no training videos:'
          ' nothing to train on')


def video_caption_command(root):
  (root / 'sents_train.txt').write_text('vid1\t<pad> <unk>\nvid2\t<eos>\n')
  (root / 'yt_allframes_vgg_fc7_train.txt').write_text('vid1_frame_1,1,2\nvid2_frame_1,3,4\n')
  return (['mmcap.prepare_video_captions', f'--msvd_dir={root}', '--min_word_count=1'],
          rf"{re.escape(str(root))}: no word of the captions in the vocabulary splits"
          r" \('train',\) is seen min_word_count=1 times or more \(special-token strings such as"
          r" '<eos>' are not words\): nothing to train on")


@pytest.mark.parametrize('command', [image_command, video_command, video_without_training_command,
                                     video_caption_command])
def test_cli_refuses_in_one_line_and_writes_nothing(tmp_path, command):
  args, message = command(tmp_path)
  before = sorted(os.listdir(tmp_path))
  result = run_python('-m', *args, f'--output_dir={tmp_path / "new" / "out"}')
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and re.fullmatch(f'error: {message}', lines[0]), result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == before


def test_prepared_directory_respects_the_umask(tmp_path):
  previous = os.umask(0o027)
  try:
    with prepared.atomic_directory(str(tmp_path / 'out')) as tmp_dir:
      assert os.stat(tmp_dir).st_mode & 0o777 == 0o750
  finally:
    os.umask(previous)
  assert os.stat(tmp_path / 'out').st_mode & 0o777 == 0o750


# The child's preexec_fn only resets SIGINT's handler before exec: JAX's
# warning about forking a multithreaded process does not apply.
@pytest.mark.filterwarnings('ignore:os.fork.. was called:RuntimeWarning')
@pytest.mark.parametrize('stop, status, stderr', [
    (signal.SIGTERM, 143, ''), (signal.SIGINT, 130, 'error: interrupted\n')])
def test_interrupted_prepare_leaves_nothing(tmp_path, stop, status, stderr):
  """SIGTERM or Ctrl-C while the shards are written removes the unfinished
  directory (signals sent once the first shard is in the temporary
  directory)."""
  images = [{'filename': f'{i}.jpg', 'imgid': i, 'split': 'train',
             'sentences': [{'tokens': ['a', 'dog', 'runs'], 'sentid': i}]}
            for i in range(40_000)]
  (tmp_path / 'dataset.json').write_text(json.dumps({'images': images}))
  np.save(tmp_path / 'f.npy', np.ones((len(images), 256), np.float32))
  proc = subprocess.Popen(
      [sys.executable, '-m', 'mmcap.prepare', f'--karpathy_json={tmp_path}/dataset.json',
       f'--features={tmp_path}/f.npy', f'--output_dir={tmp_path}/out',
       '--images_per_shard=100'],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      # Ctrl-C as at a terminal, even where the suite itself runs with
      # SIGINT ignored (a background job of a script inherits SIG_IGN).
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  deadline = time.monotonic() + 120
  def writing():
    temporary = [n for n in os.listdir(tmp_path) if n.startswith('.preparing-')]
    return temporary and os.listdir(tmp_path / temporary[0])

  while not writing():
    assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
    time.sleep(0.01)
  proc.send_signal(stop)
  _, err = proc.communicate(timeout=60)
  assert (proc.returncode, err) == (status, stderr)
  assert sorted(os.listdir(tmp_path)) == ['dataset.json', 'f.npy']


def test_shard_that_cannot_be_written_is_a_write_error(tmp_path):
  """TensorFlow's own error (here: the directory is gone, as on a full or
  unmounted disk) becomes one line naming the shard."""
  with pytest.raises(WriteError, match=rf'^{tmp_path}/gone/train-00000-of-00001\.tfrecord: not written'):
    prepared.write_shards(str(tmp_path / 'gone'), 'train', [b'x'], 10,
                          np.random.default_rng(0), lambda member, shard: member)
