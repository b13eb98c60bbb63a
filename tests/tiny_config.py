"""The tests' tiny config as a config file, for command-line tests:
--config=tests/tiny_config.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import tiny_config  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  return tiny_config()
