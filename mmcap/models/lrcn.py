"""LRCN captioners (Donahue et al., CVPR 2015): variants 1u, 2u and 2f.

The image feature is a static input to LSTM gates at every time step:
  1u: one LSTM fed [word embedding, image]
  2u: two stacked LSTMs, the image into the bottom one
  2f: the bottom LSTM sees words only; the top one gets [bottom output, image]
Concatenated inputs are realised as summed projections, so the image term
W_img.f is computed once per caption and added to every step.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmcap.models.captioner import ModelConfig
from mmcap.models.dropout import Dropout
from mmcap.models.positions import prefix
from mmcap.models.recurrence import LSTM, WORD_TABLE_STEPS, Carry, symmetric_uniform
from mmcap.models.vocabulary import VocabularyLogits

# The LSTM (0 = bottom, 1 = top) that receives the image, per variant.
IMAGE_LAYER = {'1u': 0, '2u': 0, '2f': 1}


class LRCN(nn.Module):
  """Word embedding -> LSTM(s) with the image as static input -> softmax.

  Logits cover the vocabulary padded to a multiple of `vocab_multiple`; the
  padding columns are masked to a large negative value.
  """

  config: ModelConfig

  def setup(self):
    config, dtype = self.config, self.config.compute_dtype
    init = symmetric_uniform(config.init_scale)
    self.embed = nn.Embed(
        config.vocab_size, config.embed_dim, embedding_init=init, dtype=dtype
    )
    num_layers = 1 if config.variant == '1u' else 2
    self.lstms = [
        LSTM(config.hidden_dim, config.init_scale, dtype, config.unroll, config.row_blocks)
        for _ in range(num_layers)
    ]
    self.dropout = Dropout(config.dropout)
    self.output = VocabularyLogits(
        config.vocab_size, config.vocab_multiple, config.init_scale, dtype
    )

  def _image_gates(self, features_bf: jax.Array, train: bool) -> list:
    features = self.dropout(features_bf, deterministic=not train)
    gates = [None] * len(self.lstms)
    layer = IMAGE_LAYER[self.config.variant]
    gates[layer] = self.lstms[layer].static_gates(features)
    return gates

  def __call__(
      self, features: jax.Array, inputs_bt: jax.Array, train: bool = False
  ) -> jax.Array:
    """Next-word logits [B, T, V_padded] given the image features [B, F] and
    the prefix."""
    return self.output(self.readout(features, inputs_bt, train))

  def readout(
      self, features: jax.Array, inputs_bt: jax.Array, train: bool = False,
      positions: jax.Array | None = None,
  ) -> jax.Array:
    """The softmax layer's input, the top LSTM's h [B, T, H]; with
    `positions`, valid there only: the LSTMs compute each row's steps up to
    its last position only (input projections at those steps, recurrences
    over blocks of rows that still have one)."""
    if positions is not None:
      positions = prefix(positions)
    image_gates = self._image_gates(features, train)[IMAGE_LAYER[self.config.variant]]
    return self._top_hidden(self._sentence_terms(inputs_bt, positions), image_gates, positions)

  def init_decode(self, features: jax.Array) -> dict[str, Any]:
    """Decoder state: zero LSTM states and the image terms, computed once."""
    batch = features.shape[0]
    return {
        'carries': [lstm.initial_carry(batch) for lstm in self.lstms],
        'image_gates': self._image_gates(features, train=False),
    }

  def decode_step(
      self, state: dict[str, Any], tokens_b: jax.Array
  ) -> tuple[jax.Array, dict[str, Any]]:
    """Logits [B, V_padded] for the next word, and the advanced state."""
    carries: list[Carry] = []
    h = None
    for lstm, carry, image_gates in zip(
        self.lstms, state['carries'], state['image_gates']
    ):
      gates = self._word_gates(tokens_b) if h is None else lstm.gate_inputs(h, None)
      if image_gates is not None:
        gates += image_gates
      carry, h = lstm.step_gates(carry, gates)
      carries.append(carry)
    return self.output(h), {**state, 'carries': carries}

  def _word_gates(self, tokens_b: jax.Array) -> jax.Array:
    """The bottom LSTM's input gate term of each word, [B, 4H]. For a large
    batch, looked up in a table of every word's: the table depends only on
    the parameters, so XLA computes it once per decoding loop, not per step
    (V rows once instead of B rows a step)."""
    bottom = self.lstms[0]
    if tokens_b.shape[0] * WORD_TABLE_STEPS < self.config.vocab_size:
      return bottom.gate_inputs(self.embed(tokens_b), None)
    table = bottom.gate_inputs(self.embed(jnp.arange(self.config.vocab_size)), None)
    return jnp.take(table, tokens_b, axis=0)

  # Retrieval: log P(sentence | image) for every pair, sharing work.

  def sentence_terms(self, inputs_bt: jax.Array) -> jax.Array:
    """The image-independent work of each sentence: the layers below the one
    that takes the image, and that layer's input projection, [B, T, 4H]."""
    return self._sentence_terms(inputs_bt, None)

  def _sentence_terms(self, inputs_bt: jax.Array, positions: jax.Array | None) -> jax.Array:
    """`sentence_terms`, with `positions` valid there only."""
    layer = IMAGE_LAYER[self.config.variant]
    h = self.embed(inputs_bt)
    for lstm in self.lstms[:layer]:
      h = lstm(h, positions=positions)
    return self.lstms[layer].gate_inputs(h, None, positions)

  def image_terms(self, features_bf: jax.Array) -> jax.Array:
    """Each image's gate term, [B, 4H]."""
    return self._image_gates(features_bf, train=False)[IMAGE_LAYER[self.config.variant]]

  def pair_logits(
      self, sentence_terms: jax.Array, image_terms: jax.Array
  ) -> jax.Array:
    """Logits [P, T, V_padded] of P (sentence, image) pairs of terms."""
    return self.output(self._top_hidden(sentence_terms, image_terms))

  def _top_hidden(
      self, sentence_terms: jax.Array, image_terms: jax.Array,
      positions: jax.Array | None = None,
  ) -> jax.Array:
    """The top LSTM's h [P, T, H] from the image layer's two gate terms."""
    layer = IMAGE_LAYER[self.config.variant]
    h = self.lstms[layer].recur(sentence_terms + image_terms[:, None, :], positions)
    for lstm in self.lstms[layer + 1 :]:
      h = lstm(h, positions=positions)
    return h
