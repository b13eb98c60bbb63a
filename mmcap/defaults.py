"""Every config field with its default: the LRCN-2f COCO setup of the reference
Caffe nets. Files in configs/ start from `default_config()` and override."""

import ml_collections


def default_config() -> ml_collections.ConfigDict:
  """LRCN-2f on a prepared COCO dataset with the reference hyperparameters."""
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.dataset = ml_collections.ConfigDict()
  # 'prepared': a directory written by `python -m mmcap.prepare` (dataset.dir);
  # 'demo': the built-in demo set, generated into WORKDIR/demo_data.
  config.dataset.source = 'prepared'
  config.dataset.dir = ml_collections.config_dict.placeholder(str)
  config.dataset.train_splits = 'train,restval'  # comma-separated
  config.dataset.eval_splits = 'val,test'  # captions and metrics on the last
  config.dataset.max_steps = 20  # time steps: <= 19 words + <eos>
  config.dataset.shuffle_buffer = 20_000  # captions
  config.dataset.demo = ml_collections.ConfigDict()
  config.dataset.demo.seed = 0
  config.dataset.demo.feature_dim = 128
  config.dataset.demo.noise = 0.3
  config.dataset.demo.num_train_images = 3000
  config.dataset.demo.num_val_images = 300
  config.dataset.demo.num_test_images = 300

  config.model = ml_collections.ConfigDict()
  config.model.name = 'lrcn'
  config.model.variant = '2f'  # '1u', '2u' or '2f'
  config.model.embed_dim = 1000
  config.model.hidden_dim = 1000
  config.model.feature_dropout = 0.5
  config.model.init_scale = 0.08  # U(-0.08, 0.08) weights
  config.model.vocab_multiple = 128  # logits padded to this multiple, masked
  config.model.dtype = 'float32'  # or 'bfloat16' compute, float32 params
  config.model.unroll = 1  # lax.scan unroll

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'sgd'  # or 'adam'
  config.optimizer.learning_rate = 0.01
  config.optimizer.momentum = 0.9
  config.optimizer.lr_decay_factor = 0.5
  config.optimizer.lr_decay_steps = 20_000
  config.optimizer.grad_clip_norm = 10.0
  config.optimizer.weight_decay = 0.0

  config.batch_size = 100  # captions, global
  config.eval_batch_size = 500
  config.num_train_steps = 110_000
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  config.num_sample_captions = 5
  return config
