"""python -m mmcap.extract: image files -> the features file prepare reads,
equal to Keras's VGG-16 and ResNet-50 on the same weights; resumable; bad
files named."""

import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
import tensorflow as tf
import tensorflow_datasets as tfds

from mmcap.data import image_files
from mmcap.data import sources
from mmcap.data import tfds_source
from mmcap.data import video_records
from mmcap.errors import InputError

from conftest import (FLICKR8K_DIR, run_command_lines, run_python, with_flags,
                      write_coco_captions, write_ucf101)
from test_vgg import SMALL, keras_vgg, real_looking_images, save_legacy_h5
import test_resnet

keras = pytest.importorskip('keras')


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
  """A narrow VGG-16 (64-pixel crops) and its Keras legacy .h5 file."""
  model = keras_vgg(SMALL)
  path = tmp_path_factory.mktemp('weights') / 'small_vgg16.h5'
  save_legacy_h5(model, path)
  return model, str(path)


def write_images(directory, count=5, size=64) -> np.ndarray:
  """PNGs and JPEGs (one grayscale, one CMYK), named out of order."""
  directory.mkdir(parents=True, exist_ok=True)
  images = real_looking_images(count, size).astype(np.uint8)
  for i, image in enumerate(images):
    picture = Image.fromarray(image)
    name = f'img{(count - i):02d}'
    if i == 1:
      picture.convert('L').save(directory / f'{name}.jpg')
    elif i == 2:
      picture.convert('CMYK').save(directory / f'{name}.jpeg', quality=95)
    else:
      picture.save(directory / f'{name}.png')
  return images


def extract(*flags):
  return run_python('-m', 'mmcap.extract', *flags)


def test_extracted_features_equal_keras_and_resume_in_parts(weights, tmp_path):
  model, weights_file = weights
  write_images(tmp_path / 'images')
  output = tmp_path / 'feats.npy'
  common = [f'--images={tmp_path / "images"}', f'--weights={weights_file}', '--resize=64',
            '--crop=64', '--layer=fc7', '--batch_size=2', '--part_size=2', f'--output={output}']
  # An interrupted extraction: one file of the third part is not an image.
  (tmp_path / 'images' / 'zz_broken.png').write_text('not a picture')
  result = extract(*common)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      f'error: {tmp_path / "images" / "zz_broken.png"}: not a readable JPEG or PNG image')
  assert not output.exists()
  done = sorted(os.listdir(f'{output}.parts'))
  assert done == ['extraction.json', 'part-00000-of-00003.names.txt', 'part-00000-of-00003.npy',
                  'part-00001-of-00003.names.txt', 'part-00001-of-00003.npy']

  # Another extraction into the same output is refused, not mixed in.
  result = extract(*common, '--layer=fc6')
  assert result.returncode == 2 and 'holds another extraction' in result.stderr
  # The file repaired, the same command resumes: parts 1 and 2 are kept.
  (tmp_path / 'images' / 'zz_broken.png').write_bytes(
      (tmp_path / 'images' / 'img01.png').read_bytes())
  result = extract(*common)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'part 3/3' in result.stdout and 'part 1/3' not in result.stdout
  assert not os.path.exists(f'{output}.parts')
  features = np.load(output)
  names = (tmp_path / 'feats.names.txt').read_text().splitlines()
  assert [os.path.basename(n) for n in names] == [
      'img01.png', 'img02.png', 'img03.jpeg', 'img04.jpg', 'img05.png', 'zz_broken.png']
  assert features.shape == (6, SMALL.dense_dim) and features.dtype == np.float32
  # The same images through Keras: decoded as mmcap decodes them (the
  # grayscale and CMYK ones through their RGB conversion), in name order.
  decoded = np.stack([np.asarray(Image.open(n).convert('RGB'), np.float32) for n in names])
  want = np.asarray(model(keras.applications.vgg16.preprocess_input(decoded.copy()))[1])
  exact = [0, 1, 3, 4, 5]  # PNGs and the grayscale JPEG: the same pixels as PIL's
  np.testing.assert_allclose(features[exact], want[exact], rtol=1e-4,
                             atol=1e-4 * np.abs(want).max())
  # CMYK -> RGB differs by a few grey levels between libjpeg and PIL.
  assert np.corrcoef(features[2], want[2])[0, 1] > 0.99


def test_resnet50_features_equal_keras(tmp_path):
  # --cnn=resnet50 writes avg_pool by default: Keras's, from the same file.
  model = test_resnet.keras_resnet50(test_resnet.SMALL)
  test_resnet.save_legacy_h5(model, tmp_path / 'small_resnet50.h5')
  write_images(tmp_path / 'images', count=3)
  result = extract(f'--images={tmp_path / "images"}', '--cnn=resnet50',
                   f'--weights={tmp_path / "small_resnet50.h5"}', '--resize=64', '--crop=64',
                   f'--output={tmp_path / "feats.npy"}')
  assert result.returncode == 0, result.stderr[-3000:]
  features = np.load(tmp_path / 'feats.npy')
  names = (tmp_path / 'feats.names.txt').read_text().splitlines()
  decoded = np.stack([np.asarray(Image.open(n).convert('RGB'), np.float32) for n in names])
  want = np.asarray(model(keras.applications.resnet50.preprocess_input(decoded.copy()))[0])
  assert features.shape == (3, test_resnet.SMALL.feature_dim)
  exact = [1, 2]  # the grayscale JPEG and the PNG (img01 is the CMYK one; see above)
  np.testing.assert_allclose(features[exact], want[exact], rtol=1e-4,
                             atol=1e-4 * np.abs(want).max())


def test_karpathy_json_rows_follow_imgid(weights, tmp_path):
  _, weights_file = weights
  write_images(tmp_path / 'coco' / 'val2014', count=2)
  entries = [{'imgid': 1, 'filepath': 'val2014', 'filename': 'img02.png', 'split': 'test',
              'sentences': [{'tokens': ['a'], 'raw': 'a', 'sentid': 0}]},
             {'imgid': 0, 'filepath': 'val2014', 'filename': 'img01.jpg', 'split': 'train',
              'sentences': [{'tokens': ['b'], 'raw': 'b', 'sentid': 1}]}]
  captions = tmp_path / 'dataset.json'
  captions.write_text(json.dumps({'images': entries}))
  result = extract(f'--karpathy_json={captions}', f'--image_root={tmp_path / "coco"}',
                   f'--weights={weights_file}', '--resize=64', '--crop=64', '--layer=pool5',
                   '--batch_size=2', f'--output={tmp_path / "f.npy"}')
  assert result.returncode == 0, result.stderr[-3000:]
  names = (tmp_path / 'f.names.txt').read_text().splitlines()
  assert [os.path.basename(n) for n in names] == ['img01.jpg', 'img02.png']
  assert np.load(tmp_path / 'f.npy').shape == (2, 2 * 2 * SMALL.widths[-1])


def test_videos_give_one_feature_file_each_and_resume(weights, tmp_path):
  model, weights_file = weights
  videos = tmp_path / 'videos'
  write_images(videos / 'v_b', count=5)
  write_images(videos / 'v_a', count=2)
  broken = videos / 'v_b' / 'img03.jpeg'  # the 2nd of the frames kept (img01, img03, img05)
  picture = broken.read_bytes()
  broken.write_text('not a picture')
  output = tmp_path / 'features'
  common = [f'--videos={videos}', f'--weights={weights_file}', '--resize=64', '--crop=64',
            '--layer=fc7', '--batch_size=2', '--every=2', f'--output={output}']
  result = extract(*common)
  assert result.returncode == 2 and 'v_b/img03.jpeg: not a readable' in result.stderr
  assert sorted(os.listdir(output)) == ['extraction.json', 'v_a.npy']  # v_b not begun
  broken.write_bytes(picture)
  result = extract(*common)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'video 2/2 (v_b)' in result.stdout and 'video 1/2' not in result.stdout
  for video, count in (('v_a', 2), ('v_b', 5)):
    names = sorted(os.listdir(videos / video))[::2]  # every 2nd frame in name order
    decoded = np.stack([np.asarray(Image.open(videos / video / n).convert('RGB'), np.float32)
                        for n in names])
    want = np.asarray(model(keras.applications.vgg16.preprocess_input(decoded))[1])
    found = np.load(output / f'{video}.npy')
    assert found.shape == (-(-count // 2), SMALL.dense_dim)
    png = [k for k, name in enumerate(names) if name.endswith('.png')]
    np.testing.assert_allclose(found[png], want[png], rtol=1e-4, atol=1e-4 * np.abs(want).max())


# `mmcap.extract` run as its command line does, inside TFDS's mock_data:
# the TFDS dataset read is tf_flowers' 5 random examples of random sizes.
EXTRACT_IN_MOCK_DATA = """
import sys
import tensorflow_datasets as tfds
from absl import app
from mmcap import errors, extract
sys.argv = ['mmcap.extract', *{args!r}]
with tfds.testing.mock_data(num_examples=5):
  app.run(extract.main, flags_parser=errors.parse_flags)
"""


def test_a_tfds_split_gives_the_features_of_its_images_as_files(weights, tmp_path):
  with tfds.testing.mock_data(num_examples=5):
    split = tfds_source.open_split('tf_flowers', 'train', None, 'image')
    examples = list(split.images(0, split.num_examples).as_numpy_iterator())
  (tmp_path / 'images').mkdir()
  for encoded, name in examples:  # the pixels mmcap decodes from them, as image files
    Image.fromarray(image_files.decode_contents(encoded).numpy()).save(
        tmp_path / 'images' / f'{int(name):03d}.png')
  common = [f'--weights={weights[1]}', '--resize=64', '--crop=64', '--layer=fc7',
            '--batch_size=2', '--part_size=2']
  result = run_python('-c', EXTRACT_IN_MOCK_DATA.format(
      args=['--tfds=tf_flowers', f'--output={tmp_path}/tfds.npy', *common]))
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'part 3/3' in result.stdout
  result = extract(f'--images={tmp_path}/images', f'--output={tmp_path}/files.npy', *common)
  assert result.returncode == 0, result.stderr[-3000:]
  np.testing.assert_array_equal(np.load(tmp_path / 'tfds.npy'), np.load(tmp_path / 'files.npy'))
  assert (tmp_path / 'tfds.names.txt').read_text().splitlines() == ['0', '1', '2', '3', '4']


def test_a_prepared_tfds_split_is_read_in_order_with_its_file_names(tmp_path):
  """A real TFDS dataset on disk (not mocked): the stored order, slices,
  the file name field, and an unknown split in one line."""
  features = tfds.features.FeaturesDict({
      'image': tfds.features.Image(encoding_format='png'), 'image/filename': tfds.features.Text()})
  directory = tmp_path / 'tiny_images' / '1.0.0'
  directory.mkdir(parents=True)
  pictures = real_looking_images(3, 40).astype(np.uint8)
  names = ['c.jpg', 'a.jpg', 'b.jpg']
  with tf.io.TFRecordWriter(str(directory / 'tiny_images-train.tfrecord-00000-of-00001')) as w:
    for picture, name in zip(pictures, names):
      w.write(features.serialize_example({'image': picture, 'image/filename': name}))
  tfds.folder_dataset.write_metadata(data_dir=directory, features=features, check_data=False)

  split = tfds_source.open_split('tiny_images', 'train', str(tmp_path), 'image')
  assert split.num_examples == 3 and split.name_field == 'image/filename'
  found = list(split.images(1, 3).as_numpy_iterator())
  assert [name.decode() for _, name in found] == names[1:]
  np.testing.assert_array_equal(image_files.decode_contents(found[0][0]).numpy(), pictures[1])
  assert tfds_source.open_split('tiny_images', 'train[1:]', str(tmp_path), 'image').num_examples == 2
  with pytest.raises(InputError, match='--tfds_split=dev: not a split of tiny_images'):
    tfds_source.open_split('tiny_images', 'dev', str(tmp_path), 'image')


def test_three_commands_from_tfds_coco_captions(weights, tmp_path):
  """coco_captions as `tfds build` leaves it (a replica on disk, holding
  real Flickr8k captions) -> extract -> prepare: every prepared image has
  its own feature row, its captions tokenized as a Karpathy JSON's, its
  split and COCO's id."""
  texts = {}
  for line in (Path(FLICKR8K_DIR) / 'Flickr8k.token.txt').read_text().splitlines():
    name, text = line.split('\t')
    texts.setdefault(name.split('#')[0], []).append(text)
  pictures = iter(real_looking_images(8, 64).astype(np.uint8))
  coco_ids = iter(range(9000, 9008))
  splits = {}
  for split, listed, count in (('train', 'train', 4), ('val', 'dev', 2), ('test', 'test', 2)):
    names = (Path(FLICKR8K_DIR) / f'Flickr_8k.{listed}Images.txt').read_text().split()[:count]
    splits[split] = [{'picture': next(pictures), 'filename': name, 'id': next(coco_ids),
                      'texts': texts[name]} for name in names]
  write_coco_captions(tmp_path / 'tfds', splits)
  tfds_flags = ['--tfds=coco_captions', f'--tfds_data_dir={tmp_path}/tfds']
  result = extract(*tfds_flags, '--tfds_split=train+val+test', f'--output={tmp_path}/feats.npy',
                   f'--weights={weights[1]}', '--resize=64', '--crop=64', '--layer=fc7')
  assert result.returncode == 0, result.stderr[-3000:]
  # The splits in another order than extract's: rows are found by name.
  prepare = ['-m', 'mmcap.prepare', *tfds_flags, f'--features={tmp_path}/feats.npy',
             '--min_word_count=1']
  result = run_python(*prepare, '--tfds_splits=test,val,train',
                      f'--output_dir={tmp_path}/prepared')
  assert result.returncode == 0, result.stderr[-3000:]
  # A refusal after TFDS has read is still one line (TFDS logs at INFO).
  result = run_python(*prepare, '--tfds_splits=train', f'--output_dir={tmp_path}/other')
  assert result.returncode == 2 and result.stderr.strip().splitlines() == [
      'error: --tfds=coco_captions: the features hold 8 rows, the splits train 4 images:'
      ' extract the features of exactly these splits'], result.stderr

  features = np.load(tmp_path / 'feats.npy')
  rows = (tmp_path / 'feats.names.txt').read_text().splitlines()
  builder = tfds.builder_from_directory(str(tmp_path / 'prepared'))
  for split, examples in splits.items():
    prepared = {e['image']['filename'].decode(): e
                for e in tfds.as_numpy(builder.as_dataset(split=split))}
    assert sorted(prepared) == sorted(e['filename'] for e in examples)
    for example in examples:
      image, caption = prepared[example['filename']]['image'], prepared[example['filename']]['caption']
      row = rows.index(example['filename'])
      assert image['id'] == row and image['result_id'] == example['id']
      np.testing.assert_array_equal(image['feature'], features[row])
      assert [t.decode() for t in caption['text']] == [
          ' '.join(sources.tokenize(text)) for text in example['texts']]
  assert len(np.unique(features, axis=0)) == 8  # eight pictures, eight rows


BAD_FLAGS = [
    (['--crop=60'], '--crop=60: expected a multiple of 32'),
    (['--crop=96'], 'no larger than --resize=64'),
    (['--output={d}/f.txt'], 'expected a .npy file name'),
    (['--weights={d}/none.h5'], 'obtain vgg16_weights_tf_dim_ordering_tf_kernels.h5'),
    (['--crop=32', '--resize=32'], 'the weights of another architecture or crop size'),
    (['--cnn=resnet50'], "no layer 'conv1_conv'; expected the weights of ResNet-50"),
    (['--cnn=resnet50', '--layer=fc7'], '--layer=fc7: ResNet-50 (--cnn=resnet50) has avg_pool,'),
    (['--cnn=resnet50', '--weights={d}/none.h5'],
     'obtain resnet50_weights_tf_dim_ordering_tf_kernels.h5'),
    (['--cnn=resnet50', '--weights={d}/notop.h5', '--layer=logits'],
     '--layer=logits: {d}/notop.h5 has no classifier (a _notop file)'),
    (['--images={d}/none'], 'not a directory'),
    (['--images={d}/gif'], 'no .jpg/.jpeg/.png file'),
    (['--karpathy_json={d}/none.json'], 'give exactly one of --images, --karpathy_json, --videos'),
    (['--tfds=no_such_dataset_x'], '--tfds=no_such_dataset_x: no TFDS dataset of that name'),
    (['--tfds=mnist', '--tfds_data_dir={d}/empty'],
     '--tfds=mnist: not prepared in {d}/empty/mnist/3.0.1; mmcap downloads nothing'),
    (['--tfds=mnist', '--tfds_image_field=picture'], "--tfds=mnist: no image field 'picture'"),
    (['--videos={d}/none', '--output={d}/feats'], '--videos={d}/none: not a directory'),
    (['--videos={d}', '--output={d}/feats'], 'bad_flags0/gif: no .jpg/.jpeg/.png frame file'),
    (['--videos={d}/videos'], '--output={d}/f.npy: expected a directory for --videos'),
    (['--videos={d}/videos', '--output={d}/feats', '--every=0'], '--every=0: expected a positive'),
    (['--tfds_video_field=video'], '--tfds_video_field: give it with --tfds'),
    (['--tfds=mnist', '--tfds_video_field=image', '--output={d}/feats'],
     "--tfds=mnist: no video field 'image'"),
    (['--tfds=ucf101/ucf101_1', '--tfds_video_field=video', '--tfds_split=train[:2]',
      '--output={d}/feats'], '--tfds_split=train[:2]: expected split names of ucf101/ucf101_1'),
    (['--tfds=ucf101/ucf101_1', '--tfds_video_field=video'],
     '--output={d}/f.npy: expected a directory for --tfds_video_field'),
]


@pytest.fixture(scope='module')
def bad_flag_results(weights, tmp_path_factory):
  """Every case of BAD_FLAGS run in one process (tests/cli_driver.py)."""
  d = tmp_path_factory.mktemp('bad_flags')
  write_images(d / 'images', count=1)
  (d / 'gif').mkdir()
  write_images(d / 'videos' / 'v1', count=2)
  test_resnet.save_legacy_h5(test_resnet.keras_resnet50(
      dataclasses.replace(test_resnet.SMALL, num_classes=0)), d / 'notop.h5')
  defaults = {'--images': f'{d}/images', '--weights': weights[1], '--resize': '64',
              '--crop': '64', '--output': f'{d}/f.npy'}
  cases = [with_flags({k: v for k, v in defaults.items()
                       if k != '--images' or not any(f.startswith(('--videos=', '--tfds='))
                                                     for f in flags)},
                      flags, d) for flags, _ in BAD_FLAGS]
  return d, run_command_lines('mmcap.extract', cases, d)


@pytest.mark.parametrize('index', range(len(BAD_FLAGS)), ids=[m for _, m in BAD_FLAGS])
def test_bad_flags_are_one_line(bad_flag_results, index):
  d, results = bad_flag_results
  result = results[index]
  assert result['traceback'] is None and result['status'] == 2, result
  (line,) = result['stderr'].strip().splitlines()
  assert line.startswith('error: ') and BAD_FLAGS[index][1].format(d=d) in line, line
  assert not os.path.exists(f'{d}/f.npy') and not os.path.exists(f'{d}/f.npy.parts')
  assert not os.path.exists(f'{d}/feats')


def test_tfds_videos_to_prepared_videos(weights, tmp_path):
  """ucf101 as `tfds build` leaves it (a replica on disk) -> extract
  --tfds_video_field -> prepare_videos --tfds: each video's file holds the
  features of its every 2nd frame as TFDS stores them, named by its place in
  its split, and is prepared with its label."""
  model, weights_file = weights
  pictures = iter(real_looking_images(14, 64).astype(np.uint8))  # each frame its own
  frames = lambda count: np.stack([next(pictures) for _ in range(count)])
  splits = {'train': [(frames(5), 7), (frames(2), 0), (frames(3), 100)],
            'test': [(frames(3), 42), (frames(1), 7)]}
  write_ucf101(tmp_path / 'tfds', splits)
  tfds_flags = ['--tfds=ucf101/ucf101_1', f'--tfds_data_dir={tmp_path}/tfds']
  command = [*tfds_flags, '--tfds_video_field=video', '--tfds_split=train+test', '--every=2',
             '--batch_size=2', f'--output={tmp_path}/rgb', f'--weights={weights_file}',
             '--resize=64', '--crop=64', '--layer=fc7']
  result = extract(*command)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'video 5/5 (test_000001)' in result.stdout and not result.stderr.strip()
  os.remove(tmp_path / 'rgb' / 'train_000001.npy')  # as if interrupted there
  result = extract(*command)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'video 2/5 (train_000001)' in result.stdout and 'video 1/5' not in result.stdout
  builder = tfds.builder('ucf101/ucf101_1', data_dir=str(tmp_path / 'tfds'))
  for split, videos in splits.items():
    stored = builder.as_dataset(split=split, shuffle_files=False,
                                decoders={'video': tfds.decode.SkipDecoding()})
    for index, example in enumerate(tfds.as_numpy(stored)):
      decoded = np.stack([np.asarray(Image.open(io.BytesIO(frame)).convert('RGB'))
                          for frame in example['video'][::2]])
      want = np.asarray(model(keras.applications.vgg16.preprocess_input(
          decoded.astype(np.float32)))[1])
      found = np.load(tmp_path / 'rgb' / f'{split}_{index:06d}.npy')
      assert found.shape == (-(-len(videos[index][0]) // 2), SMALL.dense_dim)
      np.testing.assert_allclose(found, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())

  prepare = ['-m', 'mmcap.prepare_videos', *tfds_flags, f'--features_dir={tmp_path}/rgb']
  result = run_python(*prepare, f'--output_dir={tmp_path}/prepared')
  assert result.returncode == 0, result.stderr[-3000:]
  info = video_records.load_info(str(tmp_path / 'prepared'))
  assert len(info['classes']) == 101 and info['classes'][7] == 'Basketball'
  assert {split: v['num_videos'] for split, v in info['splits'].items()} == {
      'train': 3, 'test': 2}
  for split, videos in splits.items():
    listed = {name: (label, num_frames) for name, label, num_frames, _ in
              info['splits'][split]['videos']}
    assert listed == {f'{split}_{i:06d}': (label, -(-len(frames) // 2))
                      for i, (frames, label) in enumerate(videos)}
  prepared = tfds.builder_from_directory(str(tmp_path / 'prepared'))
  for example in tfds.as_numpy(prepared.as_dataset(split='test')):
    name = info['splits']['test']['videos'][example['video']['index']][0]
    stored = np.frombuffer(example['video']['features'], '<f2').reshape(-1, SMALL.dense_dim)
    np.testing.assert_allclose(stored, np.load(tmp_path / 'rgb' / f'{name}.npy'),
                               rtol=1e-3, atol=1e-3)
  # Features of another split of UCF101 (whose videos are named alike), of
  # a split not extracted, or missing a video, are each one line.
  write_ucf101(tmp_path / 'tfds', {'train': splits['train'][:1]}, config='ucf101_2')
  os.remove(tmp_path / 'rgb' / 'test_000001.npy')
  record = f'{tmp_path}/rgb/extraction.json'
  for flags, message in (
      (['--tfds=ucf101/ucf101_2'], f'error: {record}: the features are of'
       ' ucf101/ucf101_1/2.0.0, not of ucf101/ucf101_2/2.0.0'),
      (['--tfds_splits=train,validation'], f'error: {record}: no features of split validation'),
      ([], f'error: {tmp_path}/rgb/test_000001.npy: no feature file for video test_000001')):
    result = run_python(*prepare, *flags, f'--output_dir={tmp_path}/other')
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message), line
  assert not (tmp_path / 'other').exists()
