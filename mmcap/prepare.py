r"""Prepares a captioning dataset for training from files users already have.

  python -m mmcap.prepare --karpathy_json=dataset_flickr8k.json \
      --features=vgg_feats.mat --output_dir=data/flickr8k

Captions come from a Karpathy-splits JSON (--karpathy_json), from the raw
Flickr8k text release (--flickr8k_dir, holding Flickr8k.token.txt and the
Flickr_8k.*Images.txt split lists), from the IAPR TC-12 release
(--iaprtc12_dir, holding annotations_complete_eng/, with the split lists
--iaprtc12_train_list and --iaprtc12_test_list; mmcap/data/iaprtc12.py) or
from a TensorFlow Datasets caption dataset already prepared on disk
(--tfds=coco_captions: Karpathy's splits of COCO; --tfds_splits,
--tfds_data_dir). Features are a .npy of shape (N, D), row = imgid, or
neuraltalk's vgg_feats.mat with `feats` of shape (D, N); with --tfds, the
.npy of `mmcap.extract --tfds`, whose rows are found by the image names it
writes beside it (feats.names.txt). The output
directory (TFRecord shards, vocab.json, metadata.json, TFDS metadata; schema in
mmcap/data/records.py) is what a config's `dataset.dir` points at. It is
written completely or not at all: a dataset that cannot train (no word to
learn, zero-dimensional features) is refused, and nothing is written.
"""

from absl import app
from absl import flags

from mmcap import errors
from mmcap.data import iaprtc12
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data import sources
from mmcap.data import tfds_source
from mmcap.errors import InputError

_KARPATHY_JSON = flags.DEFINE_string(
    'karpathy_json', None, 'Karpathy-splits captions JSON (dataset_*.json).'
)
_FLICKR8K_DIR = flags.DEFINE_string(
    'flickr8k_dir', None, 'Directory of the raw Flickr8k text release.'
)
_IAPRTC12_DIR = flags.DEFINE_string(
    'iaprtc12_dir', None, 'Directory of the IAPR TC-12 release (iaprtc12/).'
)
_IAPRTC12_TRAIN_LIST = flags.DEFINE_string(
    'iaprtc12_train_list', None, 'IAPR TC-12: the training images, one DIR/ID per line.'
)
_IAPRTC12_TEST_LIST = flags.DEFINE_string(
    'iaprtc12_test_list', None, 'IAPR TC-12: the test images, one DIR/ID per line.'
)
_TFDS = flags.DEFINE_string(
    'tfds', None, 'A TFDS caption dataset prepared on disk (coco_captions), read offline.'
)
_TFDS_SPLITS = flags.DEFINE_list(
    'tfds_splits', ['train', 'restval', 'val', 'test'],
    "--tfds: the splits to prepare (TFDS's names; slices such as train[:1000] too)."
)
_TFDS_DATA_DIR = flags.DEFINE_string(
    'tfds_data_dir', None, "--tfds: TFDS's data directory (default: TFDS's own)."
)
_FEATURES = flags.DEFINE_string(
    'features', None, 'Image features: .npy (N, D) or vgg_feats.mat (D, N).'
)
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Where to write the prepared dataset (must not exist).'
)
_MIN_WORD_COUNT = flags.DEFINE_integer(
    'min_word_count', 5, 'Words seen fewer times in training become <unk>.'
)
_VOCAB_SPLITS = flags.DEFINE_list(
    'vocab_splits', ['train', 'restval'], 'Splits whose captions build the vocabulary.'
)
_FEATURE_DIM = flags.DEFINE_integer(
    'feature_dim', None, 'If set, the feature dimension D the file must have.'
)
_IMAGES_PER_SHARD = flags.DEFINE_integer(
    'images_per_shard', 2000, 'Images per TFRecord shard.'
)
flags.mark_flags_as_required(['features', 'output_dir'])


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  errors.start_command(argv)  # TFDS logs its reading at INFO
  sources_given = [f for f in (_KARPATHY_JSON, _FLICKR8K_DIR, _IAPRTC12_DIR, _TFDS)
                   if f.value is not None]
  if len(sources_given) != 1:
    raise InputError(
        'give exactly one of --karpathy_json, --flickr8k_dir, --iaprtc12_dir and --tfds')
  if _TFDS.value is None and (_TFDS_SPLITS.present or _TFDS_DATA_DIR.present):
    raise InputError('--tfds_splits and --tfds_data_dir go with --tfds')
  if _TFDS.value is not None and not _FEATURES.value.endswith('.npy'):
    raise InputError(f'--features={_FEATURES.value}: with --tfds, the .npy that'
                     ' `mmcap.extract --tfds` wrote, its image names beside it')
  lists_given = {f.value is not None for f in (_IAPRTC12_TRAIN_LIST, _IAPRTC12_TEST_LIST)}
  if lists_given != {_IAPRTC12_DIR.value is not None}:
    raise InputError(
        '--iaprtc12_dir goes with both --iaprtc12_train_list and --iaprtc12_test_list'
    )
  for flag in (_IMAGES_PER_SHARD, _MIN_WORD_COUNT, _FEATURE_DIM):
    prepared.check_positive(flag.name, flag.value)
  prepared.check_new_directory(_OUTPUT_DIR.value)
  if _KARPATHY_JSON.value:
    captions_path = _KARPATHY_JSON.value
    images = sources.read_karpathy_json(captions_path)
  elif _TFDS.value:
    captions_path = f'--tfds={_TFDS.value}'
    images = tfds_source.read_captions(_TFDS.value, _TFDS_SPLITS.value, _TFDS_DATA_DIR.value,
                                       sources.read_feature_rows(_FEATURES.value))
  elif _IAPRTC12_DIR.value:
    captions_path = _IAPRTC12_DIR.value
    images = iaprtc12.read_iaprtc12(
        captions_path, _IAPRTC12_TRAIN_LIST.value, _IAPRTC12_TEST_LIST.value
    )
  else:
    captions_path = _FLICKR8K_DIR.value
    images = sources.read_flickr8k_text(captions_path)
  records.prepare_dataset(
      captions_path,
      images,
      _FEATURES.value,
      _OUTPUT_DIR.value,
      _MIN_WORD_COUNT.value,
      tuple(_VOCAB_SPLITS.value),
      _FEATURE_DIM.value,
      _IMAGES_PER_SHARD.value,
  )
  info = records.load_info(_OUTPUT_DIR.value)
  counts = {split: v['num_images'] for split, v in info['splits'].items()}
  print(
      f'wrote {_OUTPUT_DIR.value}: {info["vocab_size"]} words,'
      f' {info["feature_dim"]}-d features, images per split {counts}'
  )


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
