"""The one error type for bad user input, and how commands report it."""

import functools
import importlib.util
import logging
import os
import re
import signal
import sys
from collections.abc import Callable

from absl import flags
from absl import logging as absl_logging


class InputError(Exception):
  """Bad user input: a file, field or flag that is not what was expected.

  The command-line entry points print its message as a single line and exit
  with status 2, so the message must name the culprit and what was expected.
  """


class WriteError(InputError):
  """A file or directory that cannot be written: an impossible or read-only
  output path, a full disk, an I/O error. Reported like any InputError."""


class CheckpointWriteError(WriteError):
  """A checkpoint save that failed. Orbax's threads for it wait for signals
  that never come, and are not daemons: the process leaves without waiting
  for them."""


def one_line(message: str, limit: int = 200) -> str:
  """`message` on one line, its whitespace collapsed, cut to `limit`
  characters: a library's message inside an error line."""
  return ' '.join(message.split())[:limit]


def _exit_with(message: str, status: int = 2, wait_for_threads: bool = True) -> None:
  print('error: ' + ' '.join(message.split()), file=sys.stderr, flush=True)
  if not wait_for_threads:
    sys.stdout.flush()
    os._exit(status)  # pylint: disable=protected-access
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


class _DropFailureLogs(logging.Filter):
  """Drops the error logs of Orbax (a failed save or restore, with
  tracebacks, from its threads): mmcap reports each failure in one line."""

  def filter(self, record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR or f'{os.sep}orbax{os.sep}' not in record.pathname


def quiet_library_failures() -> None:
  """Leaves the reporting of failures to mmcap's one-line messages: drops
  Orbax's error logs and asyncio's reports of the tasks a failed Orbax
  restore leaves behind ("Task exception was never retrieved")."""
  absl_logging.get_absl_handler().addFilter(_DropFailureLogs())
  logging.getLogger('asyncio').setLevel(logging.CRITICAL)
  sys.unraisablehook = ignoring_closed_event_loops(sys.unraisablehook)


def ignoring_closed_event_loops(hook: Callable) -> Callable:
  """`hook` (a sys.unraisablehook) without the reports of TensorStore reads
  that end after the event loop of a failed Orbax restore has closed."""

  def filtered(unraisable):
    if str(unraisable.exc_value) != 'Event loop is closed':
      hook(unraisable)

  return filtered


def start_command(argv: list[str]) -> None:
  """What a command's main does first: refuses positional arguments and,
  unless --verbosity is given, logs only warnings."""
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    absl_logging.set_verbosity(absl_logging.WARNING)


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose errors (a typo in a --config.x override too) are
  one line on stderr and exit status 2. Pass as app.run's flags_parser."""
  for previous, arg in zip(argv, argv[1:]):
    if arg.startswith('--config='):
      _check_config_file(arg.removeprefix('--config='))
    flag, _, value = arg.partition('=') if arg.startswith('--') else (previous, '', arg)
    if re.match(r'[a-zA-Z][\w+.-]*://', value) and flag.startswith('--'):
      _check_url(value, flag)
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


def _check_url(url: str, flag: str) -> None:
  """Exits with one line if a URL flag value cannot be used here
  (files.check_url), before any work."""
  from mmcap import files  # pylint: disable=g-import-not-at-top

  try:
    files.check_url(url, flag)
  except InputError as e:
    _exit_with(str(e))


def _check_config_file(value: str) -> None:
  """Exits with one line if a --config file (`path` or `path:argument`) is
  missing or its get_config fails; ml_collections would raise, or defer the
  error to the first use of the config."""
  path, argument = (value, '') if os.path.isfile(value) else value.partition(':')[::2]
  if not os.path.isfile(path):
    _exit_with(f'--config={value}: no such file')
  try:
    spec = importlib.util.spec_from_file_location('mmcap_checked_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.get_config(*([argument] if argument else []))
  except Exception as e:  # pylint: disable=broad-exception-caught
    # A config file is user code: whatever it raises is the user's to fix.
    _exit_with(f'--config={value}: get_config() fails ({type(e).__name__}: {e})')


def reports_input_errors(main: Callable[[list[str]], None]):
  """Wraps an absl `main` so an InputError (a WriteError too) is one line on
  stderr, exit 2, training stopped by a non-finite value (FloatingPointError)
  one line, exit 1, and Ctrl-C outside the train loop one line, exit 130."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      main(argv)
    except CheckpointWriteError as e:
      _exit_with(str(e), wait_for_threads=False)
    except InputError as e:
      _exit_with(str(e))
    except FloatingPointError as e:
      _exit_with(str(e), status=1)
    except KeyboardInterrupt:
      # Leaves without tearing down the threads of XLA, TensorStore or Orbax
      # that may still be at work: Ctrl-C can stop Python anywhere.
      _exit_with('interrupted', status=128 + signal.SIGINT, wait_for_threads=False)

  return wrapped
