import json

import numpy as np
import pytest
import scipy.io

from mmcap.data import sources
from mmcap.errors import InputError



def karpathy(images):
  return {'dataset': 'test', 'images': images}


def entry(imgid, split='train', tokens=('a', 'dog')):
  return {
      'filename': f'{imgid}.jpg',
      'imgid': imgid,
      'split': split,
      'sentids': [imgid],
      'sentences': [
          {'tokens': list(tokens), 'raw': ' '.join(tokens), 'imgid': imgid, 'sentid': imgid}
      ],
  }


def write(tmp_path, data):
  path = tmp_path / 'dataset.json'
  path.write_text(data if isinstance(data, str) else json.dumps(data))
  return str(path)


def test_reads_karpathy_json(tmp_path):
  path = write(tmp_path, karpathy([entry(1, 'val'), entry(0)]))
  images = sources.read_karpathy_json(path)
  assert [(im.imgid, im.split) for im in images] == [(1, 'val'), (0, 'train')]
  assert images[0].sentences == (('a', 'dog'),)


def test_image_ids_for_results_files(tmp_path):
  coco = [{**entry(0), 'cocoid': 391895}, {**entry(1), 'cocoid': 522418}]
  assert [im.image_id for im in sources.read_karpathy_json(
      write(tmp_path, karpathy(coco)))] == [391895, 522418]
  flickr30k = [{**entry(0), 'filename': '1000092795.jpg'}, {**entry(1), 'filename': '10002456.jpg'}]
  assert [im.image_id for im in sources.read_karpathy_json(
      write(tmp_path, karpathy(flickr30k)))] == [1000092795, 10002456]
  flickr8k = [{**entry(0), 'filename': '1000268201_693b08cb0e.jpg'}, entry(1)]
  assert [im.image_id for im in sources.read_karpathy_json(
      write(tmp_path, karpathy(flickr8k)))] == [0, 1]


@pytest.mark.parametrize(
    'data, message',
    [
        ('{"images": [', 'not valid JSON'),
        ({'dataset': 'x'}, 'has no field "images"'),
        (karpathy([]), '"images" is empty'),
        (karpathy([entry(0, split='dev')]), r'images\[0\].split is "dev"'),
        (karpathy([{**entry(0), 'imgid': 'zero'}]), r'images\[0\].imgid must be int'),
        (karpathy([entry(0, tokens=())]), r'images\[0\].sentences\[0\].tokens'),
        (karpathy([entry(0), entry(2)]), 'imgid values must be 0..1'),
    ],
)
def test_malformed_karpathy_json_names_file_and_field(tmp_path, data, message):
  path = write(tmp_path, data)
  with pytest.raises(InputError, match=message) as error:
    sources.read_karpathy_json(path)
  assert str(error.value).startswith(path)


def test_missing_file(tmp_path):
  with pytest.raises(InputError, match='not found'):
    sources.read_karpathy_json(str(tmp_path / 'none.json'))


def test_reads_real_flickr8k_release(flickr8k_images):
  splits = [im.split for im in flickr8k_images]
  assert (splits.count('train'), splits.count('val'), splits.count('test')) == (40, 10, 10)
  # The image listed in no split file is dropped, as in Karpathy's JSON.
  assert '1155138244_859fd6e079.jpg' not in {im.filename for im in flickr8k_images}
  first = flickr8k_images[0]
  assert first.filename == '1191338263_a4fa073154.jpg'
  assert first.sentences[0] == tuple('a little old lady sitting next to an advertisement'.split())
  assert all(len(im.sentences) == 5 for im in flickr8k_images)
  assert [im.imgid for im in flickr8k_images] == list(range(60))


def test_tokenize_keeps_special_token_strings_whole():
  # Markup, not the words 'eos', 'pad': the vocabulary encodes them as <unk>.
  assert sources.tokenize('A dog <EOS> runs<pad>, <unk>!') == (
      'a', 'dog', '<eos>', 'runs', '<pad>', '<unk>')


def test_flickr8k_bad_line(tmp_path):
  for name in ('Flickr_8k.trainImages.txt', 'Flickr_8k.devImages.txt', 'Flickr_8k.testImages.txt'):
    (tmp_path / name).write_text('a.jpg\n')
  (tmp_path / 'Flickr8k.token.txt').write_text('a.jpg a caption without a tab\n')
  with pytest.raises(InputError, match=r'Flickr8k.token.txt:1: expected'):
    sources.read_flickr8k_text(str(tmp_path))


def test_features_npy_and_mat_layouts(tmp_path):
  features = np.arange(12, dtype=np.float32).reshape(3, 4)
  np.save(tmp_path / 'f.npy', features)
  scipy.io.savemat(tmp_path / 'vgg_feats.mat', {'feats': features.T})
  np.testing.assert_array_equal(sources.load_features(str(tmp_path / 'f.npy'), 3), features)
  np.testing.assert_array_equal(
      sources.load_features(str(tmp_path / 'vgg_feats.mat'), 3), features
  )


@pytest.mark.parametrize(
    'array, kwargs, message',
    [
        (np.zeros((4, 5)), {}, r'N = 3 images.*got shape \(4, 5\)'),
        (np.zeros((3, 5)), {'feature_dim': 4}, r'D = 4 feature dimensions, got shape \(3, 5\)'),
        (np.zeros(3), {}, 'must be 2-D'),
        (np.zeros((3, 0)), {}, r'D >= 1 feature dimensions, got shape \(3, 0\)'),
        (np.full((3, 2), np.nan), {}, 'NaN or Inf'),
    ],
)
def test_bad_features_are_named(tmp_path, array, kwargs, message):
  path = str(tmp_path / 'f.npy')
  np.save(path, array)
  with pytest.raises(InputError, match=message) as error:
    sources.load_features(path, 3, **kwargs)
  assert str(error.value).startswith(path)


def test_transposed_mat_is_caught(tmp_path):
  path = str(tmp_path / 'vgg_feats.mat')
  scipy.io.savemat(path, {'feats': np.zeros((3, 5))})  # (N, D): wrong layout
  with pytest.raises(InputError, match=r'\(D, N\) with N = 3'):
    sources.load_features(path, 3)


def test_file_names_of_digit_like_characters_are_not_numbers():
  """'²' passes str.isdigit but not int(): such names give no image ids."""
  assert sources._image_ids([{'filename': '².jpg'}, {'filename': '3.jpg'}]) is None  # pylint: disable=protected-access
