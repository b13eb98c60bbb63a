"""Paths and files: local paths and URLs (gs://; s3:// and az:// where
TensorFlow has a file system for them) through one abstraction,
`etils.epath`, which reads URLs with tf.io.gfile; files written
atomically (a reader sees the old file or the whole new one, never a part);
output paths checked before the work."""

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from typing import IO, Any

from etils import epath

from mmcap.errors import InputError, WriteError


def is_url(path: str) -> bool:
  """Whether `path` is a URL (gs://bucket/x) rather than a local path."""
  return '://' in path


def absolute(path: str) -> str:
  """`path` made absolute; a URL is absolute already."""
  return path if is_url(path) else os.path.abspath(path)


def io_errors() -> tuple[type[BaseException], ...]:
  """What a failed read or write raises: OSError, or for URLs TensorFlow's
  errors that epath passes on untranslated (permission denied, ...)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return (OSError, tf.errors.OpError)


def size_and_mtime(path: str) -> tuple[int, float]:
  """A file's size in bytes and modification time in seconds;
  FileNotFoundError if it is missing. (epath's stat also looks up the
  owner's name, which fails for a uid without a passwd entry.)"""
  if not is_url(path):
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  try:
    stat = tf.io.gfile.stat(path)
  except tf.errors.NotFoundError:
    raise FileNotFoundError(path) from None
  return stat.length, stat.mtime_nsec / 1e9


def reason(error: BaseException) -> str:
  """An I/O error's message without its traceback or errno prefix."""
  return getattr(error, 'strerror', None) or getattr(error, 'message', None) or str(error)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w') -> Iterator[IO]:
  """A file to write `path` through: `path` appears whole when the block
  ends, or not at all. WriteError if it cannot be written (a directory that
  is missing or read-only, a full disk), with no file left behind. A URL's
  object is written under a temporary name and renamed, as a local file."""
  tmp = epath.Path(f'{path}.tmp')
  try:
    with tmp.open(mode) as f:
      yield f
      f.flush()
      if not is_url(path):
        os.fsync(f.fileno())
    tmp.replace(path)
  except BaseException as error:
    with contextlib.suppress(*io_errors()):
      tmp.unlink(missing_ok=True)
    if isinstance(error, io_errors()):
      raise WriteError(f'{path}: not written ({reason(error)})') from error
    raise


def write_json(path: str, value: Any) -> None:
  """Writes `value` to `path` whole (atomic_write)."""
  with atomic_write(path) as f:
    json.dump(value, f, indent=2)


def check_output_path(path: str, flag: str) -> None:
  """Refuses an output file path that cannot be written, before the work
  that would fill it: empty, a directory, or in a directory that is missing
  or read-only (a URL's bucket has no directories to check)."""
  if not path or path.endswith(('/', os.sep)) or epath.Path(path).is_dir():
    problem = 'expected a file path'
  elif is_url(path):
    return
  elif not os.path.isdir(parent := os.path.dirname(os.path.abspath(path))):
    problem = f'directory {parent} does not exist'
  elif not os.access(parent, os.W_OK):
    problem = f'directory {parent} is not writable'
  else:
    return
  raise WriteError(f'{flag}={path}: {problem}')


def check_url(url: str, flag: str) -> None:
  """Refuses, before any work, a URL that no file system serves here, or a
  gs:// URL without Google Cloud credentials (which TensorFlow's GCS client
  would retry for minutes before failing). A storage emulator
  (STORAGE_EMULATOR_HOST) needs no credentials."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  scheme = url.partition('://')[0]
  unserved = InputError(
      f'{flag}={url}: no file system for {scheme}:// URLs here; use a local path or a gs:// URL')
  try:
    epath.Path(url)
  except KeyError:  # a scheme epath does not know
    raise unserved from None
  if scheme == 'gs' and not os.environ.get('STORAGE_EMULATOR_HOST'):
    import google.auth  # pylint: disable=g-import-not-at-top
    from google.auth import exceptions  # pylint: disable=g-import-not-at-top

    logger = logging.getLogger('google.auth')
    level = logger.level
    logger.setLevel(logging.ERROR)  # its warnings would precede our one line
    try:
      google.auth.default()
    except exceptions.DefaultCredentialsError:
      raise InputError(
          f'{flag}={url}: no Google Cloud credentials found; run `gcloud auth'
          ' application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS'
          ' to a service account key file'
      ) from None
    finally:
      logger.setLevel(level)
  try:
    tf.io.gfile.exists(url)
  except tf.errors.UnimplementedError:  # one TensorFlow has no file system for
    raise unserved from None
  except tf.errors.OpError as e:
    raise InputError(f'{flag}={url}: not reachable ({e.message})') from None
