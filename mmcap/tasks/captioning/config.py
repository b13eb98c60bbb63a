"""Every captioning config field with its default, and the two papers'
recipes: `lrcn_config()`, the reference Caffe solver of LRCN, and
`mrnn_config()`, m-RNN at the paper's sizes. Files in configs/ start from one
of them and override."""

import ml_collections

from mmcap import decode
from mmcap.core.config import base_config
from mmcap.core.evals import evaluator
from mmcap.models import captioner


def default_config() -> ml_collections.ConfigDict:
  """Every field: LRCN-2f on a prepared COCO dataset with the reference nets'
  sizes and solver, but a loss weight of 1 and no per-parameter multipliers
  (lrcn_config() adds them)."""
  config = base_config()
  config.task = 'captioning'

  config.dataset = ml_collections.ConfigDict()
  # 'prepared': a directory written by `python -m mmcap.prepare` (dataset.dir);
  # 'demo': the built-in demo set, generated into WORKDIR/demo_data.
  config.dataset.source = 'prepared'
  config.dataset.dir = ml_collections.config_dict.placeholder(str)
  config.dataset.train_splits = 'train,restval'  # comma-separated
  config.dataset.max_steps = 20  # time steps: <= 19 words + <eos>
  config.dataset.shuffle_buffer = 20_000  # captions
  # False: every process reads every shard, and the batches do not depend on
  # the number of processes; True: each reads its own (data/order.py).
  config.dataset.per_process_shards = False
  config.dataset.demo = ml_collections.ConfigDict()
  config.dataset.demo.seed = 0
  config.dataset.demo.feature_dim = 128
  config.dataset.demo.noise = 0.3
  config.dataset.demo.num_train_images = 3000
  config.dataset.demo.num_val_images = 300
  config.dataset.demo.num_test_images = 300

  # The fields of mmcap.models.ModelConfig, LRCN-2f at the reference sizes
  # (name: 'lrcn', 'mrnn' or 'rnn_base'; variant: LRCN's '1u', '2u' or '2f').
  config.model = captioner.default_config()

  # 'token': summed NLL over the number of target tokens (LRCN's Caffe loss;
  # m-RNN's cost, the average log-likelihood of the words); 'sentence': over
  # the number of sentences (a variant).
  config.loss_normalization = 'token'

  config.decode = decode.default_config()

  # Perplexity per word and per sentence; on val also during training, where
  # the best value keeps a checkpoint (best_metric).
  config.evals.val_perplexity = evaluator('perplexity', 'val', every_steps=5000)
  config.evals.test_perplexity = evaluator('perplexity', 'test')
  # Captions by config.decode, written to captions_<split>.json, with the
  # coco-caption metrics beside the most frequent training caption's.
  # java: the coco-caption Java tools (PTBTokenizer, METEOR) where Java is
  # installed; False: the Python PTB tokenizer and no METEOR (~10 s faster).
  # nearest_neighbour_baseline: also the caption of the nearest training
  # image in feature space. num_samples: captions printed. max_images: the
  # first N images of the split only (0: all).
  config.evals.test_captions = evaluator(
      'captions', 'test', java=True, nearest_neighbour_baseline=False,
      num_samples=5, max_images=0,
  )
  # The same on a few validation images during training, off by default.
  config.evals.val_captions = evaluator(
      'captions', 'val', enabled=False, every_steps=5000, java=False,
      nearest_neighbour_baseline=False, num_samples=0, max_images=500,
  )
  # Image-sentence retrieval by likelihood, in blocks of images x sentences.
  config.evals.test_retrieval = evaluator(
      'retrieval', 'test', enabled=False, images_per_block=32, sentences_per_block=256
  )
  config.best_metric = 'val/perplexity'
  return config


def lrcn_config() -> ml_collections.ConfigDict:
  """LRCN-2f with the reference Caffe solver (examples/coco_caption of the
  LRCN authors' Caffe): the cross-entropy's loss_weight 20 under lr 0.01 and
  clipping at 10, and the output layer's bias at twice the learning rate and
  without weight decay (lr_mult 2, decay_mult 0)."""
  config = default_config()
  config.loss_weight = 20.0
  config.optimizer.param_multipliers = (('^output/.*/bias$', 2.0, 0.0),)
  # Fully unrolled recurrence: 11% faster on an H100 (benchmarks/RESULTS.md).
  config.model.unroll = 20
  return config


def mrnn_config() -> ml_collections.ConfigDict:
  """m-RNN at the paper's sizes, with its cost (the NLL per word) plus L2,
  and dropout on m(t).

  The sizes and the cost are the paper's. Its optimizer settings are not in
  the sources mmcap follows: SGD with momentum, the learning rate, its decay,
  the L2 weight and the step count below are mmcap's estimates. The learning
  rate was chosen on the real Flickr8k captions (random 4096-d features, 3,000
  steps of 100 captions, dropout 0.5): validation perplexity 148.6 at 0.002,
  71.7 at 0.02 (still falling), 73.5 at 0.1 (best at 2,000 steps, then
  overfitting). Without dropout, 0.02 stops at 97.6 while the training
  perplexity falls to 22.2.
  """
  config = default_config()
  config.model.name = 'mrnn'  # 'rnn_base' for the language-only baseline
  config.model.embed_dim = 128
  config.model.hidden_dim = 256
  config.model.multimodal_dim = 512
  config.model.dropout = 0.5
  config.optimizer.learning_rate = 0.02
  config.optimizer.weight_decay = 1e-4
  config.num_train_steps = 100_000
  config.dataset.train_splits = 'train'
  return config
