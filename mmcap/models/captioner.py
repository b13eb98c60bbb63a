"""The captioner contract: its hyperparameters, and the methods that decoding
(mmcap/decode.py) and likelihood retrieval (mmcap/evaluation/retrieval.py)
call on every captioning model."""

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from mmcap.errors import InputError

NAMES = ('lrcn', 'mrnn', 'rnn_base')
VARIANTS = ('1u', '2u', '2f')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """A captioner's hyperparameters: the fields of `config.model`, plus the
  vocabulary size, which comes from the dataset."""

  vocab_size: int
  name: str = 'lrcn'  # 'lrcn', 'mrnn' or 'rnn_base' (m-RNN without the image)
  variant: str = '2f'  # LRCN: '1u', '2u' or '2f'
  embed_dim: int = 1000  # m-RNN: word embedding I
  hidden_dim: int = 1000  # m-RNN: word embedding II = recurrent layer
  multimodal_dim: int = 512  # m-RNN only
  # Dropout rate where each family's reference puts it: LRCN on the image
  # feature, m-RNN on the multimodal layer m(t) before the softmax.
  dropout: float = 0.5
  init_scale: float = 0.08  # U(-init_scale, init_scale) weights
  vocab_multiple: int = 128  # logits padded to this multiple, masked
  dtype: str = 'float32'  # compute dtype; parameters stay float32
  unroll: int = 1  # lax.scan unroll of the recurrence

  def __post_init__(self):
    choices = {'name': NAMES, 'variant': VARIANTS, 'dtype': tuple(DTYPES)}
    for field, allowed in choices.items():
      if getattr(self, field) not in allowed:
        raise InputError(
            f'--config.model.{field}={getattr(self, field)!r}: expected one of'
            f' {list(allowed)}'
        )
    if not 0 <= self.dropout < 1:
      raise InputError(
          f'--config.model.dropout={self.dropout}: expected a rate in [0, 1)'
      )

  @property
  def compute_dtype(self) -> Any:
    return DTYPES[self.dtype]


@runtime_checkable
class Captioner(Protocol):
  """What decoding and retrieval rely on. Shapes: B batch, T time steps, F
  feature size, V_padded the vocabulary padded to `vocab_multiple`.

  log P(sentence | image) factors as pair_logits(sentence_terms(inputs),
  image_terms(features)): the first holds the image-independent work, done
  once per sentence, the second the image's, once per image. Decoding calls
  init_decode once per image, then decode_step once per word, never re-running
  a prefix.
  """

  config: ModelConfig

  def __call__(
      self, features_bf: jax.Array, inputs_bt: jax.Array, train: bool = False
  ) -> jax.Array:
    """Next-word logits [B, T, V_padded] given the image and the prefix."""

  def init_decode(self, features_bf: jax.Array) -> Any:
    """The decoder state of each image: zero recurrent states and its terms."""

  def decode_step(self, state: Any, tokens_b: jax.Array) -> tuple[jax.Array, Any]:
    """Logits [B, V_padded] of the word after `tokens_b`, and the new state."""

  def sentence_terms(self, inputs_bt: jax.Array) -> jax.Array:
    """The image-independent work of each sentence, [B, T, ...]."""

  def image_terms(self, features_bf: jax.Array) -> jax.Array:
    """Each image's term, [B, ...]."""

  def pair_logits(
      self, sentence_terms: jax.Array, image_terms: jax.Array
  ) -> jax.Array:
    """Logits [P, T, V_padded] of P (sentence, image) pairs of terms."""
