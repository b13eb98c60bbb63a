"""No malformed file or flag given to a prepare command ends in a traceback:
each is refused with exit status 2 and one line on stderr naming the path or
flag, and leaves nothing behind (no output directory, no temporary one).

Each command's whole table runs in one process (tests/cli_driver.py), so a
case costs milliseconds instead of an import of TensorFlow and JAX. A case
is the valid flags of its command with some changed ('{root}' is the
directory of the command's files) and what the error line must name.
"""

import glob
import json
import os

import numpy as np
import pytest
import scipy.io

from conftest import REPO, run_command_lines, write_coco_captions

DIM = 4
NOT_UTF8 = b'\xff\xfe not utf-8 \xc3\x28\n'
# The directory a case finds existing as its --output_dir.
EXISTING = '{root}/existing'
# A regular file, as the parent of an --output_dir.
A_FILE = '{root}/a_file'
LONG_NAME = '{root}/' + 'x' * 300
COMMON_FILES = {'existing/keep': 'kept', 'a_file': 'a file, not a directory'}


# The feature rows' names of the --tfds cases (the replica holds a, b, c).
COCO_NAMES = {'features': ['c.jpg', 'a.jpg', 'b.jpg'], 'missing_row': ['a.jpg', 'b.jpg'],
              'extra_row': ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'],
              'twice': ['a.jpg', 'a.jpg', 'c.jpg'], 'blank': ['a.jpg', ' ', 'c.jpg']}


def coco_captions(path: str, damaged: bool = False) -> None:
  """A replica of TFDS's coco_captions holding images a, b and c (train,
  val, test); `damaged`: its test shard is gone."""
  write_coco_captions(path, {
      split: [{'picture': np.zeros((8, 8, 3), np.uint8), 'filename': name, 'id': 7,
               'texts': ['A dog runs.']}]
      for split, name in (('train', 'a.jpg'), ('val', 'b.jpg'), ('test', 'c.jpg'))})
  if damaged:
    (shard,) = glob.glob(os.path.join(path, 'coco_captions', '*', '*', '*-test.tfrecord-*'))
    os.remove(shard)


def image(imgid: int, split: str, **changed) -> dict:
  """An image of a Karpathy JSON, with one sentence."""
  sentence = {'tokens': ['a', 'dog', 'runs'], 'raw': 'A dog runs.', 'sentid': imgid}
  entry = {'filename': f'{imgid}.jpg', 'imgid': imgid, 'split': split, 'sentences': [sentence]}
  return {**entry, **changed}


def karpathy(*images: dict) -> str:
  return json.dumps({'images': list(images)})


IMAGES = [image(0, 'train'), image(1, 'val'), image(2, 'test')]
NO_TOKENS = {'raw': 'A dog runs.', 'sentid': 0}
FLICKR8K_LISTS = {
    'Flickr_8k.trainImages.txt': 'a.jpg\n',
    'Flickr_8k.devImages.txt': 'b.jpg\n',
    'Flickr_8k.testImages.txt': 'c.jpg\n',
}


def truncated_npy(path: str) -> None:
  """A .npy of (3, DIM) float32 cut after its first row."""
  np.save(path, np.ones((3, DIM), np.float32))
  os.truncate(path, os.path.getsize(path) - 2 * DIM * 4)


def huge_npy(path: str) -> None:
  """A .npy whose header claims 16 GB of float32 and holds 16 bytes."""
  with open(path, 'wb') as f:
    np.lib.format.write_array_header_1_0(
        f, {'descr': '<f4', 'fortran_order': False, 'shape': (10**9, DIM)})
    f.write(bytes(16))


def flickr8k(directory: str, token_file: str | bytes) -> dict:
  """The files of a Flickr8k text release with this Flickr8k.token.txt."""
  return {**{f'{directory}/{name}': text for name, text in FLICKR8K_LISTS.items()},
          f'{directory}/Flickr8k.token.txt': token_file}


def iaprtc12(directory: str, description: str | None = 'a dog runs; a red ball') -> dict:
  """An IAPR TC-12 release of images 00/1 (train) and 00/2 (test), the
  first with this DESCRIPTION (None: no DESCRIPTION element)."""
  body = '' if description is None else f'<DESCRIPTION>{description}</DESCRIPTION>'
  return {f'{directory}/annotations_complete_eng/00/1.eng': f'<DOC>{body}</DOC>\n',
          f'{directory}/annotations_complete_eng/00/2.eng':
              '<DOC><DESCRIPTION>a dog</DESCRIPTION></DOC>\n'}


IAPRTC12_LISTS = {'iapr_train.txt': '00/1\n', 'iapr_test.txt': '00/2\n',
                  'iapr_bad_line.txt': '00-1\n', 'iapr_empty.txt': '\n'}


IMAGE_FILES = {
    'captions.json': karpathy(*IMAGES),
    'features.npy': np.ones((3, DIM), np.float32),
    'not.json': '{"images": [',
    'latin1.json': NOT_UTF8,
    'list.json': '[]',
    'no_images.json': '{"imgs": []}',
    'images_dict.json': '{"images": {}}',
    'empty_images.json': karpathy(),
    'image_not_dict.json': '{"images": [1]}',
    'sentences_str.json': karpathy(image(0, 'train', sentences='a dog'), *IMAGES[1:]),
    'no_tokens.json': karpathy(image(0, 'train', sentences=[NO_TOKENS]), *IMAGES[1:]),
    'token_ints.json': karpathy(
        image(0, 'train', sentences=[{'tokens': [1, 2], 'sentid': 0}]), *IMAGES[1:]),
    'imgid_str.json': karpathy({**IMAGES[0], 'imgid': '0'}, *IMAGES[1:]),
    'imgid_repeated.json': karpathy(image(0, 'train'), image(0, 'val'), image(2, 'test')),
    'deep.json': '[' * 100_000,
    'sentid_huge.json': karpathy(
        image(0, 'train', sentences=[{'tokens': ['a'], 'sentid': 2**64}]), *IMAGES[1:]),
    'split_unknown.json': karpathy(image(0, 'training'), *IMAGES[1:]),
    'json_dir/': None,
    **flickr8k('flickr_ok', 'a.jpg#0\ta dog runs\nb.jpg#0\ta dog\nc.jpg#0\ta dog\n'),
    'flickr_empty/': None,
    **iaprtc12('iapr'), **iaprtc12('iapr_no_description', None),
    **iaprtc12('iapr_no_words', ' ; ; '), **IAPRTC12_LISTS,
    **flickr8k('flickr_no_tab', 'a.jpg#0 a dog runs\n'),
    **flickr8k('flickr_latin1', NOT_UTF8),
    'empty.npy': b'',
    'text.npy': 'not a numpy file\n',
    'truncated.npy': truncated_npy,
    'huge.npy': huge_npy,
    'complex.npy': np.ones((3, DIM), np.complex64),
    'beyond_float32.npy': np.full((3, DIM), 1e300),
    'one_d.npy': np.ones(3, np.float32),
    'three_d.npy': np.ones((3, DIM, 2), np.float32),
    'strings.npy': np.full((3, DIM), 'x'),
    'objects.npy': np.array([[{}] * DIM] * 3, dtype=object),
    'two_rows.npy': np.ones((2, DIM), np.float32),
    'no_columns.npy': np.ones((3, 0), np.float32),
    'nan.npy': np.array([[np.nan] * DIM] * 3, np.float32),
    'inf.npy': np.array([[np.inf] * DIM] * 3, np.float32),
    'booleans.npy': np.ones((3, DIM), bool),
    'features.txt': '1 2 3 4\n',
    'no_feats.mat': {'fc7': np.ones((DIM, 3))},
    'corrupt.mat': b'MATLAB 5.0 MAT-file, but then nothing',
    'feats_3d.mat': {'feats': np.ones((DIM, 3, 2))},
    'feats_strings.mat': {'feats': np.array(['abcd'] * 3)},
    'features_dir/': None,
    'coco_tfds': coco_captions,
    'coco_damaged': lambda path: coco_captions(path, damaged=True),
    **{f'coco_{name}.npy': np.ones((len(names), DIM), np.float32)
       for name, names in COCO_NAMES.items()},
    **{f'coco_{name}.names.txt': ''.join(n + '\n' for n in names)
       for name, names in COCO_NAMES.items()},
    **COMMON_FILES,
}
R = '{root}'
# --tfds=coco_captions from a replica on disk, with features named as
# mmcap.extract names them.
TFDS = {'karpathy_json': None, 'tfds': 'coco_captions', 'tfds_data_dir': f'{R}/coco_tfds',
        'features': f'{R}/coco_features.npy', 'tfds_splits': 'train,val,test'}
IMAGE_CASES = [
    ('karpathy_json_missing', {'karpathy_json': f'{R}/none.json'}, f'{R}/none.json'),
    ('karpathy_json_not_json', {'karpathy_json': f'{R}/not.json'}, f'{R}/not.json'),
    ('karpathy_json_not_utf8', {'karpathy_json': f'{R}/latin1.json'}, f'{R}/latin1.json'),
    ('karpathy_json_a_directory', {'karpathy_json': f'{R}/json_dir'}, f'{R}/json_dir'),
    ('karpathy_json_a_list', {'karpathy_json': f'{R}/list.json'}, 'images'),
    ('karpathy_json_without_images', {'karpathy_json': f'{R}/no_images.json'}, 'images'),
    ('karpathy_json_images_not_list', {'karpathy_json': f'{R}/images_dict.json'}, 'images'),
    ('karpathy_json_images_empty', {'karpathy_json': f'{R}/empty_images.json'}, 'images'),
    ('karpathy_json_image_not_object', {'karpathy_json': f'{R}/image_not_dict.json'},
     'images[0]'),
    ('karpathy_json_sentences_not_list', {'karpathy_json': f'{R}/sentences_str.json'},
     'images[0].sentences'),
    ('karpathy_json_sentence_without_tokens', {'karpathy_json': f'{R}/no_tokens.json'},
     'tokens'),
    ('karpathy_json_tokens_not_words', {'karpathy_json': f'{R}/token_ints.json'}, 'tokens'),
    ('karpathy_json_imgid_not_int', {'karpathy_json': f'{R}/imgid_str.json'}, 'imgid'),
    ('karpathy_json_imgid_repeated', {'karpathy_json': f'{R}/imgid_repeated.json'}, 'imgid'),
    ('karpathy_json_nested_too_deep', {'karpathy_json': f'{R}/deep.json'}, f'{R}/deep.json'),
    ('karpathy_json_sentid_beyond_int64', {'karpathy_json': f'{R}/sentid_huge.json'},
     'sentid'),
    ('karpathy_json_unknown_split', {'karpathy_json': f'{R}/split_unknown.json'}, 'training'),
    ('flickr8k_dir_missing', {'karpathy_json': None, 'flickr8k_dir': f'{R}/none'},
     f'{R}/none'),
    ('flickr8k_dir_empty', {'karpathy_json': None, 'flickr8k_dir': f'{R}/flickr_empty'},
     f'{R}/flickr_empty/Flickr_8k.trainImages.txt'),
    ('flickr8k_dir_a_file', {'karpathy_json': None, 'flickr8k_dir': f'{R}/a_file'},
     f'{R}/a_file'),
    ('flickr8k_token_line_without_tab',
     {'karpathy_json': None, 'flickr8k_dir': f'{R}/flickr_no_tab'},
     f'{R}/flickr_no_tab/Flickr8k.token.txt:1'),
    ('flickr8k_token_file_not_utf8',
     {'karpathy_json': None, 'flickr8k_dir': f'{R}/flickr_latin1'},
     f'{R}/flickr_latin1/Flickr8k.token.txt'),
    *[(f'iaprtc12_{name}',
       {'karpathy_json': None, 'iaprtc12_dir': f'{R}/{directory}',
        'iaprtc12_train_list': f'{R}/{train}', 'iaprtc12_test_list': f'{R}/iapr_test.txt'},
       named) for name, directory, train, named in [
           ('dir_missing', 'none', 'iapr_train.txt', f'{R}/none: no annotations_complete_eng/'),
           ('train_list_missing', 'iapr', 'none.txt', f'{R}/none.txt'),
           ('list_line_not_dir_id', 'iapr', 'iapr_bad_line.txt', f'{R}/iapr_bad_line.txt:1'),
           ('list_empty', 'iapr', 'iapr_empty.txt', 'names no image'),
           ('image_in_both_lists', 'iapr', 'iapr_test.txt', 'already listed'),
           ('annotation_without_description', 'iapr_no_description', 'iapr_train.txt',
            f'{R}/iapr_no_description/annotations_complete_eng/00/1.eng'),
           ('description_without_words', 'iapr_no_words', 'iapr_train.txt',
            'the DESCRIPTION has no words'),
       ]],
    ('iaprtc12_dir_without_lists', {'karpathy_json': None, 'iaprtc12_dir': f'{R}/iapr'},
     '--iaprtc12_train_list'),
    ('tfds_unknown_dataset', {**TFDS, 'tfds': 'no_such_dataset_x'},
     '--tfds=no_such_dataset_x: no TFDS dataset of that name'),
    ('tfds_not_prepared', {**TFDS, 'tfds_data_dir': f'{R}/features_dir'},
     f'--tfds=coco_captions: not prepared in {R}/features_dir/coco_captions/2014/1.1.0'),
    ('tfds_not_a_caption_dataset', {**TFDS, 'tfds': 'mnist'}, "--tfds=mnist: no 'captions'"),
    ('tfds_features_without_names', {**TFDS, 'features': f'{R}/features.npy'},
     f'{R}/features.names.txt: names file of {R}/features.npy not found'),
    ('tfds_image_without_a_row', {**TFDS, 'features': f'{R}/coco_missing_row.npy'},
     "image 'c.jpg' of split test has no row in the features"),
    ('tfds_row_without_an_image', {**TFDS, 'features': f'{R}/coco_extra_row.npy'},
     'the features hold 4 rows, the splits train,val,test 3 images'),
    ('tfds_row_named_twice', {**TFDS, 'features': f'{R}/coco_twice.npy'},
     f'{R}/coco_twice.names.txt: names a row twice'),
    ('tfds_split_unknown_name', {**TFDS, 'tfds_splits': 'train,dev'}, '--tfds_splits=dev'),
    ('tfds_split_not_in_dataset', {**TFDS, 'tfds_splits': 'train,val,test,restval'},
     '--tfds_splits=restval: not a split of coco_captions'),
    ('tfds_and_karpathy_json', {**TFDS, 'karpathy_json': f'{R}/captions.json'},
     'give exactly one of'),
    ('tfds_version_unknown', {**TFDS, 'tfds': 'coco_captions:9.9.9'}, '--tfds=coco_captions:9.9.9: '),
    ('tfds_features_mat', {**TFDS, 'features': f'{R}/no_feats.mat'},
     f'--features={R}/no_feats.mat: with --tfds, the .npy'),
    ('tfds_names_blank_line', {**TFDS, 'features': f'{R}/coco_blank.npy'},
     f'{R}/coco_blank.names.txt: line 2 names no image'),
    ('tfds_split_file_missing', {**TFDS, 'tfds_data_dir': f'{R}/coco_damaged'},
     f'--tfds=coco_captions: cannot read split test in {R}/coco_damaged/coco_captions/2014/1.1.0'),
    ('tfds_splits_without_tfds', {'tfds_splits': 'train'}, '--tfds_splits and --tfds_data_dir go with --tfds'),
    ('both_caption_sources', {'flickr8k_dir': f'{R}/flickr_ok'}, '--karpathy_json'),
    ('no_caption_source', {'karpathy_json': None}, '--karpathy_json'),
    ('features_flag_missing', {'features': None}, '--features'),
    ('features_missing', {'features': f'{R}/none.npy'}, f'{R}/none.npy'),
    ('features_a_directory', {'features': f'{R}/features_dir'}, f'{R}/features_dir'),
    ('features_empty_file', {'features': f'{R}/empty.npy'}, f'{R}/empty.npy'),
    ('features_text_as_npy', {'features': f'{R}/text.npy'}, f'{R}/text.npy'),
    ('features_truncated', {'features': f'{R}/truncated.npy'}, f'{R}/truncated.npy'),
    ('features_header_claims_16gb', {'features': f'{R}/huge.npy'}, f'{R}/huge.npy'),
    ('features_complex', {'features': f'{R}/complex.npy'}, f'{R}/complex.npy'),
    ('features_beyond_float32', {'features': f'{R}/beyond_float32.npy'},
     f'{R}/beyond_float32.npy'),
    ('features_1d', {'features': f'{R}/one_d.npy'}, f'{R}/one_d.npy'),
    ('features_3d', {'features': f'{R}/three_d.npy'}, f'{R}/three_d.npy'),
    ('features_strings', {'features': f'{R}/strings.npy'}, f'{R}/strings.npy'),
    ('features_pickled_objects', {'features': f'{R}/objects.npy'}, f'{R}/objects.npy'),
    ('features_booleans', {'features': f'{R}/booleans.npy'}, f'{R}/booleans.npy'),
    ('features_too_few_rows', {'features': f'{R}/two_rows.npy'}, f'{R}/two_rows.npy'),
    ('features_no_columns', {'features': f'{R}/no_columns.npy'}, f'{R}/no_columns.npy'),
    ('features_nan', {'features': f'{R}/nan.npy'}, f'{R}/nan.npy'),
    ('features_inf', {'features': f'{R}/inf.npy'}, f'{R}/inf.npy'),
    ('features_other_extension', {'features': f'{R}/features.txt'}, f'{R}/features.txt'),
    ('features_mat_without_feats', {'features': f'{R}/no_feats.mat'}, f'{R}/no_feats.mat'),
    ('features_mat_corrupt', {'features': f'{R}/corrupt.mat'}, f'{R}/corrupt.mat'),
    ('features_mat_3d', {'features': f'{R}/feats_3d.mat'}, f'{R}/feats_3d.mat'),
    ('features_mat_strings', {'features': f'{R}/feats_strings.mat'},
     f'{R}/feats_strings.mat'),
    ('feature_dim_other', {'feature_dim': DIM + 1}, f'{R}/features.npy'),
    ('feature_dim_zero', {'feature_dim': 0}, '--feature_dim'),
    ('min_word_count_zero', {'min_word_count': 0}, '--min_word_count'),
    ('images_per_shard_not_a_number', {'images_per_shard': 'many'}, '--images_per_shard'),
    ('vocab_splits_without_captions', {'vocab_splits': 'restval'}, 'restval'),
    ('output_dir_flag_missing', {'output_dir': None}, '--output_dir'),
    ('output_dir_exists', {'output_dir': EXISTING}, EXISTING),
    ('output_dir_under_a_file', {'output_dir': f'{A_FILE}/out'}, f'{A_FILE}/out'),
    ('output_dir_empty', {'output_dir': ''}, '--output_dir'),
    ('output_dir_name_too_long', {'output_dir': LONG_NAME}, LONG_NAME),
    ('output_dir_parent_name_too_long', {'output_dir': f'{LONG_NAME}/out'}, f'{LONG_NAME}/out'),
    ('unexpected_positional_argument', {'positional': 'extra'}, 'extra'),
]
IMAGE_FLAGS = {'karpathy_json': f'{R}/captions.json', 'features': f'{R}/features.npy',
               'min_word_count': 1}

CLASSES = '1 Run\n2 Jump\n'
TRAIN_LIST = 'Run/v_Run_g01_c01.avi 1\nJump/v_Jump_g01_c01.avi 2\n'
TEST_LIST = 'Run/v_Run_g02_c01.avi\n'
UCF_VIDEOS = ('v_Run_g01_c01', 'v_Jump_g01_c01', 'v_Run_g02_c01')


def ucf101_lists(directory: str, **changed) -> dict:
  """UCF101's split lists of split 1, with files changed (None: absent)."""
  files = {'classInd.txt': CLASSES, 'trainlist01.txt': TRAIN_LIST,
           'testlist01.txt': TEST_LIST, **changed}
  return {f'{directory}/{name}': text for name, text in files.items() if text is not None}


def video_features(directory: str, videos=UCF_VIDEOS, **changed) -> dict:
  """[2, DIM] features of each video, some changed (None: absent)."""
  files = {**{name: np.ones((2, DIM), np.float32) for name in videos}, **changed}
  return {f'{directory}/{name}.npy': a for name, a in files.items() if a is not None}


VIDEO_FILES = {
    **ucf101_lists('lists'),
    **ucf101_lists('lists_no_test', **{'testlist01.txt': None}),
    **ucf101_lists('lists_bad_class', **{'classInd.txt': 'Run\nJump\n'}),
    **ucf101_lists('lists_unknown_class', **{'trainlist01.txt': 'Swim/v_Swim_g01_c01.avi 1\n'}),
    **ucf101_lists('lists_bad_label', **{'trainlist01.txt': 'Run/v_Run_g01_c01.avi 7\n'}),
    **ucf101_lists('lists_latin1', **{'trainlist01.txt': NOT_UTF8}),
    **ucf101_lists('lists_no_train', **{'trainlist01.txt': '\n'}),
    **video_features('features'),
    **video_features('features_one_missing', v_Run_g02_c01=None),
    **video_features('features_text', v_Jump_g01_c01=b'not a numpy file'),
    **video_features('features_empty', v_Jump_g01_c01=b''),
    **video_features('features_truncated', v_Jump_g01_c01=truncated_npy),
    **video_features('features_huge', v_Jump_g01_c01=huge_npy),
    **video_features('features_beyond_float32', v_Jump_g01_c01=np.full((2, DIM), 1e300)),
    **video_features('features_1d', v_Jump_g01_c01=np.ones(DIM, np.float32)),
    **video_features('features_no_frames', v_Jump_g01_c01=np.ones((0, DIM), np.float32)),
    **video_features('features_strings', v_Jump_g01_c01=np.full((2, DIM), 'x')),
    **video_features('features_objects', v_Jump_g01_c01=np.array([[{}] * DIM] * 2)),
    **video_features('features_other_dim', v_Jump_g01_c01=np.ones((2, DIM + 1), np.float32)),
    **video_features('features_nan', v_Run_g02_c01=np.full((2, DIM), np.nan, np.float32)),
    **video_features('features_beyond_float16', v_Jump_g01_c01=np.full((2, DIM), 1e30)),
    'features_dir_a_file': 'not a directory',
    **COMMON_FILES,
}
VIDEO_CASES = [
    ('ucf101_lists_missing', {'ucf101_lists': f'{R}/none'}, f'{R}/none'),
    ('ucf101_lists_a_file', {'ucf101_lists': f'{R}/a_file'}, f'{R}/a_file'),
    ('ucf101_lists_without_testlist', {'ucf101_lists': f'{R}/lists_no_test'},
     f'{R}/lists_no_test/testlist01.txt'),
    ('ucf101_class_line_without_label', {'ucf101_lists': f'{R}/lists_bad_class'},
     f'{R}/lists_bad_class/classInd.txt:1'),
    ('ucf101_video_of_unknown_class', {'ucf101_lists': f'{R}/lists_unknown_class'},
     f'{R}/lists_unknown_class/trainlist01.txt:1'),
    ('ucf101_video_label_other_class', {'ucf101_lists': f'{R}/lists_bad_label'},
     f'{R}/lists_bad_label/trainlist01.txt:1'),
    ('ucf101_list_not_utf8', {'ucf101_lists': f'{R}/lists_latin1'},
     f'{R}/lists_latin1/trainlist01.txt'),
    ('ucf101_no_training_videos', {'ucf101_lists': f'{R}/lists_no_train'},
     f'{R}/lists_no_train/trainlist01.txt'),
    ('split_4', {'split': 4}, '--split=4'),
    ('split_not_a_number', {'split': 'one'}, '--split'),
    ('features_dir_missing', {'features_dir': f'{R}/none'}, f'{R}/none'),
    ('features_dir_a_file', {'features_dir': f'{R}/features_dir_a_file'},
     f'{R}/features_dir_a_file'),
    ('features_of_a_video_missing', {'features_dir': f'{R}/features_one_missing'},
     f'{R}/features_one_missing/v_Run_g02_c01.npy'),
    ('features_text_as_npy', {'features_dir': f'{R}/features_text'},
     f'{R}/features_text/v_Jump_g01_c01.npy'),
    ('features_empty_file', {'features_dir': f'{R}/features_empty'},
     f'{R}/features_empty/v_Jump_g01_c01.npy'),
    ('features_truncated', {'features_dir': f'{R}/features_truncated'},
     f'{R}/features_truncated/v_Jump_g01_c01.npy'),
    ('features_1d', {'features_dir': f'{R}/features_1d'},
     f'{R}/features_1d/v_Jump_g01_c01.npy'),
    ('features_no_frames', {'features_dir': f'{R}/features_no_frames'},
     f'{R}/features_no_frames/v_Jump_g01_c01.npy'),
    ('features_strings', {'features_dir': f'{R}/features_strings'},
     f'{R}/features_strings/v_Jump_g01_c01.npy'),
    ('features_pickled_objects', {'features_dir': f'{R}/features_objects'},
     f'{R}/features_objects/v_Jump_g01_c01.npy'),
    ('features_other_dim', {'features_dir': f'{R}/features_other_dim'},
     f'{R}/features_other_dim/v_Jump_g01_c01.npy'),
    ('features_nan', {'features_dir': f'{R}/features_nan'},
     f'{R}/features_nan/v_Run_g02_c01.npy'),
    ('features_header_claims_16gb', {'features_dir': f'{R}/features_huge'},
     f'{R}/features_huge/v_Jump_g01_c01.npy'),
    ('features_beyond_float32', {'features_dir': f'{R}/features_beyond_float32'},
     f'{R}/features_beyond_float32/v_Jump_g01_c01.npy'),
    ('features_beyond_float16', {'features_dir': f'{R}/features_beyond_float16'},
     'v_Jump_g01_c01'),
    ('feature_dim_other', {'feature_dim': DIM + 1}, f'{R}/features/v_Run_g01_c01.npy'),
    ('stream_unknown', {'stream': 'depth'}, '--stream'),
    ('videos_per_shard_zero', {'videos_per_shard': 0}, '--videos_per_shard'),
    ('output_dir_exists', {'output_dir': EXISTING}, EXISTING),
    ('output_dir_under_a_file', {'output_dir': f'{A_FILE}/out'}, f'{A_FILE}/out'),
    ('output_dir_empty', {'output_dir': ''}, '--output_dir'),
    ('output_dir_name_too_long', {'output_dir': LONG_NAME}, LONG_NAME),
    ('unexpected_positional_argument', {'positional': 'extra'}, 'extra'),
]
VIDEO_FLAGS = {'ucf101_lists': f'{R}/lists', 'features_dir': f'{R}/features'}

SENTS = 'vid1\ta dog runs\nvid2\ta dog sits\n'
FRAMES = 'vid1_frame_1,1,2,3,4\nvid1_frame_2,1,2,3,4\nvid2_frame_1,1,2,3,4\n'


def msvd(directory: str, sents: str | bytes | None = SENTS, frames: str | None = FRAMES) -> dict:
  """S2VT's MSVD train files (None: absent)."""
  files = {'sents_train.txt': sents, 'yt_allframes_vgg_fc7_train.txt': frames}
  return {f'{directory}/{name}': text for name, text in files.items() if text is not None}


def msrvtt(**changed) -> str:
  """MSR-VTT's videodatainfo.json of two videos, with fields changed (None:
  absent)."""
  data = {
      'videos': [{'video_id': 'video0', 'split': 'train'},
                 {'video_id': 'video1', 'split': 'test'}],
      'sentences': [{'caption': 'a dog runs', 'video_id': 'video0', 'sen_id': 0},
                    {'caption': 'a dog sits', 'video_id': 'video1', 'sen_id': 1}],
      **changed,
  }
  return json.dumps({key: value for key, value in data.items() if value is not None})


MSRVTT_VIDEOS = ('video0', 'video1')
CAPTION_FILES = {
    **msvd('msvd'),
    'msvd_empty/': None,
    **msvd('msvd_no_tab', sents='vid1 a dog runs\n'),
    **msvd('msvd_no_words', sents='vid1\t...\n'),
    **msvd('msvd_latin1', sents=NOT_UTF8),
    **msvd('msvd_no_features', frames=None),
    **msvd('msvd_bad_number', frames='vid1_frame_1,1,x,3,4\nvid2_frame_1,1,2,3,4\n'),
    **msvd('msvd_bad_frame_name', frames='vid1,1,2,3,4\n'),
    **msvd('msvd_other_dim', frames='vid1_frame_1,1,2,3,4\nvid2_frame_1,1,2,3\n'),
    **msvd('msvd_video_without_features', frames='vid1_frame_1,1,2,3,4\n'),
    **msvd('msvd_nan', frames='vid1_frame_1,1,nan,3,4\nvid2_frame_1,1,2,3,4\n'),
    **msvd('msvd_features_latin1', frames=NOT_UTF8),
    'videodatainfo.json': msrvtt(),
    **video_features('msrvtt_features', MSRVTT_VIDEOS),
    'not.json': '{"videos": [',
    'latin1.json': NOT_UTF8,
    'list.json': '[]',
    'no_videos.json': msrvtt(videos=None),
    'no_sentences.json': msrvtt(sentences=None),
    'videos_dict.json': msrvtt(videos={}),
    'unknown_video.json': msrvtt(sentences=[
        {'caption': 'a dog', 'video_id': 'video9', 'sen_id': 0}]),
    'no_caption.json': msrvtt(sentences=[{'video_id': 'video0', 'sen_id': 0}]),
    'sen_id_huge.json': msrvtt(sentences=[
        {'caption': 'a dog', 'video_id': 'video0', 'sen_id': -2**63 - 1}]),
    'unknown_split.json': msrvtt(videos=[{'video_id': 'video0', 'split': 'dev'}]),
    **video_features('msrvtt_one_missing', MSRVTT_VIDEOS, video1=None),
    **video_features('msrvtt_text', MSRVTT_VIDEOS, video1=b'not a numpy file'),
    **video_features('msrvtt_strings', MSRVTT_VIDEOS, video1=np.full((2, DIM), 'x')),
    **COMMON_FILES,
}
MSRVTT = {'msvd_dir': None, 'msrvtt_json': f'{R}/videodatainfo.json',
          'features_dir': f'{R}/msrvtt_features'}
CAPTION_CASES = [
    ('msvd_dir_missing', {'msvd_dir': f'{R}/none'}, f'{R}/none'),
    ('msvd_dir_empty', {'msvd_dir': f'{R}/msvd_empty'}, f'{R}/msvd_empty/sents_train.txt'),
    ('msvd_dir_a_file', {'msvd_dir': f'{R}/a_file'}, f'{R}/a_file'),
    ('msvd_sentence_without_tab', {'msvd_dir': f'{R}/msvd_no_tab'},
     f'{R}/msvd_no_tab/sents_train.txt:1'),
    ('msvd_sentence_without_words', {'msvd_dir': f'{R}/msvd_no_words'},
     f'{R}/msvd_no_words/sents_train.txt:1'),
    ('msvd_sentences_not_utf8', {'msvd_dir': f'{R}/msvd_latin1'},
     f'{R}/msvd_latin1/sents_train.txt'),
    ('msvd_features_missing', {'msvd_dir': f'{R}/msvd_no_features'},
     f'{R}/msvd_no_features/yt_allframes_vgg_fc7_train.txt'),
    ('msvd_features_not_a_number', {'msvd_dir': f'{R}/msvd_bad_number'},
     f'{R}/msvd_bad_number/yt_allframes_vgg_fc7_train.txt:1'),
    ('msvd_features_without_frame_name', {'msvd_dir': f'{R}/msvd_bad_frame_name'},
     f'{R}/msvd_bad_frame_name/yt_allframes_vgg_fc7_train.txt:1'),
    ('msvd_features_other_dim', {'msvd_dir': f'{R}/msvd_other_dim'},
     f'{R}/msvd_other_dim/yt_allframes_vgg_fc7_train.txt:2'),
    ('msvd_video_without_features', {'msvd_dir': f'{R}/msvd_video_without_features'},
     f'{R}/msvd_video_without_features/yt_allframes_vgg_fc7_train.txt'),
    ('msvd_features_nan', {'msvd_dir': f'{R}/msvd_nan'},
     f'{R}/msvd_nan/yt_allframes_vgg_fc7_train.txt:1'),
    ('msvd_features_not_utf8', {'msvd_dir': f'{R}/msvd_features_latin1'},
     f'{R}/msvd_features_latin1/yt_allframes_vgg_fc7_train.txt'),
    ('msvd_features_unknown', {'msvd_features': 'every'}, '--msvd_features'),
    ('msrvtt_json_missing', {**MSRVTT, 'msrvtt_json': f'{R}/none.json'}, f'{R}/none.json'),
    ('msrvtt_json_not_json', {**MSRVTT, 'msrvtt_json': f'{R}/not.json'}, f'{R}/not.json'),
    ('msrvtt_json_not_utf8', {**MSRVTT, 'msrvtt_json': f'{R}/latin1.json'},
     f'{R}/latin1.json'),
    ('msrvtt_json_a_list', {**MSRVTT, 'msrvtt_json': f'{R}/list.json'}, f'{R}/list.json'),
    ('msrvtt_json_without_videos', {**MSRVTT, 'msrvtt_json': f'{R}/no_videos.json'},
     'videos'),
    ('msrvtt_json_without_sentences', {**MSRVTT, 'msrvtt_json': f'{R}/no_sentences.json'},
     'sentences'),
    ('msrvtt_json_videos_not_list', {**MSRVTT, 'msrvtt_json': f'{R}/videos_dict.json'},
     'videos'),
    ('msrvtt_sentence_of_unknown_video', {**MSRVTT, 'msrvtt_json': f'{R}/unknown_video.json'},
     'video9'),
    ('msrvtt_sentence_without_caption', {**MSRVTT, 'msrvtt_json': f'{R}/no_caption.json'},
     'sentences[0].caption'),
    ('msrvtt_sen_id_beyond_int64', {**MSRVTT, 'msrvtt_json': f'{R}/sen_id_huge.json'},
     'sentences[0].sen_id'),
    ('msrvtt_unknown_split', {**MSRVTT, 'msrvtt_json': f'{R}/unknown_split.json'}, 'dev'),
    ('msrvtt_features_dir_missing', {**MSRVTT, 'features_dir': f'{R}/none'}, f'{R}/none'),
    ('msrvtt_features_of_a_video_missing',
     {**MSRVTT, 'features_dir': f'{R}/msrvtt_one_missing'},
     f'{R}/msrvtt_one_missing/video1.npy'),
    ('msrvtt_features_text_as_npy', {**MSRVTT, 'features_dir': f'{R}/msrvtt_text'},
     f'{R}/msrvtt_text/video1.npy'),
    ('msrvtt_features_strings', {**MSRVTT, 'features_dir': f'{R}/msrvtt_strings'},
     f'{R}/msrvtt_strings/video1.npy'),
    ('msrvtt_json_without_features_dir', {**MSRVTT, 'features_dir': None}, '--features_dir'),
    ('no_source', {'msvd_dir': None}, '--msvd_dir'),
    ('both_sources', {'msrvtt_json': f'{R}/videodatainfo.json',
                      'features_dir': f'{R}/msrvtt_features'}, '--msrvtt_json'),
    ('demo_with_feature_dim', {'msvd_dir': None, 'demo': 'true', 'feature_dim': 8},
     '--feature_dim'),
    ('feature_dim_other', {'feature_dim': DIM + 1}, 'D = 5'),
    ('min_word_count_zero', {'min_word_count': 0}, '--min_word_count'),
    ('output_dir_exists', {'output_dir': EXISTING}, EXISTING),
    ('output_dir_under_a_file', {'output_dir': f'{A_FILE}/out'}, f'{A_FILE}/out'),
    ('demo_output_dir_under_a_file',
     {'msvd_dir': None, 'min_word_count': None, 'demo': 'true', 'output_dir': f'{A_FILE}/demo'},
     f'{A_FILE}/demo'),
    ('output_dir_empty', {'output_dir': ''}, '--output_dir'),
    ('output_dir_name_too_long', {'output_dir': LONG_NAME}, LONG_NAME),
    ('unexpected_positional_argument', {'positional': 'extra'}, 'extra'),
]
CAPTION_FLAGS = {'msvd_dir': f'{R}/msvd', 'min_word_count': 1}

COMMANDS = {
    'mmcap.prepare': (IMAGE_FILES, IMAGE_FLAGS, IMAGE_CASES),
    'mmcap.prepare_videos': (VIDEO_FILES, VIDEO_FLAGS, VIDEO_CASES),
    'mmcap.prepare_video_captions': (CAPTION_FILES, CAPTION_FLAGS, CAPTION_CASES),
}


def write(root: str, name: str, content) -> None:
  """One input file: text, bytes, an array (.npy), variables (.mat), or
  what a function writes; a name ending in '/' is a directory."""
  path = os.path.join(root, name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if name.endswith('/'):
    os.makedirs(path, exist_ok=True)
  elif callable(content):
    content(path)
  elif isinstance(content, np.ndarray):
    np.save(path, content, allow_pickle=True)
  elif isinstance(content, dict):
    scipy.io.savemat(path, content)
  else:
    with open(path, 'wb') as f:
      f.write(content if isinstance(content, bytes) else content.encode())


def command_line(root: str, defaults: dict, name: str, changed: dict) -> tuple[list[str], str]:
  """The argv of a case and its --output_dir (None: not given)."""
  values = {**defaults, 'output_dir': f'{R}/out-{name}', **changed}
  positional = values.pop('positional', None)
  values = {flag: str(v).format(root=root) for flag, v in values.items() if v is not None}
  argv = [f'--{flag}={value}' for flag, value in values.items()]
  return argv + ([positional] if positional else []), values.get('output_dir')


def run_table(module: str, tmp_path_factory) -> dict:
  """Writes a command's files and runs its whole table in one driver
  process, and its valid flags last ('valid'); by case name: the directory
  of its files, its --output_dir, what its error line must name and what the
  driver reported."""
  files, defaults, cases = COMMANDS[module]
  cases = [*cases, ('valid', {}, '')]
  root = str(tmp_path_factory.mktemp(module.rsplit('.', 1)[-1]))
  for name, content in files.items():
    write(root, name, content)
  lines = {name: command_line(root, defaults, name, changed) for name, changed, _ in cases}
  reported = run_command_lines(module, [argv for argv, _ in lines.values()], root)
  return {
      name: (root, lines[name][1], expect.format(root=root), result)
      for (name, _, expect), result in zip(cases, reported)
  }


@pytest.fixture(scope='module')
def prepare_results(tmp_path_factory) -> dict:
  return run_table('mmcap.prepare', tmp_path_factory)


@pytest.fixture(scope='module')
def prepare_videos_results(tmp_path_factory) -> dict:
  return run_table('mmcap.prepare_videos', tmp_path_factory)


@pytest.fixture(scope='module')
def prepare_video_captions_results(tmp_path_factory) -> dict:
  return run_table('mmcap.prepare_video_captions', tmp_path_factory)


def leftovers(root: str, output_dir: str | None) -> list[str]:
  """What a refused case left: its output directory (an existing one
  changed), or a temporary directory beside it."""
  if output_dir is None:
    return []
  if output_dir == EXISTING.format(root=root):
    return [] if os.listdir(output_dir) == ['keep'] else [output_dir]
  output_dir = os.path.join(REPO, output_dir)  # '' is the repository's own
  parent = os.path.dirname(output_dir.rstrip(os.sep))
  left = [output_dir] if output_dir != REPO + os.sep and os.path.exists(output_dir) else []
  if os.path.isdir(parent):
    left += [os.path.join(parent, n) for n in os.listdir(parent) if n.startswith('.preparing-')]
  return left


CASES = [
    pytest.param(module, name, id=f'{module[6:]}-{name}')
    for module, (_, _, cases) in COMMANDS.items() for name, _, _ in cases
]


@pytest.mark.parametrize('module, name', CASES)
def test_bad_input_is_one_error_line(request, module, name):
  root, output_dir, expect, result = request.getfixturevalue(f'{module[6:]}_results')[name]
  assert result['traceback'] is None, result['traceback']
  assert result['status'] == 2, result
  lines = result['stderr'].strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result['stderr']
  assert expect in lines[0], (expect, lines[0])
  assert not leftovers(root, output_dir)


@pytest.mark.parametrize('module', list(COMMANDS), ids=[m[6:] for m in COMMANDS])
def test_the_valid_flags_prepare(request, module):
  """Each bad case differs from these flags by what it names: they work."""
  _, output_dir, _, result = request.getfixturevalue(f'{module[6:]}_results')['valid']
  assert (result['status'], result['traceback']) == (0, None), result
  assert os.path.isdir(output_dir)
