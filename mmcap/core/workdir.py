"""A workdir's identity: the task, model, vocabulary and dataset its
checkpoints were trained with, recorded as JSON files when it is created.

A run pointed at a workdir with checkpoints that mean something else (word
ids of another vocabulary, another model size) is refused before it writes or
compiles anything; the other config fields (steps, learning rate,
evaluators) may change between runs.
"""

import json
import os
from typing import Any

from etils import epath
import ml_collections

from mmcap.core import checkpoints
from mmcap.errors import InputError, WriteError
from mmcap.files import io_errors, reason, write_json

CONFIG_FILE = 'config.json'
# The config fields that change what a checkpoint's parameters mean.
IDENTITY_FIELDS = ('task', 'model')


def check(workdir: str, config: ml_collections.ConfigDict, files: dict[str, Any]) -> None:
  """Raises InputError naming the first difference if `workdir` holds
  checkpoints trained with another task or model than `config`, or with
  other `files` (a task's workdir_files: vocabulary, dataset info)."""
  if not _has_checkpoints(workdir):
    return
  identity = {k: config.to_dict().get(k) for k in IDENTITY_FIELDS}
  _check_file(workdir, CONFIG_FILE, identity, '--config.')
  for name, value in files.items():
    _check_file(workdir, name, value, f'{name}: ')


def record(workdir: str, config: ml_collections.ConfigDict, files: dict[str, Any]) -> None:
  """Writes the identity files: all of them in a workdir without
  checkpoints, only the missing ones beside checkpoints (which `check` has
  found identical). config.json holds the whole config of the run that
  wrote it."""
  try:
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  except io_errors() as error:
    raise WriteError(f'{workdir}: cannot create the workdir ({reason(error)})') from error
  keep = _has_checkpoints(workdir)
  for name, value in {CONFIG_FILE: config.to_dict(), **files}.items():
    path = os.path.join(workdir, name)
    if not (keep and epath.Path(path).exists()):
      write_json(path, value)


def _check_file(workdir: str, name: str, value: Any, prefix: str) -> None:
  """Compares `value` with the recorded file (its keys only, for a dict)."""
  path = os.path.join(workdir, name)
  if not epath.Path(path).exists():
    return
  recorded, value = _read(path), _as_json(value)
  if isinstance(recorded, dict) and isinstance(value, dict) and name == CONFIG_FILE:
    recorded = {k: recorded.get(k, '(absent)') for k in value}
  found = _first_difference(recorded, value)
  if found:
    key, old, new = found
    raise InputError(
        f'{prefix}{key} is {_short(new)} in this run but {_short(old)} in'
        f' {path}, which this workdir\'s checkpoints were trained with; use'
        ' a new --workdir, or the config and dataset of that run'
    )


def _has_checkpoints(workdir: str) -> bool:
  return any(
      checkpoints.saved_steps(os.path.join(workdir, sub))
      for sub in ('checkpoints', 'best')
  )


def _read(path: str) -> Any:
  try:
    with epath.Path(path).open() as f:
      return json.load(f)
  except (*io_errors(), UnicodeDecodeError, json.JSONDecodeError) as error:
    raise InputError(
        f'{path}: unreadable ({error}); this workdir\'s record of what its'
        ' checkpoints were trained with is damaged'
    ) from error


def _as_json(value: Any) -> Any:
  """`value` as it reads back from JSON (tuples become lists)."""
  return json.loads(json.dumps(value))


def _first_difference(old: Any, new: Any, key: str = '') -> tuple[str, Any, Any] | None:
  """(key path, old, new) of the first difference between two JSON values."""
  if isinstance(old, dict) and isinstance(new, dict):
    for k in sorted(set(old) | set(new)):
      sub = f'{key}.{k}' if key else k
      if k not in old or k not in new:
        return sub, old.get(k, '(absent)'), new.get(k, '(absent)')
      found = _first_difference(old[k], new[k], sub)
      if found:
        return found
    return None
  if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
    for i, (a, b) in enumerate(zip(old, new)):
      found = _first_difference(a, b, f'{key}[{i}]')
      if found:
        return found
    return None
  return None if old == new else (key, old, new)


def _short(value: Any) -> str:
  text = json.dumps(value)
  return text if len(text) <= 60 else text[:57] + '...'
