"""Captioning models, chosen by `config.model.name`: 'lrcn' (variant 1u, 2u
or 2f), 'mrnn', 'rnn_base' (m-RNN without the image) or 's2vt' (video
frames, then words). Each is a Flax module of one `ModelConfig` and follows
the `Captioner` protocol; all but S2VT the `FactoredCaptioner` one."""

import ml_collections

from mmcap.models.captioner import Captioner, ModelConfig
from mmcap.models.lrcn import LRCN
from mmcap.models.mrnn import MRNN
from mmcap.models.s2vt import S2VT

_CLASSES = {'lrcn': LRCN, 'mrnn': MRNN, 'rnn_base': MRNN, 's2vt': S2VT}


def build(config: ml_collections.ConfigDict, vocab_size: int) -> Captioner:
  """The captioner named by `config.name` (config: `config.model`)."""
  model_config = ModelConfig(vocab_size=vocab_size, **config.to_dict())
  return _CLASSES[model_config.name](model_config)
