"""The config fields the core reads, shared by every task, and the ranges of
every numeric field. A task's defaults (mmcap/tasks/*/config.py) start from
`base_config()` and add their own."""

import fnmatch
from collections.abc import Iterator

import ml_collections

from mmcap.errors import InputError


def base_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.task = ml_collections.config_dict.placeholder(str)  # e.g. 'captioning'
  config.seed = 0

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'sgd'  # or 'adam'
  config.optimizer.learning_rate = 0.01
  config.optimizer.momentum = 0.9
  config.optimizer.lr_decay_factor = 0.5
  config.optimizer.lr_decay_steps = 20_000
  config.optimizer.grad_clip_norm = 10.0  # global L2 norm; 0: no clipping
  # Adds weight_decay * theta to the gradient: an L2 term (weight_decay / 2)
  # * ||theta||^2 in the cost.
  config.optimizer.weight_decay = 0.0
  # Caffe's per-parameter lr_mult and decay_mult: (regex, lr_mult, decay_mult)
  # entries matched against parameter paths, e.g. 'output/Dense_0/bias'.
  config.optimizer.param_multipliers = ()
  # Scales the loss, hence the gradient, before clipping (Caffe's
  # loss_weight); the loss logged stays unweighted.
  config.loss_weight = 1.0

  # Evaluators, by name, and the metric whose best value during training
  # keeps a checkpoint in WORKDIR/best/ ('' for none): see mmcap/core/evals.py.
  config.evals = ml_collections.ConfigDict()
  config.best_metric = ''

  config.batch_size = 100  # global, over all devices and processes
  config.eval_batch_size = 500
  config.num_train_steps = 110_000
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config


# What a numeric field must be, wherever a config has it ('*' stands for any
# one name): checked by `validate` before a run builds or writes anything.
_POSITIVE = ('a positive number', lambda v: v > 0)
_AT_LEAST_0 = ('a number >= 0', lambda v: v >= 0)
_RATE = ('a rate in [0, 1)', lambda v: 0 <= v < 1)
_RULES = {
    'batch_size': _POSITIVE,
    'eval_batch_size': _POSITIVE,
    'seed': _AT_LEAST_0,
    'num_train_steps': _POSITIVE,
    'log_every_steps': _POSITIVE,
    'checkpoint_every_steps': _POSITIVE,
    'loss_weight': _POSITIVE,
    'optimizer.learning_rate': _POSITIVE,
    'optimizer.lr_decay_factor': _POSITIVE,
    'optimizer.lr_decay_steps': _POSITIVE,
    'optimizer.grad_clip_norm': ('a norm > 0, or 0 for no clipping', lambda v: v >= 0),
    'optimizer.weight_decay': _AT_LEAST_0,
    'optimizer.momentum': _RATE,
    'model.*_dim': _POSITIVE,
    'model.*dropout': _RATE,
    'model.init_scale': _POSITIVE,
    'model.unroll': _POSITIVE,
    'model.vocab_multiple': _POSITIVE,
    'dataset.max_steps': ('at least 2 (a word and <eos>)', lambda v: v >= 2),
    'dataset.shuffle_buffer': _POSITIVE,
    'dataset.clip_length': _POSITIVE,
    'dataset.eval_stride': _POSITIVE,
    'dataset.frame_stride': _POSITIVE,
    'dataset.max_frames': ('a number of frames, or 0 for all', lambda v: v >= 0),
    'dataset.demo.*_dim': _POSITIVE,
    'dataset.demo.num_train_*': _POSITIVE,
    'dataset.demo.num_*': _AT_LEAST_0,
    'dataset.demo.*noise': _AT_LEAST_0,
    'decode.beam_size': _POSITIVE,
    'decode.temperature': _POSITIVE,
    'evals.*.every_steps': ('0 (only at the end) or a positive number of steps', lambda v: v >= 0),
    'evals.*.num_samples': _AT_LEAST_0,
    'evals.*.max_images': ('a number, or 0 for all', lambda v: v >= 0),
    'evals.*.*_per_block': _POSITIVE,
}


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises InputError naming the first numeric field outside its range
  (see _RULES): one line, before any work, instead of an error deep in
  training or a run that silently does nothing."""
  for path, value in _numeric_fields(config.to_dict()):
    for pattern, (expected, holds) in _RULES.items():
      if fnmatch.fnmatchcase(path, pattern) and pattern.count('.') == path.count('.'):
        if not holds(value):
          raise InputError(f'--config.{path}={value}: expected {expected}')
        break


def _numeric_fields(tree: dict, prefix: str = '') -> Iterator[tuple[str, float]]:
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _numeric_fields(value, f'{prefix}{key}.')
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      yield f'{prefix}{key}', value
