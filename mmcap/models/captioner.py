"""The captioner contract: its hyperparameters, the methods that decoding
(mmcap/decode.py) calls on every captioning model, and those that likelihood
retrieval (mmcap/evaluation/retrieval.py) adds for the models whose
likelihood factors into sentence and image terms."""

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import ml_collections

from mmcap.errors import InputError

NAMES = ('lrcn', 'mrnn', 'rnn_base', 's2vt')
VARIANTS = ('1u', '2u', '2f')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """A captioner's hyperparameters: the fields of `config.model`, plus the
  vocabulary size, which comes from the dataset."""

  vocab_size: int
  # 'lrcn', 'mrnn', 'rnn_base' (m-RNN without the image) or 's2vt' (video
  # frames, then words; mmcap/models/s2vt.py)
  name: str = 'lrcn'
  variant: str = '2f'  # LRCN: '1u', '2u' or '2f'
  embed_dim: int = 1000  # m-RNN: word embedding I; S2VT: words and frames
  hidden_dim: int = 1000  # m-RNN: word embedding II = recurrent layer
  multimodal_dim: int = 512  # m-RNN only
  # Dropout rate where each family's reference puts it: LRCN on the image
  # feature, m-RNN on the multimodal layer m(t) before the softmax, S2VT on
  # the frame features.
  dropout: float = 0.5
  init_scale: float = 0.08  # U(-init_scale, init_scale) weights
  vocab_multiple: int = 128  # logits padded to this multiple, masked
  dtype: str = 'float32'  # compute dtype; parameters stay float32
  unroll: int = 1  # lax.scan unroll of the recurrence
  # LRCN training: each step of an LSTM computes only the blocks of rows (of
  # this many, each device's rows sorted by length) that still have a
  # target; 1: every row at every step, nothing sorted.
  row_blocks: int = 4

  def __post_init__(self):
    choices = {'name': NAMES, 'variant': VARIANTS, 'dtype': tuple(DTYPES)}
    for field, allowed in choices.items():
      if getattr(self, field) not in allowed:
        raise InputError(
            f'--config.model.{field}={getattr(self, field)!r}: expected one of'
            f' {list(allowed)}'
        )
    if self.row_blocks < 1:
      raise InputError(
          f'--config.model.row_blocks={self.row_blocks}: expected at least 1'
      )
    if not 0 <= self.dropout < 1:
      raise InputError(
          f'--config.model.dropout={self.dropout}: expected a rate in [0, 1)'
      )

  @property
  def compute_dtype(self) -> Any:
    return DTYPES[self.dtype]


def default_config() -> ml_collections.ConfigDict:
  """`config.model` of a task that writes sentences: every ModelConfig field
  but the vocabulary size, with its default."""
  return ml_collections.ConfigDict({
      field.name: field.default
      for field in dataclasses.fields(ModelConfig) if field.name != 'vocab_size'
  })


@runtime_checkable
class Captioner(Protocol):
  """What training and decoding rely on. Shapes: B batch, T time steps, F
  feature size, V_padded the vocabulary padded to `vocab_multiple`.

  `features` is each example's visual input: an image's (or a pooled
  video's) feature vector [B, F], or for S2VT a dict of frames [B, N, F] and
  their mask [B, N]. Decoding calls init_decode once per example, then
  decode_step once per word, never re-running a prefix.
  """

  config: ModelConfig

  def __call__(
      self, features: Any, inputs_bt: jax.Array, train: bool = False
  ) -> jax.Array:
    """Next-word logits [B, T, V_padded] given the visual input and the prefix:
    `output(readout(...))`."""

  def readout(
      self, features: Any, inputs_bt: jax.Array, train: bool = False,
      positions: jax.Array | None = None,
  ) -> jax.Array:
    """The input of the softmax layer `output` (a VocabularyLogits) at every
    step, [B, T, D]; the training loss projects only the target positions.
    With `positions` [B, T] (bool: the training loss's target positions),
    it is needed there only: a model may skip its per-position work
    elsewhere (LRCN's LSTM input projections and recurrence steps after a
    row's last position) and leave any finite value there. Only in
    `apply`."""

  def init_decode(self, features: Any) -> Any:
    """The decoder state of each example: recurrent states and the visual
    terms, computed once."""

  def decode_step(self, state: Any, tokens_b: jax.Array) -> tuple[jax.Array, Any]:
    """Logits [B, V_padded] of the word after `tokens_b`, and the new state."""


@runtime_checkable
class FactoredCaptioner(Captioner, Protocol):
  """A captioner whose log P(sentence | image) factors as
  pair_logits(sentence_terms(inputs), image_terms(features)): the first holds
  the image-independent work, done once per sentence, the second the
  image's, once per image. LRCN and m-RNN are; S2VT is not (the video enters
  its recurrence). Likelihood retrieval needs it.
  """

  def sentence_terms(self, inputs_bt: jax.Array) -> jax.Array:
    """The image-independent work of each sentence, [B, T, ...]."""

  def image_terms(self, features_bf: jax.Array) -> jax.Array:
    """Each image's term, [B, ...]."""

  def pair_logits(
      self, sentence_terms: jax.Array, image_terms: jax.Array
  ) -> jax.Array:
    """Logits [P, T, V_padded] of P (sentence, image) pairs of terms."""
