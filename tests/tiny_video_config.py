"""The tests' tiny video description config (S2VT on a small demo set), as a
config file for command-line tests: --config=tests/tiny_video_config.py."""

from mmcap.tasks.video.config import default_config


def get_config():
  config = default_config()
  config.dataset.source = 'demo'
  config.dataset.max_steps = 12
  config.dataset.max_frames = 16
  config.dataset.shuffle_buffer = 100
  config.dataset.demo.feature_dim = 8
  config.dataset.demo.num_train_videos = 40
  config.dataset.demo.num_val_videos = 6
  config.dataset.demo.num_test_videos = 10
  config.model.embed_dim, config.model.hidden_dim = 8, 16
  config.loss_weight = 1.0
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-2
  config.batch_size, config.eval_batch_size = 8, 8
  config.num_train_steps, config.log_every_steps, config.checkpoint_every_steps = 4, 2, 2
  config.evals.val_perplexity.every_steps = 2
  config.evals.test_captions.java = False
  config.evals.test_captions.num_samples = 2
  return config
