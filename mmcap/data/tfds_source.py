"""TensorFlow Datasets splits as mmcap's sources: the images of a split, for
`mmcap.extract --tfds` (each example's encoded image, undecoded: mmcap
decodes and crops it as it does image files, and a name for it, in the
split's fixed reading order); the captions of a caption dataset such as
coco_captions, for `mmcap.prepare --tfds`; and the videos of a video
dataset such as ucf101 (each example's encoded frames, and its label), for
`mmcap.extract --tfds --tfds_video_field` and `mmcap.prepare_videos --tfds`.
A video example has no file name in TFDS (ucf101's is its key, which TFDS
does not return), so it is named <split>_<index> by its place in the
split's fixed reading order (train_000000, ...).

Nothing is downloaded: the dataset must have been prepared already (`tfds
build NAME`, or tfds.load with download=True), in --tfds_data_dir or TFDS's
default data directory.
"""

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf

from mmcap.data import sources
from mmcap.errors import InputError, one_line

# Fields that name an example's image, the first one present is used:
# coco_captions' image/filename, the file_name of imagenet2012 and others.
NAME_FIELDS = ('image/filename', 'file_name', 'filename')
# A caption dataset's fields, as coco_captions has them: a sequence of
# captions, each a text (and an id), and the image's id for results files.
CAPTIONS_FIELD, IMAGE_ID_FIELD = 'captions', 'image/id'
# TFDS split names that are not mmcap's (sources.SPLITS).
SPLIT_NAMES = {'validation': 'val'}


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a prepared TFDS image dataset."""

  dataset: str  # as given: NAME, NAME/CONFIG or NAME:VERSION
  version: str
  split: str
  num_examples: int
  examples: tf.data.Dataset  # the examples, the image field undecoded
  image_field: str
  name_field: str | None  # None: examples are named by their index

  def images(self, start: int, stop: int) -> tf.data.Dataset:
    """(encoded image, name) of examples start to stop - 1."""
    def pair(index, example):
      name = (example[self.name_field] if self.name_field
              else tf.strings.as_string(index))
      return example[self.image_field], name

    return self.examples.enumerate().skip(start).take(stop - start).map(pair)


def _builder(dataset: str, data_dir: str | None) -> Any:
  """The TFDS builder of `dataset`; InputError if TFDS has none of that name."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  try:
    return tfds.builder(dataset, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise InputError(
        f'--tfds={dataset}: no TFDS dataset of that name (tfds.list_builders() names them)'
    ) from None
  except (AssertionError, ValueError) as e:  # a bad config, version or name
    raise InputError(f'--tfds={dataset}: {one_line(str(e))}') from None


class _DropDeprecationWarnings(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return 'deprecated' not in record.getMessage()


@contextlib.contextmanager
def _without_deprecation_warnings() -> Iterator[None]:
  """TFDS sets up the decoding of a Video field with calls that it and
  TensorFlow log as deprecated: not the user's to act on, and lines of noise
  before a command's own. They are dropped while it does."""
  drop = _DropDeprecationWarnings()
  loggers = [logging.getLogger('absl'), logging.getLogger('tensorflow')]
  for logger in loggers:
    logger.addFilter(drop)
  try:
    yield
  finally:
    for logger in loggers:
      logger.removeFilter(drop)


@contextlib.contextmanager
def _reading(dataset: str, split: str, data_dir: str) -> Iterator[None]:
  """A missing or damaged file of the split, met while its examples are
  read, as one line."""
  try:
    yield
  except tf.errors.OpError as e:
    raise InputError(f'--tfds={dataset}: cannot read split {split} in {data_dir}'
                     f' ({one_line(e.message)})') from None


def _examples(builder: Any, dataset: str, split: str, flag: str, decoders: Any) -> tf.data.Dataset:
  """The split's examples in a fixed order (TFDS's, its files interleaved);
  InputError if the dataset is not prepared or has no such split (named by
  `flag`)."""
  try:
    with _without_deprecation_warnings():
      examples = builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
  except AssertionError:  # TFDS's way of saying that the data is not there
    raise InputError(
        f'--tfds={dataset}: not prepared in {builder.data_dir}; mmcap downloads nothing:'
        f' prepare it first (tfds build {dataset.split(":")[0]} --data_dir=DIR), then give'
        ' --tfds_data_dir=DIR'
    ) from None
  except ValueError as e:  # an unknown split, or a bad slice of one
    raise InputError(
        f'{flag}={split}: not a split of {dataset} ({one_line(str(e))})'
    ) from None
  if int(examples.cardinality()) < 1:
    raise InputError(f'{flag}={split}: no examples in {dataset} (or an unknown count)')
  return examples


def open_split(dataset: str, split: str, data_dir: str | None, image_field: str) -> Split:
  """The split `split` of the TFDS dataset `dataset`; InputError if there is
  no such dataset, split or image field, or if it is not prepared."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = _builder(dataset, data_dir)
  features = builder.info.features
  if image_field not in features or not isinstance(features[image_field], tfds.features.Image):
    raise InputError(
        f'--tfds={dataset}: no image field {image_field!r} (its fields: {sorted(features)});'
        ' give --tfds_image_field')
  examples = _examples(builder, dataset, split, '--tfds_split',
                       {image_field: tfds.decode.SkipDecoding()})
  name_field = next((f for f in NAME_FIELDS if f in features), None)
  return Split(dataset, str(builder.version), split, int(examples.cardinality()), examples,
               image_field, name_field)


def read_captions(dataset: str, splits: list[str], data_dir: str | None,
                  rows: dict[str, int]) -> list[sources.Image]:
  """The images of `splits` of the TFDS caption dataset `dataset`, each with
  its captions tokenized as sources.tokenize does, its row in the features
  found by its file name in `rows` (`mmcap.extract --tfds`'s names), and
  its image/id (COCO's id) for results files. InputError for a dataset
  without captions or file names, an unknown split, or an image without a
  feature row (or a row without an image)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = _builder(dataset, data_dir)
  features = builder.info.features
  captions = features[CAPTIONS_FIELD] if CAPTIONS_FIELD in features else None
  if not (isinstance(captions, tfds.features.Sequence)
          and isinstance(captions.feature, tfds.features.FeaturesDict)
          and 'text' in captions.feature):
    raise InputError(
        f'--tfds={dataset}: no {CAPTIONS_FIELD!r} field of texts (its fields:'
        f' {sorted(features)}); prepare reads caption datasets such as coco_captions')
  name_field = next((f for f in NAME_FIELDS if f in features), None)
  if name_field is None:
    raise InputError(f'--tfds={dataset}: no file name field ({", ".join(NAME_FIELDS)}) to'
                     ' find each image\'s feature row by')
  # The images stay encoded: they are not what prepare reads.
  decoders = {field: tfds.decode.SkipDecoding() for field, feature in features.items()
              if isinstance(feature, tfds.features.Image)}
  images, seen, next_sentid = [], set(), 0
  for split in splits:
    mmcap_split = SPLIT_NAMES.get(split.split('[')[0], split.split('[')[0])
    if mmcap_split not in sources.SPLITS:
      raise InputError(f'--tfds_splits={split}: expected TFDS splits named one of'
                       f' {sources.SPLITS} (or validation), a slice such as train[:100] too')
    examples = _examples(builder, dataset, split, '--tfds_splits', decoders)
    with _reading(dataset, split, builder.data_dir):
      for example in examples.as_numpy_iterator():
        name = example[name_field].decode()
        where = f'--tfds={dataset}: image {name!r} of split {split}'
        if name not in rows:
          raise InputError(f'{where} has no row in the features (extract them with'
                           ' --tfds_split naming every split given here)')
        if name in seen:
          raise InputError(f'{where} comes twice (a split given twice?)')
        seen.add(name)
        sentences = tuple(sources.tokenize(text.decode())
                          for text in example[CAPTIONS_FIELD]['text'])
        if not sentences or not all(sentences):
          raise InputError(f'{where} has no captions, or a caption without a word')
        ids = example[CAPTIONS_FIELD].get('id')  # else numbered in reading order
        sentids = (tuple(int(i) for i in ids) if ids is not None
                   else tuple(range(next_sentid, next_sentid + len(sentences))))
        next_sentid += len(sentences)
        images.append(sources.Image(
            imgid=rows[name], filename=name, split=mmcap_split, sentences=sentences,
            sentids=sentids,
            image_id=int(example[IMAGE_ID_FIELD]) if IMAGE_ID_FIELD in example else rows[name]))
  if len(images) != len(rows):
    raise InputError(f'--tfds={dataset}: the features hold {len(rows)} rows, the splits'
                     f' {",".join(splits)} {len(images)} images: extract the features of'
                     ' exactly these splits')
  return images


def video_name(split: str, index: int) -> str:
  """The name of a TFDS video example, and of its feature file."""
  return f'{split}_{index:06d}'


def _video_splits(dataset: str, splits: str, flag: str) -> list[str]:
  """The '+'-joined plain split names of `splits`; a slice is refused, since
  a video is named by its index in the whole split."""
  names = splits.split('+')
  for name in names:
    if not name.isidentifier():
      raise InputError(f'{flag}={splits}: expected split names of {dataset} joined by +'
                       ' (train+test), no slices: a video is named by its index in its split')
  return names


@dataclasses.dataclass(frozen=True)
class Videos:
  """Splits of a prepared TFDS video dataset."""

  dataset: str  # as given
  full_name: str  # NAME/CONFIG/VERSION
  data_dir: str  # where it is prepared
  video_field: str
  examples: dict[str, tf.data.Dataset]  # by split; the video field undecoded

  @property
  def names(self) -> list[str]:
    return [video_name(split, index) for split, examples in self.examples.items()
            for index in range(int(examples.cardinality()))]

  def frames(self, every: int
             ) -> Iterator[tuple[str, int, Callable[[int, int], tf.data.Dataset]]]:
    """Each video's name, its number of frames kept (every `every`-th), and
    (start, stop) -> tf.data of (encoded frame, name) of those kept, in order."""
    field = self.video_field
    for split, examples in self.examples.items():
      with _reading(self.dataset, split, self.data_dir):
        for index, frames in enumerate(examples.map(lambda e: e[field]).as_numpy_iterator()):
          name, kept = video_name(split, index), frames[::every]
          labels = [f'{name}/{k * every}' for k in range(len(kept))]
          yield name, len(kept), lambda start, stop, kept=kept, labels=labels: (
              tf.data.Dataset.from_tensor_slices((kept[start:stop], labels[start:stop])))


def open_videos(dataset: str, splits: str, data_dir: str | None, video_field: str) -> Videos:
  """The '+'-joined `splits` of the TFDS video dataset `dataset`; InputError
  if there is no such dataset, split or video field, or if it is not
  prepared."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = _builder(dataset, data_dir)
  features = builder.info.features
  if not isinstance(features[video_field] if video_field in features else None,
                    tfds.features.Video):
    raise InputError(f'--tfds={dataset}: no video field {video_field!r} (its fields:'
                     f' {sorted(features)}); give --tfds_video_field')
  decoders = {video_field: tfds.decode.SkipDecoding()}
  examples = {split: _examples(builder, dataset, split, '--tfds_split', decoders)
              for split in _video_splits(dataset, splits, '--tfds_split')}
  return Videos(dataset, builder.info.full_name, builder.data_dir, video_field, examples)


def full_name(dataset: str, data_dir: str | None) -> str:
  """NAME/CONFIG/VERSION of the TFDS dataset `dataset`."""
  return _builder(dataset, data_dir).info.full_name


# The label field of a video classification dataset (ucf101's).
LABEL_FIELD = 'label'


def read_video_labels(dataset: str, splits: list[str], data_dir: str | None
                      ) -> tuple[list[str], list[tuple[str, int, str]]]:
  """The class names of the TFDS video dataset `dataset` (its ClassLabel
  `label`) and (name, label, mmcap split) of each video of `splits` (TFDS
  names; validation is val), named as `open_videos` names them; the videos
  are not decoded."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = _builder(dataset, data_dir)
  features = builder.info.features
  label = features[LABEL_FIELD] if LABEL_FIELD in features else None
  if not isinstance(label, tfds.features.ClassLabel):
    raise InputError(f'--tfds={dataset}: no ClassLabel field {LABEL_FIELD!r} (its fields:'
                     f' {sorted(features)}); prepare_videos reads video classification'
                     ' datasets such as ucf101')
  if any(SPLIT_NAMES.get(split, split) not in ('train', 'val', 'test') for split in splits):
    raise InputError(f'--tfds_splits={",".join(splits)}: expected TFDS splits named train,'
                     ' validation or test, no slices')
  decoders = tfds.decode.PartialDecoding({LABEL_FIELD: True})
  videos = []
  for split in splits:
    mmcap_split = SPLIT_NAMES.get(split, split)
    examples = _examples(builder, dataset, split, '--tfds_splits', decoders)
    with _reading(dataset, split, builder.data_dir):
      for index, example in enumerate(examples.as_numpy_iterator()):
        videos.append((video_name(split, index), int(example[LABEL_FIELD]), mmcap_split))
  return list(label.names), videos
