"""The images of a TensorFlow Datasets split, for `mmcap.extract --tfds`:
each example's encoded image, undecoded (mmcap decodes and crops it as it
does image files), and a name for it, in the split's stored order.

Nothing is downloaded: the dataset must have been prepared already (`tfds
build NAME`, or tfds.load with download=True), in --tfds_data_dir or TFDS's
default data directory.
"""

import dataclasses

import tensorflow as tf

from mmcap.errors import InputError

# Fields that name an example's image, the first one present is used:
# coco_captions' image/filename, the file_name of imagenet2012 and others.
NAME_FIELDS = ('image/filename', 'file_name', 'filename')


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


def open_split(dataset: str, split: str, data_dir: str | None, image_field: str) -> Split:
  """The split `split` of the TFDS dataset `dataset`; InputError if there is
  no such dataset, split or image field, or if it is not prepared."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  try:
    builder = tfds.builder(dataset, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise InputError(
        f'--tfds={dataset}: no TFDS dataset of that name (tfds.list_builders() names them)'
    ) from None
  features = builder.info.features
  if image_field not in features or not isinstance(features[image_field], tfds.features.Image):
    raise InputError(
        f'--tfds={dataset}: no image field {image_field!r} (its fields: {sorted(features)});'
        ' give --tfds_image_field')
  try:
    examples = builder.as_dataset(split=split, shuffle_files=False,
                                  decoders={image_field: tfds.decode.SkipDecoding()})
  except AssertionError:  # TFDS's way of saying that the data is not there
    raise InputError(
        f'--tfds={dataset}: not prepared in {builder.data_dir}; mmcap downloads nothing:'
        f' prepare it first (tfds build {dataset.split(":")[0]} --data_dir=DIR), then give'
        ' --tfds_data_dir=DIR'
    ) from None
  except ValueError as e:  # an unknown split, or a bad slice of one
    raise InputError(
        f'--tfds_split={split}: not a split of {dataset} ({" ".join(str(e).split())[:200]})'
    ) from None
  num_examples = int(examples.cardinality())
  if num_examples < 1:
    raise InputError(f'--tfds_split={split}: no examples in {dataset} (or an unknown count)')
  name_field = next((f for f in NAME_FIELDS if f in features), None)
  return Split(dataset, str(builder.version), split, num_examples, examples, image_field,
               name_field)
