"""Captioning models, chosen by `config.model.name`: 'lrcn' (variant 1u, 2u
or 2f), 'mrnn', or 'rnn_base' (m-RNN without the image). Each is a Flax
module of one `ModelConfig` and follows the `Captioner` protocol."""

import ml_collections

from mmcap.models.captioner import Captioner, ModelConfig
from mmcap.models.lrcn import LRCN
from mmcap.models.mrnn import MRNN


def build(config: ml_collections.ConfigDict, vocab_size: int) -> Captioner:
  """The captioner named by `config.name` (config: `config.model`)."""
  model_config = ModelConfig(vocab_size=vocab_size, **config.to_dict())
  return (LRCN if model_config.name == 'lrcn' else MRNN)(model_config)
