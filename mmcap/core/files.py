"""A run's JSON files, written atomically: a reader sees the old file or the
whole new one, never a part."""

import json
import os
from typing import Any


def write_json(path: str, value: Any) -> None:
  tmp = f'{path}.tmp'
  try:
    with open(tmp, 'w') as f:
      json.dump(value, f, indent=2)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
