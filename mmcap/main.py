r"""Trains, evaluates and captions with the m-RNN and LRCN models, describes
videos (S2VT, mean pool) and recognizes activities with LRCN.

  python -m mmcap.main --config=configs/demo.py --workdir=runs/demo
  python -m mmcap.main --config=configs/lrcn_coco.py --workdir=runs/coco \
      --config.dataset.dir=data/coco --config.batch_size=256
  python -m mmcap.main --config=configs/demo.py --workdir=runs/demo \
      --mode=caption --split=test --config.decode.method=beam
  python -m mmcap.main --config=configs/demo_activity.py --workdir=runs/activity
  python -m mmcap.main --config=configs/demo_video.py --workdir=runs/video

--mode=train (default) trains the config's task (config.task), resuming
from a workdir that holds a checkpoint, then runs its evaluators
(config.evals) and writes WORKDIR/results.json. --mode=evaluate evaluates the
latest checkpoint the same way (choose evaluators with
--config.evals.NAME.enabled, e.g. --config.evals.test_retrieval.enabled=True).
--mode=caption (captioning and video description) captions a dataset split
(--split) or new inputs (--features: for images a .npy (N, D) or
vgg_feats.mat (D, N), for videos a directory of <video>.npy [T, D]) with the
trained model, writes a COCO results file (--output, default
WORKDIR/captions_<split>_<method>.json) and prints captions per second.
Each config's docstring gives its command and the result to expect. Any
field can be overridden with --config.FIELD=VALUE; an unknown field is an
error.

A run of several processes (hosts) starts the same command in each, with
--coordinator_address=HOST:PORT --num_processes=N --process_id=I (not needed
under SLURM, on GKE TPU slices, or with MMCAP_MULTIHOST=1 on TPU VM slices:
launch/tpu_vm.sh); docs/SCALING.md says how batches and data are shared.
"""

import signal

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from mmcap import caption
from mmcap import errors
from mmcap import train
from mmcap.core import distributed

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints, logs and results.'
)
_MODE = flags.DEFINE_enum(
    'mode', 'train', ['train', 'evaluate', 'caption'], 'What to do with the workdir.'
)
_SPLIT = flags.DEFINE_string('split', None, 'caption: the split to caption.')
_FEATURES = flags.DEFINE_string(
    'features', None,
    'caption: new inputs to caption instead: a features file (images) or a'
    ' directory of <video>.npy files (videos).',
)
_OUTPUT = flags.DEFINE_string('output', None, 'caption: the results file.')
_COORDINATOR_ADDRESS = flags.DEFINE_string(
    'coordinator_address', None,
    "Multi-process runs: process 0's HOST:PORT, the same in every process.",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Multi-process runs: how many processes (hosts).'
)
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, "Multi-process runs: this process's index, 0 to N-1."
)
_INITIALIZATION_TIMEOUT = flags.DEFINE_integer(
    'initialization_timeout', 300,
    'Multi-process runs: seconds to wait for every process to start.',
)
config_flags.DEFINE_config_file(
    'config', None, 'A configs/*.py file with get_config().', lock_config=True
)
flags.mark_flags_as_required(['config', 'workdir'])


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise errors.InputError(f'unexpected arguments: {argv[1:]}')
  if not _WORKDIR.value.strip():
    raise errors.InputError('--workdir is empty: expected a directory path')
  unused = [f'--{f.name}' for f in (_SPLIT, _FEATURES, _OUTPUT) if flags.FLAGS[f.name].present]
  if _MODE.value != 'caption' and unused:
    raise errors.InputError(
        f'{", ".join(unused)}: used by --mode=caption only, not --mode={_MODE.value}'
    )
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
    errors.quiet_library_failures()
  distributed.initialize(
      _COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
      _INITIALIZATION_TIMEOUT.value,
  )
  if jax.process_count() > 1 and _MODE.value != 'train':
    # JAX's preemption notifier took SIGTERM; only training acts on it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
  print(
      f'JAX {jax.__version__}: process {jax.process_index()} of'
      f' {jax.process_count()}, devices {jax.devices()}'
  )
  if _MODE.value == 'train':
    train.train_and_evaluate(flags.FLAGS.config, _WORKDIR.value)
  elif _MODE.value == 'evaluate':
    train.evaluate_workdir(flags.FLAGS.config, _WORKDIR.value)
  else:
    caption.caption(
        flags.FLAGS.config,
        _WORKDIR.value,
        _SPLIT.value,
        _FEATURES.value,
        _OUTPUT.value,
    )


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
