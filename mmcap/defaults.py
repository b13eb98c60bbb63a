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
  config.model.name = 'lrcn'  # 'lrcn', 'mrnn' or 'rnn_base'
  config.model.variant = '2f'  # LRCN: '1u', '2u' or '2f'
  config.model.embed_dim = 1000  # m-RNN: word embedding I
  config.model.hidden_dim = 1000  # m-RNN: word embedding II = recurrent layer
  config.model.multimodal_dim = 512  # m-RNN only
  config.model.feature_dropout = 0.5
  config.model.init_scale = 0.08  # U(-0.08, 0.08) weights
  config.model.vocab_multiple = 128  # logits padded to this multiple, masked
  config.model.dtype = 'float32'  # or 'bfloat16' compute, float32 params
  config.model.unroll = 1  # lax.scan unroll

  # 'token': mean NLL per target token (LRCN's Caffe loss); 'sentence': NLL
  # summed over each sentence, averaged over sentences (m-RNN's cost).
  config.loss_normalization = 'token'

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = 'sgd'  # or 'adam'
  config.optimizer.learning_rate = 0.01
  config.optimizer.momentum = 0.9
  config.optimizer.lr_decay_factor = 0.5
  config.optimizer.lr_decay_steps = 20_000
  config.optimizer.grad_clip_norm = 10.0
  # Adds weight_decay * theta to the gradient: an L2 term (weight_decay / 2)
  # * ||theta||^2 in the cost.
  config.optimizer.weight_decay = 0.0

  config.decode = ml_collections.ConfigDict()
  config.decode.method = 'greedy'  # 'greedy', 'sample' or 'beam'
  config.decode.beam_size = 3
  config.decode.length_alpha = 0.0  # beam ranking: log P / length**alpha
  config.decode.temperature = 1.0  # sampling
  config.decode.seed = 0  # sampling

  config.evaluation = ml_collections.ConfigDict()
  # The coco-caption Java tools (PTBTokenizer, METEOR) where Java is
  # installed; False: the Python PTB tokenizer and no METEOR (~10 s faster).
  config.evaluation.java = True
  # Image-sentence retrieval by likelihood on the last eval split.
  config.evaluation.retrieval = False
  config.evaluation.retrieval_images_per_block = 32
  config.evaluation.retrieval_sentences_per_block = 256
  # The caption of the nearest training image in feature space, as a baseline.
  config.evaluation.nearest_neighbour_baseline = False

  config.batch_size = 100  # captions, global
  config.eval_batch_size = 500
  config.num_train_steps = 110_000
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  config.num_sample_captions = 5
  return config


def mrnn_config() -> ml_collections.ConfigDict:
  """m-RNN at the paper's sizes, with its per-sentence cost plus L2.

  The sizes and the cost are the paper's. Its optimizer settings are not in
  the sources mmcap follows: SGD with momentum, the learning rate, its decay,
  the L2 weight and the step count below are mmcap's estimates.
  """
  config = default_config()
  config.model.name = 'mrnn'  # 'rnn_base' for the language-only baseline
  config.model.embed_dim = 128
  config.model.hidden_dim = 256
  config.model.multimodal_dim = 512
  config.model.feature_dropout = 0.0
  config.loss_normalization = 'sentence'
  config.optimizer.learning_rate = 0.002
  config.optimizer.weight_decay = 1e-4
  config.num_train_steps = 100_000
  config.dataset.train_splits = 'train'
  return config
