"""The config fields the core reads, shared by every task. A task's defaults
(mmcap/tasks/*/config.py) start from `base_config()` and add their own."""

import ml_collections


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
