"""Models, chosen by `config.model.name`."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from mmcap.errors import InputError
from mmcap.models import lrcn

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def build(config: ml_collections.ConfigDict, vocab_size: int) -> nn.Module:
  """The captioner named by `config.name`, with its sizes from `config`."""
  if config.dtype not in DTYPES:
    raise InputError(
        f'--config.model.dtype={config.dtype!r}: expected one of {sorted(DTYPES)}'
    )
  if config.name == 'lrcn':
    if config.variant not in lrcn.VARIANTS:
      raise InputError(
          f'--config.model.variant={config.variant!r}: expected one of'
          f' {lrcn.VARIANTS}'
      )
    return lrcn.LRCN(
        vocab_size=vocab_size,
        variant=config.variant,
        embed_dim=config.embed_dim,
        hidden_dim=config.hidden_dim,
        feature_dropout=config.feature_dropout,
        init_scale=config.init_scale,
        vocab_multiple=config.vocab_multiple,
        dtype=DTYPES[config.dtype],
        unroll=config.unroll,
    )
  raise InputError(f'--config.model.name={config.name!r}: expected one of ["lrcn"]')
