r"""Prepares a captioning dataset for training from files users already have.

  python -m mmcap.prepare --karpathy_json=dataset_flickr8k.json \
      --features=vgg_feats.mat --output_dir=data/flickr8k

Captions come from a Karpathy-splits JSON (--karpathy_json) or from the raw
Flickr8k text release (--flickr8k_dir, holding Flickr8k.token.txt and the
Flickr_8k.*Images.txt split lists). Features are a .npy of shape (N, D), row =
imgid, or neuraltalk's vgg_feats.mat with `feats` of shape (D, N). The output
directory (TFRecord shards, vocab.json, dataset_info.json; schema in
mmcap/data/records.py) is what a config's `dataset.dir` points at. It is
written completely or not at all: a dataset that cannot train (no word to
learn, zero-dimensional features) is refused, and nothing is written.
"""

from absl import app
from absl import flags

from mmcap import errors
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data import sources
from mmcap.errors import InputError

_KARPATHY_JSON = flags.DEFINE_string(
    'karpathy_json', None, 'Karpathy-splits captions JSON (dataset_*.json).'
)
_FLICKR8K_DIR = flags.DEFINE_string(
    'flickr8k_dir', None, 'Directory of the raw Flickr8k text release.'
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
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  if (_KARPATHY_JSON.value is None) == (_FLICKR8K_DIR.value is None):
    raise InputError('give exactly one of --karpathy_json and --flickr8k_dir')
  for flag in (_IMAGES_PER_SHARD, _MIN_WORD_COUNT, _FEATURE_DIM):
    prepared.check_positive(flag.name, flag.value)
  prepared.check_new_directory(_OUTPUT_DIR.value)
  if _KARPATHY_JSON.value:
    captions_path = _KARPATHY_JSON.value
    images = sources.read_karpathy_json(captions_path)
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
