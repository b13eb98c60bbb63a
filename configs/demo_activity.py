r"""LRCN activity recognition on the built-in demo videos: minutes on 2 CPU cores.

  python -m mmcap.main --config=configs/demo_activity.py --workdir=runs/demo_activity

Generates 900 training videos of objects moving left, right or staying
still on a track (15 classes; mmcap/data/demo_videos.py), with RGB and flow
per-frame features, and trains LRCN (64-d frame features -> LSTM 64) with
Adam on 16-frame clips. The single-frame baseline, the flow stream and late
fusion:

  python -m mmcap.main --config=configs/demo_activity.py \
      --workdir=runs/demo_activity_sf --config.model.name=single_frame
  python -m mmcap.main --config=configs/demo_activity.py \
      --workdir=runs/demo_activity_flow --config.dataset.stream=flow
  python -m mmcap.fuse --rgb_workdir=runs/demo_activity \
      --flow_workdir=runs/demo_activity_flow --output=runs/fused.json

Result to expect (seed 0, CPU), test video accuracy (%) of 300 videos:
  single frame  RGB 41.3  flow 44.7  fused (p = 1/2) 91.0  (p = 1/3) 91.7
  LRCN          RGB 97.3  flow 67.0  fused (p = 1/2) 98.0  (p = 1/3) 97.0
LRCN far above the single frame on RGB, where the classes of one object
differ only in the order of the frames.
"""

import ml_collections

from mmcap.core import evals
from mmcap.tasks.activity.config import default_config


def get_config() -> ml_collections.ConfigDict:
  config = default_config()
  config.dataset.source = 'demo'
  config.model.hidden_dim = 64
  config.model.input_dropout = 0.3
  config.model.output_dropout = 0.3
  config.model.init_scale = 0.08
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 3e-3
  config.optimizer.lr_decay_factor = 0.5
  config.optimizer.lr_decay_steps = 500
  config.optimizer.weight_decay = 0.0
  config.optimizer.param_multipliers = ()
  config.evals.val_accuracy = evals.evaluator('accuracy', 'val', every_steps=250)
  config.best_metric = 'val/accuracy'
  config.num_train_steps = 1500
  config.checkpoint_every_steps = 500
  return config
