"""Files written atomically (a reader sees the old file or the whole new
one, never a part), and output paths checked before the work."""

import contextlib
import json
import os
from collections.abc import Iterator
from typing import IO, Any

from mmcap.errors import WriteError


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w') -> Iterator[IO]:
  """A file to write `path` through: `path` appears whole when the block
  ends, or not at all. WriteError if it cannot be written (a directory that
  is missing or read-only, a full disk), with no file left behind."""
  tmp = f'{path}.tmp'
  try:
    with open(tmp, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as error:
    if os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(error, OSError):
      raise WriteError(f'{path}: not written ({error.strerror or error})') from error
    raise


def write_json(path: str, value: Any) -> None:
  """Writes `value` to `path` whole (atomic_write)."""
  with atomic_write(path) as f:
    json.dump(value, f, indent=2)


def check_output_path(path: str, flag: str) -> None:
  """Refuses an output file path that cannot be written, before the work
  that would fill it: empty, a directory, or in a directory that is missing
  or read-only."""
  parent = os.path.dirname(os.path.abspath(path)) if path else ''
  if not path or path.endswith(os.sep) or os.path.isdir(path):
    problem = 'expected a file path'
  elif not os.path.isdir(parent):
    problem = f'directory {parent} does not exist'
  elif not os.access(parent, os.W_OK):
    problem = f'directory {parent} is not writable'
  else:
    return
  raise WriteError(f'{flag}={path}: {problem}')
