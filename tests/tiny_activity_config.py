"""The tests' tiny activity config as a config file, for command-line tests:
--config=tests/tiny_activity_config.py."""

from mmcap.core import evals
from mmcap.tasks.activity.config import default_config


def get_config():
  config = default_config()
  config.dataset.source = 'demo'
  config.dataset.demo.feature_dim = 16
  config.dataset.demo.num_train_videos = 120
  config.dataset.demo.num_val_videos = 30
  config.dataset.demo.num_test_videos = 45
  config.dataset.shuffle_buffer = 50
  config.model.hidden_dim = 16
  config.model.unroll = 1  # compiles 3x faster on CPU; same numbers (test_models)
  config.model.input_dropout = config.model.output_dropout = 0.1
  config.model.init_scale = 0.08
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-2
  config.optimizer.param_multipliers = ()
  config.evals.val_accuracy = evals.evaluator('accuracy', 'val', every_steps=2)
  config.best_metric = 'val/accuracy'
  config.batch_size, config.eval_batch_size = 8, 16
  config.num_train_steps, config.log_every_steps, config.checkpoint_every_steps = 4, 2, 2
  return config
