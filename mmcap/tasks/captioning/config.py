"""Every captioning config field with its default: the LRCN-2f COCO setup of
the reference Caffe nets. Files in configs/ start from `default_config()` (or
`mrnn_config()`) and override."""

import ml_collections

from mmcap.core.config import base_config
from mmcap.core.evals import evaluator


def default_config() -> ml_collections.ConfigDict:
  """LRCN-2f on a prepared COCO dataset with the reference hyperparameters."""
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
  config.dataset.demo = ml_collections.ConfigDict()
  config.dataset.demo.seed = 0
  config.dataset.demo.feature_dim = 128
  config.dataset.demo.noise = 0.3
  config.dataset.demo.num_train_images = 3000
  config.dataset.demo.num_val_images = 300
  config.dataset.demo.num_test_images = 300

  # The fields of mmcap.models.ModelConfig.
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

  config.decode = ml_collections.ConfigDict()
  config.decode.method = 'greedy'  # 'greedy', 'sample' or 'beam'
  config.decode.beam_size = 3
  config.decode.length_alpha = 0.0  # beam ranking: log P / length**alpha
  config.decode.temperature = 1.0  # sampling
  config.decode.seed = 0  # sampling

  # Perplexity per word and per sentence.
  config.evals.val_perplexity = evaluator('perplexity', 'val')
  config.evals.test_perplexity = evaluator('perplexity', 'test')
  # Captions by config.decode, written to captions_<split>.json, with the
  # coco-caption metrics beside the most frequent training caption's.
  # java: the coco-caption Java tools (PTBTokenizer, METEOR) where Java is
  # installed; False: the Python PTB tokenizer and no METEOR (~10 s faster).
  # nearest_neighbour_baseline: also the caption of the nearest training
  # image in feature space. num_samples: captions printed.
  config.evals.test_captions = evaluator(
      'captions', 'test', java=True, nearest_neighbour_baseline=False, num_samples=5
  )
  # Image-sentence retrieval by likelihood, in blocks of images x sentences.
  config.evals.test_retrieval = evaluator(
      'retrieval', 'test', enabled=False, images_per_block=32, sentences_per_block=256
  )
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
