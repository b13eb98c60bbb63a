"""Runs many command lines of one mmcap entry point, as a user would run
each, and reports how each ended. The entry point is imported once and each
command line runs in a process forked from that one: a fresh process for
each, without paying for the imports each time.

  python tests/cli_driver.py MODULE CASES_JSON RESULTS_JSON

CASES_JSON holds a list of argument lists; RESULTS_JSON receives, for each,
{"status": exit status, "stdout": ..., "stderr": ..., "traceback": the
uncaught exception or null}.
"""

import importlib
import json
import os
import sys
import tempfile
import traceback

from mmcap import errors


def run(module, argv: list[str]) -> dict:
  """Runs `module`'s main on `argv` in a forked process."""
  with (tempfile.TemporaryFile('w+') as stdout, tempfile.TemporaryFile('w+') as stderr,
        tempfile.TemporaryFile('w+') as report):
    pid = os.fork()
    if pid == 0:
      os.dup2(stdout.fileno(), 1)
      os.dup2(stderr.fileno(), 2)
      sys.argv = [module.__name__, *argv]  # ml_collections finds overrides here
      status = 0
      try:
        module.main(errors.parse_flags(sys.argv))
      except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
      except Exception:  # pylint: disable=broad-exception-caught
        traceback.print_exc()
        report.write(json.dumps(traceback.format_exc()))
        status = 1
      # The child ends here, without the second or so that tearing down an
      # interpreter with TensorFlow and JAX loaded takes.
      report.flush()
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(status)  # pylint: disable=protected-access
    _, wait_status = os.waitpid(pid, 0)
    for file in (stdout, stderr, report):
      file.seek(0)
    return {
        'status': os.waitstatus_to_exitcode(wait_status),
        'stdout': stdout.read(),
        'stderr': stderr.read(),
        'traceback': json.loads(report.read() or 'null'),
    }


def main() -> None:
  module_name, cases_path, results_path = sys.argv[1:]
  module = importlib.import_module(module_name)
  # What entry points import only once at work, imported here once for all
  # the cases, not once in each forked case.
  for name in ('tensorflow', 'tensorflow_datasets'):
    importlib.import_module(name)
  with open(cases_path) as f:
    cases = json.load(f)
  results = [run(module, argv) for argv in cases]
  with open(results_path, 'w') as f:
    json.dump(results, f)


if __name__ == '__main__':
  main()
