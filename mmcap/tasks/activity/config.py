"""Every activity recognition config field with its default: LRCN on the RGB
stream of UCF101 with the reference solver (examples/LRCN_activity_recognition
of the LRCN authors' Caffe, lstm_solver_RGB.prototxt), and the variants the
configs in configs/ pick: `flow()` for the flow stream's solver,
`single_frame()` for the single-frame baseline's."""

import ml_collections

from mmcap.core.config import base_config
from mmcap.core.evals import evaluator


def default_config() -> ml_collections.ConfigDict:
  """LRCN (fc6 -> LSTM 256) on a prepared RGB stream, the reference solver."""
  config = base_config()
  config.task = 'activity'

  config.dataset = ml_collections.ConfigDict()
  # 'prepared': a directory written by `python -m mmcap.prepare_videos`
  # (dataset.dir); 'demo': the built-in demo videos, generated into
  # WORKDIR/demo_data.
  config.dataset.source = 'prepared'
  config.dataset.dir = ml_collections.config_dict.placeholder(str)
  config.dataset.stream = 'rgb'  # or 'flow'; must be the prepared directory's
  config.dataset.train_splits = 'train'
  config.dataset.clip_length = 16  # frames per clip
  config.dataset.eval_stride = 8  # evaluation clips start every 8 frames
  config.dataset.shuffle_buffer = 1000  # clips
  # False: every process reads every shard, and the batches do not depend on
  # the number of processes; True: each reads its own (data/order.py).
  config.dataset.per_process_shards = False
  config.dataset.demo = ml_collections.ConfigDict()
  config.dataset.demo.seed = 0
  config.dataset.demo.feature_dim = 64
  config.dataset.demo.noise = 0.5
  config.dataset.demo.motion_noise = 0.02
  config.dataset.demo.num_train_videos = 900
  config.dataset.demo.num_val_videos = 150
  config.dataset.demo.num_test_videos = 300

  # The fields of mmcap.models.activity.ActivityConfig.
  config.model = ml_collections.ConfigDict()
  config.model.name = 'lrcn'  # or 'single_frame'
  config.model.hidden_dim = 256  # LSTM; single_frame: hidden layer (0: none)
  config.model.input_dropout = 0.9
  config.model.output_dropout = 0.5
  config.model.init_scale = 0.01
  config.model.dtype = 'float32'
  # The LSTM fully unrolled over a clip: 27% faster on an H100 (RESULTS.md).
  config.model.unroll = 16

  config.optimizer.learning_rate = 1e-3
  config.optimizer.lr_decay_factor = 0.1
  config.optimizer.lr_decay_steps = 10_000
  config.optimizer.grad_clip_norm = 5.0
  config.optimizer.weight_decay = 5e-3
  # The classifier (fc8-final) learns 10x faster, its bias 20x without decay.
  config.optimizer.param_multipliers = (
      ('^classifier/kernel$', 10.0, 1.0), ('^classifier/bias$', 20.0, 0.0))

  # Video accuracy (clip-averaged), clip accuracy, mean class accuracy; a
  # confusion matrix and the videos' class probabilities (for mmcap.fuse).
  config.evals.test_accuracy = evaluator('accuracy', 'test')
  config.batch_size = 24  # clips of clip_length frames
  config.eval_batch_size = 96  # clips
  config.num_train_steps = 30_000
  config.checkpoint_every_steps = 5000
  return config


def flow(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The flow stream's solver (lstm_solver_flow.prototxt): lr steps every
  20k of 70k iterations, clipping at 15."""
  config.dataset.stream = 'flow'
  config.optimizer.lr_decay_steps = 20_000
  config.optimizer.grad_clip_norm = 15.0
  config.num_train_steps = 70_000
  return config


def single_frame(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The single-frame baseline (singleFrame_solver_RGB.prototxt): fc6 ->
  fc7 (4096) -> classifier on single frames, batches of 128 frames, lr steps
  every 3k of 5k iterations, no clipping."""
  config.model.name = 'single_frame'
  config.model.hidden_dim = 4096
  config.model.input_dropout = 0.5
  config.dataset.clip_length = 1
  config.dataset.eval_stride = 1  # every frame, once
  config.batch_size = 128
  config.eval_batch_size = 2048
  config.optimizer.lr_decay_steps = 3000
  config.optimizer.grad_clip_norm = 0.0  # none
  config.num_train_steps = 5000
  return config
