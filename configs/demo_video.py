r"""S2VT video description on the built-in demo videos: about a minute on 2
CPU cores.

  python -m mmcap.main --config=configs/demo_video.py --workdir=runs/demo_video

Generates 1,200 training videos of an object that does two things in turn
(mmcap/data/demo_video_captions.py), with 5 captions each that name the two
actions in the order they happen ("a red ball jumps and then spins"), and
trains a small S2VT (frames and words embedded to 32, LSTMs of 64) with Adam
for 1,500 steps of 64 captions. The mean-pool model, LRCN-2f on the frames'
mean, which cannot see the order:

  python -m mmcap.main --config=configs/demo_video.py --workdir=runs/demo_video_mp \
      --config.model.name=lrcn --config.dataset.video_input=mean_pool \
      --config.dataset.max_frames=0

Result to expect (seed 0, CPU), 200 test videos, perplexity / BLEU-4 /
CIDEr-D (Python tokenizer, no METEOR):
  S2VT                     1.21 / 1.00 / 5.19
  mean pool (LRCN-2f)      1.32 / 0.75 / 4.11
  most frequent training caption: - / 0.23 / 0.99
"""

import ml_collections

from mmcap.tasks.video.config import default_config


def get_config() -> ml_collections.ConfigDict:
  config = default_config()
  config.dataset.source = 'demo'
  config.dataset.max_steps = 12
  config.dataset.max_frames = 16  # the demo's videos have 6 to 16 frames
  config.dataset.shuffle_buffer = 1000
  config.model.embed_dim = 32
  config.model.hidden_dim = 64
  config.loss_weight = 1.0
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 3e-3
  config.optimizer.lr_decay_steps = 500
  config.batch_size = 64
  config.eval_batch_size = 100
  config.num_train_steps = 1500
  config.checkpoint_every_steps = 500
  config.evals.val_perplexity.every_steps = 500
  config.evals.test_captions.java = False
  return config
