"""A run's JSON files, written atomically: a reader sees the old file or the
whole new one, never a part."""

import json
import os
from typing import Any


def write_json(path: str, value: Any) -> None:
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)
