"""Joining a multi-process run: `jax.distributed.initialize`, from flags or
from the environment a cluster launcher sets up, and never in a run of one
process.

Every process runs the same command. With `--num_processes=N` (N > 1),
`--coordinator_address=HOST:PORT` (process 0's host and a free port) and
`--process_id=I`, process I joins the others; on a SLURM job of several
tasks, on Kubernetes (GKE) TPU slices, and where `MMCAP_MULTIHOST=1` is set
(launch/tpu_vm.sh sets it on TPU VM slices of several hosts, whose hosts
only the metadata server knows), JAX finds the coordinator and the process
ids itself.
"""

import os
import re
import socket
import time

import jax

from mmcap.errors import InputError

# Environment variables that make a run multi-process, and the values that do.
_CLUSTER_ENVIRONMENTS = {
    'SLURM_NTASKS': lambda value: value.isdigit() and int(value) > 1,  # SLURM
    'TPU_WORKER_HOSTNAMES': lambda value: ',' in value,  # GKE TPU slices
    'MMCAP_MULTIHOST': lambda value: value == '1',  # launch/tpu_vm.sh
}


def cluster_environment() -> str | None:
  """The variable that makes this run multi-process, as NAME=VALUE, or None."""
  for name, says_multiprocess in _CLUSTER_ENVIRONMENTS.items():
    value = os.environ.get(name, '')
    if says_multiprocess(value):
      return f'{name}={value}'
  return None


def initialize(
    coordinator_address: str | None,
    num_processes: int | None,
    process_id: int | None,
    timeout_s: int,
) -> None:
  """Joins the run's other processes, if it has any (see the module's
  docstring); a single process does nothing. Every process must start
  within `timeout_s` seconds of the others, or JAX ends the run."""
  if timeout_s < 1:
    raise InputError(f'--initialization_timeout={timeout_s}: expected a positive number of seconds')
  flags_given = [v is not None for v in (coordinator_address, num_processes, process_id)]
  if any(flags_given):
    _check_flags(coordinator_address, num_processes, process_id, all(flags_given))
    if num_processes == 1:
      return
  elif cluster_environment() is None:
    return
  if coordinator_address is not None:
    _check_coordinator(coordinator_address, process_id, timeout_s)
  jax.distributed.initialize(
      coordinator_address, num_processes, process_id, initialization_timeout=timeout_s
  )


def _check_coordinator(address: str, process_id: int, timeout_s: int) -> None:
  """Refuses, in one line, a coordinator that JAX would fail on with a
  crash (an abort and a stack trace): for process 0 a port it cannot serve
  on, for the others an address where nothing answers within `timeout_s`."""
  host, port = address.rsplit(':', 1)
  host, port = host.strip('[]'), int(port)
  flag = f'--coordinator_address={address}'
  if process_id == 0:
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET) as s:
      try:
        s.bind(('', port))
      except OSError as e:
        raise InputError(
            f'{flag}: process 0 cannot serve on port {port} ({e.strerror}); choose a free port'
        ) from None
    return
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      socket.create_connection((host, port), timeout=1).close()
      return
    except OSError as e:
      if time.monotonic() > deadline:
        raise InputError(
            f'{flag}: process 0 did not answer within {timeout_s} s'
            f' (--initialization_timeout; {e.strerror or e}); start process 0'
            ' with the same flags, and check that its host and port are'
            ' reachable from this one'
        ) from None
      time.sleep(0.5)


def _check_flags(
    coordinator_address: str | None,
    num_processes: int | None,
    process_id: int | None,
    complete: bool,
) -> None:
  if not complete:
    raise InputError(
        '--coordinator_address, --num_processes and --process_id: give all'
        ' three for a multi-process run (or none, on one machine or where a'
        ' cluster launcher sets the environment)'
    )
  if num_processes < 1:
    raise InputError(f'--num_processes={num_processes}: expected a positive number')
  if not 0 <= process_id < num_processes:
    raise InputError(
        f'--process_id={process_id}: expected 0 to {num_processes - 1}'
        f' (--num_processes={num_processes})'
    )
  match = re.fullmatch(r'\[?[\w.:-]+\]?:(\d{1,5})', coordinator_address)
  if not match or not 0 < int(match.group(1)) < 65536:
    raise InputError(
        f'--coordinator_address={coordinator_address}: expected HOST:PORT'
        " (process 0's host and a free port, e.g. 10.0.0.2:1234)"
    )
