r"""Trains and evaluates a captioning model from a config file.

  python -m mmcap.main --config=configs/demo.py --workdir=runs/demo
  python -m mmcap.main --config=configs/lrcn_coco.py --workdir=runs/coco \
      --config.dataset.dir=data/coco --config.batch_size=256

Each config's docstring gives its command and the result to expect. Any field
can be overridden with --config.FIELD=VALUE; an unknown field is an error. A
workdir that holds a checkpoint is resumed from it. The final metrics are
written to WORKDIR/results.json.
"""

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from mmcap import errors
from mmcap import train

_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints, logs and results.'
)
config_flags.DEFINE_config_file(
    'config', None, 'A configs/*.py file with get_config().', lock_config=True
)
flags.mark_flags_as_required(['config', 'workdir'])


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise errors.InputError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  print(
      f'JAX {jax.__version__}: process {jax.process_index()} of'
      f' {jax.process_count()}, devices {jax.devices()}'
  )
  train.train_and_evaluate(flags.FLAGS.config, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
