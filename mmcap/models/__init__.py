"""Models, chosen by `config.model.name`: 'lrcn' (variant 1u, 2u or 2f),
'mrnn', or 'rnn_base' (m-RNN without the image)."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from mmcap.errors import InputError
from mmcap.models import lrcn
from mmcap.models import mrnn

NAMES = ('lrcn', 'mrnn', 'rnn_base')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def build(config: ml_collections.ConfigDict, vocab_size: int) -> nn.Module:
  """The captioner named by `config.name`, with its sizes from `config`."""
  if config.dtype not in DTYPES:
    raise InputError(
        f'--config.model.dtype={config.dtype!r}: expected one of {sorted(DTYPES)}'
    )
  shared = dict(
      vocab_size=vocab_size,
      embed_dim=config.embed_dim,
      hidden_dim=config.hidden_dim,
      feature_dropout=config.feature_dropout,
      init_scale=config.init_scale,
      vocab_multiple=config.vocab_multiple,
      dtype=DTYPES[config.dtype],
      unroll=config.unroll,
  )
  if config.name == 'lrcn':
    if config.variant not in lrcn.VARIANTS:
      raise InputError(
          f'--config.model.variant={config.variant!r}: expected one of'
          f' {lrcn.VARIANTS}'
      )
    return lrcn.LRCN(variant=config.variant, **shared)
  if config.name in ('mrnn', 'rnn_base'):
    return mrnn.MRNN(
        use_image=config.name == 'mrnn',
        multimodal_dim=config.multimodal_dim,
        **shared,
    )
  raise InputError(
      f'--config.model.name={config.name!r}: expected one of {list(NAMES)}'
  )
