r"""Prepares a video-captioning dataset from files users already have.

  python -m mmcap.prepare_video_captions --msvd_dir=msvd \
      --msvd_features=allframes --output_dir=data/msvd
  python -m mmcap.prepare_video_captions --msrvtt_json=videodatainfo.json \
      --features_dir=features/msrvtt --output_dir=data/msrvtt
  python -m mmcap.prepare_video_captions --demo --output_dir=data/demo_videos

--msvd_dir holds S2VT's MSVD text files: sents_{train,val,test}.txt and the
per-frame (yt_allframes_vgg_fc7_*.txt) or mean-pooled (yt_pooled_fc7_mean_*.txt)
features. --msrvtt_json is MSR-VTT's videodatainfo.json, --features_dir its
videos' <video_id>.npy [T, D] files. --demo generates the built-in demo set.
Layouts in mmcap/data/video_sources.py. The vocabulary is built from the
train split's captions.

The output directory (TFRecord shards of each video's frames and captions,
vocab.json, metadata.json, TFDS metadata; schema in mmcap/data/video_captions.py) is
what `dataset.dir` of a video-captioning config points at. Captions and
feature shapes are checked before anything is written, and the directory is
written completely or not at all.
"""

from absl import app
from absl import flags

from mmcap import errors
from mmcap.data import demo_video_captions
from mmcap.data import prepared
from mmcap.data import records
from mmcap.data import video_captions
from mmcap.data import video_sources
from mmcap.errors import InputError

_MSVD_DIR = flags.DEFINE_string('msvd_dir', None, "Directory of S2VT's MSVD text files.")
_MSVD_FEATURES = flags.DEFINE_enum(
    'msvd_features', 'allframes', list(video_sources.MSVD_FEATURE_FILES),
    'MSVD features: every frame, or the mean-pooled vector (T = 1).')
_MSRVTT_JSON = flags.DEFINE_string('msrvtt_json', None, "MSR-VTT's videodatainfo.json.")
_FEATURES_DIR = flags.DEFINE_string(
    'features_dir', None, 'Directory of <video_id>.npy [T, D], with --msrvtt_json.')
_DEMO = flags.DEFINE_bool('demo', False, 'Generate the built-in demo video set.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where to write (must not exist).')
_MIN_WORD_COUNT = flags.DEFINE_integer(
    'min_word_count', 5, 'Words seen fewer times in training become <unk>.')
_FEATURE_DIM = flags.DEFINE_integer('feature_dim', None, 'If set, the D the features must have.')
_FLOAT16 = flags.DEFINE_bool('float16', False, 'Store float16 (default: float32).')
_VIDEOS_PER_SHARD = flags.DEFINE_integer('videos_per_shard', 500, 'Videos per TFRecord shard.')
flags.mark_flags_as_required(['output_dir'])


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  given = [name for name, value in (('--msvd_dir', _MSVD_DIR.value),
                                    ('--msrvtt_json', _MSRVTT_JSON.value),
                                    ('--demo', _DEMO.value)) if value]
  if len(given) != 1:
    raise InputError(
        f'give exactly one of --msvd_dir, --msrvtt_json and --demo, got {given or "none"}')
  if (_MSRVTT_JSON.value is None) != (_FEATURES_DIR.value is None):
    raise InputError('--msrvtt_json and --features_dir go together')
  for flag in (_VIDEOS_PER_SHARD, _MIN_WORD_COUNT, _FEATURE_DIM):
    prepared.check_positive(flag.name, flag.value)
  output_dir = _OUTPUT_DIR.value
  prepared.check_new_directory(output_dir)
  if _DEMO.value:
    ignored = [f'--{name}' for name in ('feature_dim', 'float16', 'min_word_count',
                                        'videos_per_shard', 'msvd_features')
               if flags.FLAGS[name].present]
    if ignored:
      raise InputError(f'--demo generates its videos with its own settings; drop {ignored}')
    demo_video_captions.prepare(demo_video_captions.default_settings(), output_dir)
  else:
    _prepare_files(output_dir)
  info = video_captions.load_info(output_dir)
  counts = ', '.join(f'{split} {entry["num_videos"]} ({entry["num_captions"]})'
                     for split, entry in info['splits'].items())
  print(f'wrote {output_dir}: videos (captions) per split: {counts};'
        f' {info["feature_dim"]}-d features; {info["vocab_size"]} words')


def _prepare_files(output_dir: str) -> None:
  """Reads MSVD or MSR-VTT, builds the vocabulary from training, writes."""
  if _MSVD_DIR.value:
    captions = _MSVD_DIR.value
    videos, load_frames = video_sources.read_msvd(
        captions, _MSVD_FEATURES.value, _FEATURE_DIM.value)
    source = {'captions': captions, 'features': _MSVD_FEATURES.value}
  else:
    captions = _MSRVTT_JSON.value
    videos, load_frames = video_sources.read_msrvtt(
        captions, _FEATURES_DIR.value, _FEATURE_DIM.value)
    source = {'captions': captions, 'features': _FEATURES_DIR.value}
  train = [sentence for v in videos if v.split == 'train' for sentence in v.sentences]
  if not train:
    raise InputError(f'{captions}: no captions in the train split (they build the vocabulary)')
  video_captions.write_dataset(
      videos,
      load_frames,
      records.build_vocabulary(train, _MIN_WORD_COUNT.value, captions, ('train',)),
      output_dir,
      source,
      storage_dtype='float16' if _FLOAT16.value else 'float32',
      videos_per_shard=_VIDEOS_PER_SHARD.value,
  )


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
