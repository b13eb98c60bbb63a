"""A run's JSON files, written atomically: a reader sees the old file or the
whole new one, never a part."""

import json
import os
from typing import Any

from mmcap.errors import WriteError


def write_json(path: str, value: Any) -> None:
  """Writes `value` to `path` whole; WriteError if it cannot (a directory
  that is missing or read-only, a full disk), with no file left behind."""
  tmp = f'{path}.tmp'
  try:
    with open(tmp, 'w') as f:
      json.dump(value, f, indent=2)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as error:
    if os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(error, OSError):
      raise WriteError(f'{path}: not written ({error.strerror or error})') from error
    raise


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
