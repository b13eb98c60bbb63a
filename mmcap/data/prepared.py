"""What every prepared dataset shares, whatever it holds (captions,
videos): its JSON info file, its split shards, the TensorFlow Datasets
metadata that describes them, and the demo generated into the workdir on
first use.

A prepared directory is a TFDS dataset: `tfds.builder_from_directory(dir)`
reads its shards (TFDS's dataset_info.json and features.json), and mmcap's
own info file is TFDS's metadata.json (`builder.info.metadata`).
"""

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from etils import epath
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from mmcap import files as paths
from mmcap.errors import InputError, WriteError

Member = TypeVar('Member')

INFO_FILE = 'metadata.json'  # mmcap's info; TFDS reads it as the dataset's metadata
# Where a run's workdir keeps its copy of the info, and where directories
# prepared before mmcap wrote TFDS metadata keep theirs.
RUN_INFO_FILE = 'dataset_info.json'
SHARD_TEMPLATE = '{SPLIT}-{SHARD_X_OF_Y}.{FILEFORMAT}'  # train-00000-of-00003.tfrecord


def info_path(directory: str) -> str:
  """The info file of a prepared directory or a workdir: INFO_FILE, or
  RUN_INFO_FILE where no TFDS features.json says that this name is TFDS's
  (a workdir, or a directory prepared before the TFDS metadata)."""
  path = os.path.join(directory, INFO_FILE)
  older = os.path.join(directory, RUN_INFO_FILE)
  if epath.Path(path).exists() or epath.Path(directory, 'features.json').exists():
    return path
  return older if epath.Path(older).exists() else path


def read_json(path: str, missing: str) -> Any:
  """A JSON file's content; `missing` says what to do when it is absent."""
  try:
    with epath.Path(path).open() as f:
      return json.load(f)
  except FileNotFoundError:
    raise InputError(f'{path}: not found; {missing}') from None
  except paths.io_errors() as e:
    raise InputError(f'{path}: cannot read ({paths.reason(e)})') from None
  except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
    raise InputError(f'{path}: not valid JSON ({e})') from None


def check_positive(flag: str, value: int | None) -> None:
  """Refuses a count flag (e.g. images_per_shard) below 1; None is a flag
  not given. Checked before any work, so a bad value costs nothing."""
  if value is not None and value < 1:
    raise InputError(f'--{flag}={value}: expected a positive number')


def check_new_directory(output_dir: str) -> None:
  """Refuses an `output_dir` that is empty, exists (a prepared directory is
  never overwritten) or cannot be made (a regular file on its path).
  Commands check it first, before reading their inputs."""
  if not output_dir:
    raise InputError('--output_dir is empty: expected the path of a directory to create')
  if epath.Path(output_dir).exists():
    raise InputError(f'{output_dir}: output directory already exists')
  if paths.is_url(output_dir):
    return
  _, existing = _ancestors(output_dir)
  if not os.path.isdir(existing):
    raise WriteError(f'{output_dir}: cannot be made, {existing} is not a directory')


def _ancestors(output_dir: str) -> tuple[list[str], str]:
  """The parent directories of `output_dir` that do not exist, deepest
  first, and the nearest one that does."""
  missing = []
  parent = os.path.dirname(os.path.abspath(output_dir))
  while not os.path.exists(parent):
    missing.append(parent)
    parent = os.path.dirname(parent)
  return missing, parent


@contextlib.contextmanager
def atomic_directory(output_dir: str) -> Iterator[str]:
  """A temporary directory beside `output_dir` to write into, renamed to it
  when the block completes and removed if it does not, with any parent
  directories made for it: a prepared directory is never half-written, and
  a failure leaves nothing behind. SIGTERM while inside ends the process the
  same way, with status 143, after removing them.

  A URL's directory cannot be renamed (a bucket renames object by object):
  the block writes `output_dir` itself, removed if the block fails, and the
  info file written last is what makes it a prepared directory to readers."""
  check_new_directory(output_dir)
  if paths.is_url(output_dir):
    with _sigterm_raises(), _removed_on_failure(output_dir):
      yield output_dir
    return
  made, _ = _ancestors(output_dir)
  tmp_dir = None
  try:
    with _sigterm_raises():
      tmp_dir = _make_temporary(output_dir)
      yield tmp_dir
      _rename(tmp_dir, output_dir)
  except BaseException:
    if tmp_dir is not None:
      shutil.rmtree(tmp_dir, ignore_errors=True)
    for directory in made:
      try:
        os.rmdir(directory)
      except OSError:  # not empty: someone else wrote there meanwhile
        break
    raise


@contextlib.contextmanager
def _removed_on_failure(output_dir: str) -> Iterator[None]:
  try:
    yield
  except BaseException:
    with contextlib.suppress(*paths.io_errors()):
      epath.Path(output_dir).rmtree()
    raise


def _make_temporary(output_dir: str) -> str:
  """A new directory beside `output_dir`, its parents made, to write it in."""
  parent = os.path.dirname(os.path.abspath(output_dir))
  try:
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.preparing-', dir=parent)
  except OSError as e:
    raise WriteError(f'{output_dir}: cannot create the output directory ({e.strerror})') from None
  # mkdtemp's 0700 would make the dataset private: the umask decides, as
  # for any directory made.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp_dir, 0o777 & ~umask)
  return tmp_dir


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
  """While inside, SIGTERM raises SystemExit(143) instead of ending the
  process at once, so that the blocks it unwinds clean up (Ctrl-C raises
  KeyboardInterrupt anyway). Only the main thread receives signals."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def stop(signum, frame):
    del frame
    raise SystemExit(128 + signum)

  previous = signal.signal(signal.SIGTERM, stop)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _rename(tmp_dir: str, output_dir: str) -> None:
  """Gives the complete `tmp_dir` its name `output_dir`."""
  try:
    os.rename(tmp_dir, output_dir)
  except OSError as e:
    raise WriteError(
        f'{output_dir}: cannot move the prepared directory there ({e.strerror})') from None


def write_shards(
    directory: str,
    split: str,
    members: Sequence[Member],
    per_shard: int,
    rng: np.random.Generator,
    serialize: Callable[[Member, int], bytes],
    captions_of: Callable[[Member], int] | None = None,
) -> dict[str, list]:
  """Writes a split's members in a random order drawn from `rng`, spread
  over TFRecord shards of at most `per_shard`, `serialize(member, shard)`
  giving each one's record; returns the info entries 'files' (the shard
  names) and 'file_sizes' (their bytes, checked by `check_shards`); with
  `captions_of`, also 'file_captions' (their captions: what training needs
  to resume anywhere, data/order.py)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  members = [members[i] for i in rng.permutation(len(members))]
  num_shards = -(-len(members) // per_shard)
  files, sizes, captions = [], [], []
  for shard in range(num_shards):
    files.append(f'{split}-{shard:05d}-of-{num_shards:05d}.tfrecord')
    path = os.path.join(directory, files[-1])
    try:
      with tf.io.TFRecordWriter(path) as writer:
        for member in members[shard::num_shards]:
          writer.write(serialize(member, shard))
    except tf.errors.OpError as e:  # a full disk, a directory gone
      raise WriteError(f'{path}: not written ({e.message})') from None
    sizes.append(paths.size_and_mtime(path)[0])
    if captions_of:
      captions.append(sum(map(captions_of, members[shard::num_shards])))
  shards = {'files': files, 'file_sizes': sizes}
  return {**shards, 'file_captions': captions} if captions_of else shards


def write_tfds_metadata(
    directory: str, name: str, version: int, features: dict, splits: dict, unit: str,
    description: str,
) -> None:
  """Describes the shards `write_shards` wrote for `splits` (info entries
  with 'files', 'file_sizes' and `num_{unit}`) to TensorFlow Datasets, as
  the dataset `name` at `version`.0.0 whose examples have `features` (a
  nested dict of TFDS features): its dataset_info.json and features.json."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  split_infos = []
  for split, entry in splits.items():
    num_shards = len(entry['files'])
    split_infos.append(tfds.core.SplitInfo(
        name=split,
        # write_shards deals the members out in turn: shard k gets k, k + n, ...
        shard_lengths=[len(range(k, entry[f'num_{unit}'], num_shards)) for k in range(num_shards)],
        num_bytes=sum(entry['file_sizes']),
        filename_template=tfds.core.ShardedFileTemplate(
            data_dir=epath.Path(directory), template=SHARD_TEMPLATE, dataset_name=name,
            split=split, filetype_suffix='tfrecord'),
    ))
  info = tfds.core.DatasetInfo(
      builder=tfds.core.DatasetIdentity(
          name=name, version=tfds.core.Version(f'{version}.0.0'), data_dir=directory,
          module_name=''),
      features=tfds.features.FeaturesDict(features),
      description=description,
  )
  info.set_file_format('tfrecord')
  info.set_splits(tfds.core.SplitDict(split_infos))
  try:
    info.write_to_directory(directory)
  except paths.io_errors() as e:
    raise WriteError(f'{directory}: TFDS metadata not written ({paths.reason(e)})') from None


def check_shards(dataset_dir: str, info: dict) -> None:
  """Refuses a prepared directory with a shard missing, or of another size
  than when it was written (truncated, replaced): found at start, not when
  training reaches it. Directories prepared before sizes were recorded are
  checked for missing shards only."""
  for split, entry in info['splits'].items():
    sizes = entry.get('file_sizes') or [None] * len(entry['files'])
    for name, size in zip(entry['files'], sizes):
      path = os.path.join(dataset_dir, name)
      if not epath.Path(path).is_file():
        raise InputError(f'{path}: missing shard of split {split!r}; prepare the dataset again')
      try:
        found = paths.size_and_mtime(path)[0]
      except paths.io_errors() as e:
        raise InputError(f'{path}: cannot read ({paths.reason(e)})') from None
      if size is not None and found != size:
        raise InputError(
            f'{path}: {found} bytes, but {size} when prepared'
            ' (truncated or replaced); prepare the dataset again'
        )


def load_info(dataset_dir: str, kind: str, version: int, noun: str, command: str) -> dict:
  """Reads the info file of a prepared directory (or a workdir's copy) and
  checks its 'format' is `kind` (e.g. 'videos') at `version`; `noun` names
  such a dataset in errors ('video'), `command` is the one that prepares it."""
  path = info_path(dataset_dir)
  info = read_json(path, f'is {dataset_dir!r} a prepared {noun} dataset (see `{command}`)?')
  if not isinstance(info, dict) or info.get('format') != kind:
    raise InputError(f'{path}: not a prepared {noun} dataset (format {kind!r})')
  if info.get('format_version') != version:
    raise InputError(
        f'{path}: format_version {info.get("format_version")}, expected'
        f' {version}; prepare it again with this mmcap'
    )
  return info


def split_files(dataset_dir: str, info: dict, splits: Sequence[str], unit: str) -> list[str]:
  """The shard paths of `splits`; an unknown split, or one without `unit`s
  ('images', 'videos'), is an error."""
  files = []
  for split in splits:
    entry = info['splits'].get(split)
    if not entry or not entry[f'num_{unit}']:
      raise InputError(
          f'{info_path(dataset_dir)}: split {split!r} has no'
          f' {unit} (present: {sorted(info["splits"])})'
      )
    files += [os.path.join(dataset_dir, name) for name in entry['files']]
  return files


def split_list(value: str, flag: str) -> list[str]:
  """The splits of a comma-separated config field; none is an error."""
  splits = [s for s in value.split(',') if s]
  if not splits:
    raise InputError(f'--config.dataset.{flag} is empty')
  return splits


def resolve(
    config: ml_collections.ConfigDict,
    demo_dir: str,
    generate: Callable[[str], None],
    load_info: Callable[[str], dict],
) -> tuple[str, dict]:
  """The dataset directory of `config.dataset` and its info: `config.dir`
  for a prepared one, or `demo_dir`, generated by `generate(demo_dir)` on
  first use and refused if it was generated with other `config.demo`
  settings."""
  if config.source == 'demo':
    if not epath.Path(demo_dir).exists() and jax.process_index() == 0:
      generate(demo_dir)
    multihost_utils.sync_global_devices('demo dataset ready')
    info = load_info(demo_dir)
    check_shards(demo_dir, info)
    made_with = info['source'].get('demo_config')
    if made_with != config.demo.to_dict():
      raise InputError(
          f'{demo_dir} was generated with other --config.dataset.demo settings'
          f' ({made_with}); use a new --workdir'
      )
    return demo_dir, info
  if config.source == 'prepared':
    if not config.dir:
      raise InputError('--config.dataset.dir is required when dataset.source="prepared"')
    info = load_info(config.dir)
    check_shards(config.dir, info)
    return config.dir, info
  raise InputError(
      f'--config.dataset.source={config.source!r}: expected "demo" or "prepared"'
  )
