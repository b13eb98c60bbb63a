"""Every video description config field with its default: S2VT on a
prepared MSVD dataset with the reference solver (examples/s2vt of the S2VT
authors' Caffe, s2vt_solver.prototxt), and `mean_pool()`, the mean-pool
variant (LSTM-YT) that feeds the frames' mean to an image captioner."""

import ml_collections

from mmcap import decode
from mmcap.core.config import base_config
from mmcap.core.evals import evaluator
from mmcap.data import demo_video_captions
from mmcap.models import captioner


def default_config() -> ml_collections.ConfigDict:
  """S2VT: frames embedded to 500, two LSTMs of 1000, words embedded to 500;
  SGD 0.01 halved every 20k of 25k steps, clipping 10, loss weight 20,
  batches of 32 captions."""
  config = base_config()
  config.task = 'video'

  config.dataset = ml_collections.ConfigDict()
  # 'prepared': a directory written by `python -m mmcap.prepare_video_captions`
  # (dataset.dir); 'demo': the built-in demo videos, generated into
  # WORKDIR/demo_data.
  config.dataset.source = 'prepared'
  config.dataset.dir = ml_collections.config_dict.placeholder(str)
  config.dataset.train_splits = 'train'  # comma-separated
  config.dataset.max_steps = 20  # sentence steps: <= 19 words + <eos>
  # What the captioner reads of each video (data/video_captions.py): 'frames'
  # (S2VT), 'mean_pool' (their mean) or 'semantic' (its one stored vector).
  config.dataset.video_input = 'frames'
  # Every frame_stride-th stored frame, at most max_frames of them (the
  # earliest; 0: all, when pooling). The reference's streams are 80 steps:
  # frames, then the sentence.
  config.dataset.frame_stride = 1
  config.dataset.max_frames = 60
  config.dataset.shuffle_buffer = 20_000  # captions
  # False: every process reads every shard, and the batches do not depend on
  # the number of processes; True: each reads its own (data/order.py).
  config.dataset.per_process_shards = False
  config.dataset.demo = demo_video_captions.default_settings()

  # The fields of mmcap.models.ModelConfig: S2VT at the reference sizes.
  config.model = captioner.default_config()
  config.model.name = 's2vt'  # or 'lrcn', 'mrnn', 'rnn_base' on a static input
  config.model.embed_dim = 500
  config.model.hidden_dim = 1000
  config.model.dropout = 0.0  # the reference's dropout stage is off for MSVD

  config.loss_normalization = 'token'  # or 'sentence' (see captioning)
  config.loss_weight = 20.0  # the prototxt's loss_weight: 20
  config.optimizer.learning_rate = 0.01
  config.optimizer.lr_decay_factor = 0.5
  config.optimizer.lr_decay_steps = 20_000
  config.optimizer.grad_clip_norm = 10.0
  config.decode = decode.default_config()

  # Perplexity per word and per sentence, and captions by config.decode with
  # the coco-caption metrics (options as in captioning, config.py there).
  config.evals.val_perplexity = evaluator('perplexity', 'val', every_steps=5000)
  config.evals.test_perplexity = evaluator('perplexity', 'test')
  config.evals.test_captions = evaluator(
      'captions', 'test', java=True, num_samples=5, max_images=0,
  )
  config.best_metric = 'val/perplexity'
  config.batch_size = 32
  config.eval_batch_size = 500
  config.num_train_steps = 25_000
  return config


def mean_pool(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The mean-pool model (LSTM-YT, Venugopalan et al., NAACL 2015): the mean
  of every frame's feature as the static input of LRCN-2f (LSTMs of 1000),
  the same solver for 60k steps, batches of 100 captions."""
  config.dataset.video_input = 'mean_pool'
  config.dataset.max_frames = 0  # every frame
  config.model.name = 'lrcn'
  config.model.variant = '2f'
  config.model.embed_dim = 1000
  # On the features, as in LRCN's image captioner; the pool-mean net's own
  # dropout is not in the sources mmcap follows.
  config.model.dropout = 0.5
  config.batch_size = 100
  config.num_train_steps = 60_000
  return config
