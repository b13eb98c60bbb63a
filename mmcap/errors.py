"""The one error type for bad user input, and how commands report it."""

import functools
import re
import sys
from collections.abc import Callable

from absl import flags


class InputError(Exception):
  """Bad user input: a file, field or flag that is not what was expected.

  The command-line entry points print its message as a single line and exit
  with status 2, so the message must name the culprit and what was expected.
  """


def _exit_with(message: str, status: int = 2) -> None:
  print('error: ' + ' '.join(message.split()), file=sys.stderr)
  sys.exit(status)


# Config fields that moved, and where to: an override of the old name is
# refused with a pointer to the new one.
MOVED_FIELDS = {
    'evaluation.retrieval': 'evals.test_retrieval.enabled',
    'evaluation.retrieval_images_per_block': 'evals.test_retrieval.images_per_block',
    'evaluation.retrieval_sentences_per_block': 'evals.test_retrieval.sentences_per_block',
    'evaluation.nearest_neighbour_baseline': 'evals.test_captions.nearest_neighbour_baseline',
    'evaluation.java': 'evals.test_captions.java',
    'num_sample_captions': 'evals.test_captions.num_samples',
    'dataset.eval_splits': 'evals.NAME.split (and evals.NAME.enabled)',
    'model.feature_dropout': 'model.dropout',
}


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose errors (a typo in a --config.x override too) are
  one line on stderr and exit status 2. Pass as app.run's flags_parser."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _exit_with(str(e))
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    for arg in argv[1:]:
      field = arg.removeprefix('--config.').split('=')[0]
      if arg.startswith('--config.') and field in MOVED_FIELDS:
        _exit_with(f'{arg}: this field is now --config.{MOVED_FIELDS[field]}')
    # ml_collections reports an unknown --config field this way, as nested
    # reprs: keep the words.
    detail = re.sub(r"\\n|[\\']", ' ', str(e))
    overrides = ' '.join(a for a in argv[1:] if a.startswith('--config.'))
    _exit_with(f'unknown config field in {overrides}: {detail}')


def reports_input_errors(main: Callable[[list[str]], None]):
  """Wraps an absl `main` so an InputError is one line on stderr, exit 2, and
  training stopped by a non-finite value (FloatingPointError) one line, exit 1."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      main(argv)
    except InputError as e:
      _exit_with(str(e))
    except FloatingPointError as e:
      _exit_with(str(e), status=1)

  return wrapped
