"""The one error type for bad user input, and how commands report it."""

import functools
import sys
from collections.abc import Callable


class InputError(Exception):
  """Bad user input: a file, field or flag that is not what was expected.

  The command-line entry points print its message as a single line and exit
  with status 2, so the message must name the culprit and what was expected.
  """


def reports_input_errors(main: Callable[[list[str]], None]):
  """Wraps an absl `main` so an InputError is one line on stderr, exit 2."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      main(argv)
    except InputError as e:
      print(f'error: {e}', file=sys.stderr)
      sys.exit(2)

  return wrapped
