r"""LRCN-2f on the built-in demo dataset: about a minute on 2 CPU cores.

  python -m mmcap.main --config=configs/demo.py --workdir=runs/demo

Generates 3,000 training scenes (objects, colours, counts, spatial relations)
with 5 captions each, trains a small LRCN-2f (embedding 64, LSTMs 128) with
Adam for 1,500 steps of 64 captions and evaluates on 300 test scenes. Every
model trains on it: add --config.model.variant=1u or 2u, or
--config.model.name=mrnn or rnn_base (m-RNN: embedding 64 -> 128, multimodal
128), with a new --workdir.

Result to expect (seed 0, CPU), test perplexity / BLEU-4 / CIDEr-D:
  LRCN-2f 1.24 / 0.83 / 6.24    LRCN-1u 1.24 / 0.84 / 6.35
  LRCN-2u 1.23 / 0.83 / 6.31    m-RNN   1.26 / 0.82 / 6.22
  RNN-Base (no image) 3.52 / 0.25 / 0.31: one caption for every image
  most frequent training caption: - / 0.08 / 0.28
"""

import ml_collections

from mmcap.tasks.captioning.config import default_config


def get_config() -> ml_collections.ConfigDict:
  config = default_config()
  config.dataset.source = 'demo'
  config.dataset.train_splits = 'train'
  config.model.embed_dim = 64
  config.model.hidden_dim = 128
  config.model.multimodal_dim = 128
  config.model.dropout = 0.1
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 3e-3
  config.optimizer.lr_decay_steps = 500
  config.batch_size = 64
  config.eval_batch_size = 128
  config.num_train_steps = 1500
  config.checkpoint_every_steps = 500
  config.evals.val_perplexity.every_steps = 500
  return config
