"""A prepared directory is a TensorFlow Datasets dataset: TFDS reads every
example of the shards as mmcap's pipeline reads them, and mmcap's info file
is TFDS's metadata. Directories prepared before the TFDS metadata still
load."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mmcap.data import demo_video_captions
from mmcap.data import demo_videos
from mmcap.data import pipeline
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data import video_captions
from mmcap.data import video_records
from mmcap.errors import InputError
from mmcap.tasks.activity.config import default_config as activity_config
from mmcap.tasks.video.config import default_config as video_config


def _by_id(examples, key) -> dict:
  return {int(example[key]): example for example in examples}


def test_the_flickr8k_fixture_reads_the_same_through_tfds(flickr8k_dataset):
  info = records.load_info(flickr8k_dataset)
  builder = tfds.builder_from_directory(flickr8k_dataset)
  assert builder.name == 'mmcap_captions' and str(builder.version) == '2.0.0'
  assert builder.info.metadata == info  # mmcap's info file, as TFDS's metadata
  assert {s: builder.info.splits[s].num_examples for s in builder.info.splits} == {
      s: entry['num_images'] for s, entry in info['splits'].items()}
  examples = pipeline.images(flickr8k_dataset, info)
  for split in info['splits']:
    ours = _by_id(tfds.as_numpy(tf.data.TFRecordDataset(examples.files([split]))
                                .map(examples.parse)), 'image_id')
    theirs = [example for example in tfds.as_numpy(builder.as_dataset(split=split))]
    assert sorted(ours) == sorted(int(e['image']['result_id']) for e in theirs)
    for example in theirs:
      image, caption = example['image'], example['caption']
      mine = ours[int(image['result_id'])]
      np.testing.assert_array_equal(image['feature'], mine['features'])
      lengths = caption['lengths']
      assert len(lengths) == len(caption['text']) == len(caption['id']) == 5
      assert [list(ids) for ids in np.split(caption['token_ids'], np.cumsum(lengths)[:-1])] == [
          list(row) for row in mine['captions']]
      assert image['filename'].decode().endswith('.jpg')


def test_video_datasets_read_through_tfds(tmp_path):
  config = activity_config().dataset.demo
  demo_videos.prepare(config, str(tmp_path / 'videos'), 'rgb')
  info = video_records.load_info(str(tmp_path / 'videos'))
  builder = tfds.builder_from_directory(str(tmp_path / 'videos'))
  assert builder.name == 'mmcap_videos'
  assert builder.info.features['video']['label'].names == info['classes']
  for split, entry in info['splits'].items():
    listed = entry['videos']  # [name, label, num_frames, shard]
    found = list(tfds.as_numpy(builder.as_dataset(split=split)))
    assert sorted(int(e['video']['index']) for e in found) == list(range(len(listed)))
    for example in found:
      name, label, num_frames, _ = listed[example['video']['index']]
      assert example['video']['label'] == label and example['video']['num_frames'] == num_frames
      frames = np.frombuffer(example['video']['features'], np.dtype(info['storage_dtype']))
      assert frames.size == num_frames * info['feature_dim'], name

  settings = video_config().dataset.demo
  demo_video_captions.prepare(settings, str(tmp_path / 'captioned'))
  info = video_captions.load_info(str(tmp_path / 'captioned'))
  builder = tfds.builder_from_directory(str(tmp_path / 'captioned'))
  assert builder.name == 'mmcap_video_captions' and builder.info.metadata == info
  videos, _ = demo_video_captions.make_videos(settings)
  for split, entry in info['splits'].items():
    found = list(tfds.as_numpy(builder.as_dataset(split=split)))
    assert len(found) == entry['num_videos']
    captions = {v.name: [' '.join(s) for s in v.sentences] for v in videos}
    for example in found:
      assert [t.decode() for t in example['caption']['text']] == captions[
          example['video']['name'].decode()]


def test_a_directory_prepared_before_the_tfds_metadata_still_loads(flickr8k_dataset, tmp_path):
  older = tmp_path / 'older'
  shutil.copytree(flickr8k_dataset, older)
  for name in ('dataset_info.json', 'features.json'):
    os.remove(older / name)
  os.rename(older / prepared.INFO_FILE, older / prepared.RUN_INFO_FILE)
  info = records.load_info(str(older))
  with open(os.path.join(flickr8k_dataset, prepared.INFO_FILE)) as f:
    assert info == json.load(f)
  assert prepared.info_path(str(older)) == str(older / 'dataset_info.json')


def test_a_directory_whose_info_file_was_never_written_is_not_a_dataset(flickr8k_dataset,
                                                                        tmp_path):
  # A preparation into a bucket killed after the TFDS metadata, before
  # mmcap's info file: TFDS's dataset_info.json is not taken for mmcap's.
  cut_short = tmp_path / 'cut_short'
  shutil.copytree(flickr8k_dataset, cut_short)
  os.remove(cut_short / prepared.INFO_FILE)
  with pytest.raises(InputError, match=f'{cut_short}/metadata.json: not found; is'):
    records.load_info(str(cut_short))
