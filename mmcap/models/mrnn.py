"""m-RNN (Mao et al., 2014/2015) and its language-only baseline RNN-Base.

Per time step, as written in the paper (sizes from config, paper in brackets):
  word embedding I [128], then word embedding II [256]:  w(t)
  recurrent layer [256]:   r(t) = ReLU(U_r . r(t-1) + w(t))
  multimodal layer [512]:  m(t) = g2(V_w . w(t) + V_r . r(t) + V_I . I),
                           g2(x) = 1.7159 . tanh(2x / 3)
  softmax over the vocabulary from m(t).
No nonlinearity is stated for the embedding layers, so both are linear. Only
r(t) is sequential: the embeddings, the multimodal layer and the softmax run
over all time steps at once, and V_I . I once per sentence. RNN-Base is the
same network without the V_I . I term. Dropout (config.dropout) applies to
m(t) before the softmax in training: never to the image term before the
scaled tanh, where it makes evaluation-mode perplexity several times worse
than training-mode perplexity.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmcap.models.captioner import ModelConfig
from mmcap.models.dropout import Dropout
from mmcap.models.recurrence import WORD_TABLE_STEPS, ReluRNN, symmetric_uniform
from mmcap.models.vocabulary import VocabularyLogits


def scaled_tanh(x: jax.Array) -> jax.Array:
  """g2(x) = 1.7159 tanh(2x/3), LeCun's scaled tanh."""
  return 1.7159 * jnp.tanh(2.0 * x / 3.0)


class MRNN(nn.Module):
  """m-RNN captioner; `config.name == 'rnn_base'` gives RNN-Base."""

  config: ModelConfig

  @property
  def use_image(self) -> bool:
    return self.config.name == 'mrnn'

  def setup(self):
    config, dtype = self.config, self.config.compute_dtype
    init = symmetric_uniform(config.init_scale)

    def dense(features, use_bias=False):
      return nn.Dense(features, use_bias=use_bias, kernel_init=init, dtype=dtype)

    self.embed_1 = nn.Embed(
        config.vocab_size, config.embed_dim, embedding_init=init, dtype=dtype
    )
    self.embed_2 = dense(config.hidden_dim, use_bias=True)
    self.recurrent = ReluRNN(
        config.hidden_dim, config.init_scale, dtype, config.unroll
    )
    self.multimodal_word = dense(config.multimodal_dim, use_bias=True)  # V_w, b
    self.multimodal_recurrent = dense(config.multimodal_dim)  # V_r
    if self.use_image:
      self.multimodal_image = dense(config.multimodal_dim)  # V_I
    self.dropout = Dropout(config.dropout)
    self.output = VocabularyLogits(
        config.vocab_size, config.vocab_multiple, config.init_scale, dtype
    )

  def _image_term(self, features_bf: jax.Array) -> jax.Array:
    """V_I . I, [B, multimodal_dim]; zeros for RNN-Base."""
    if not self.use_image:
      return jnp.zeros(
          (features_bf.shape[0], self.config.multimodal_dim), jnp.float32
      )
    return self.multimodal_image(features_bf).astype(jnp.float32)

  def _words(self, tokens: jax.Array) -> jax.Array:
    return self.embed_2(self.embed_1(tokens)).astype(jnp.float32)

  def _word_terms(self, w: jax.Array, r: jax.Array) -> jax.Array:
    """V_w . w + V_r . r + b: the multimodal layer's image-independent part."""
    return self.multimodal_word(w).astype(jnp.float32) + self.multimodal_recurrent(
        r
    ).astype(jnp.float32)

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
    """The softmax layer's input at every step, m(t) [B, T, M] (after
    dropout in training). Computed at every position whatever `positions`:
    m-RNN's per-position layers are small beside its softmax layer."""
    del positions
    pre = self.sentence_terms(inputs_bt) + self._image_term(features)[:, None, :]
    return self.dropout(scaled_tanh(pre), deterministic=not train)

  def init_decode(self, features: jax.Array) -> dict[str, jax.Array]:
    """Decoder state: zero r(0) and the image term, computed once."""
    return {
        'r': self.recurrent.initial_state(features.shape[0]),
        'image_term': self._image_term(features),
    }

  def decode_step(
      self, state: dict[str, jax.Array], tokens_b: jax.Array
  ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Logits [B, V_padded] for the next word, and the advanced state."""
    w, word_term = self._word_step_terms(tokens_b)
    r, _ = self.recurrent.step(state['r'], w)
    pre = word_term + self.multimodal_recurrent(r).astype(jnp.float32) + state['image_term']
    return self.output(scaled_tanh(pre)), {**state, 'r': r}

  def _word_step_terms(self, tokens_b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """w(t) and V_w . w(t) + b of each word, [B, H] and [B, M]. For a large
    batch, looked up in tables of every word's, which XLA computes once per
    decoding loop (see LRCN._word_gates)."""
    if tokens_b.shape[0] * WORD_TABLE_STEPS < self.config.vocab_size:
      w = self._words(tokens_b)
      return w, self.multimodal_word(w).astype(jnp.float32)
    w = self._words(jnp.arange(self.config.vocab_size))
    word_term = self.multimodal_word(w).astype(jnp.float32)
    return jnp.take(w, tokens_b, axis=0), jnp.take(word_term, tokens_b, axis=0)

  # Retrieval: log P(sentence | image) for every pair, sharing work.

  def sentence_terms(self, inputs_bt: jax.Array) -> jax.Array:
    """V_w . w(t) + V_r . r(t) + b for each sentence, [B, T, M]: the whole
    recurrence is image-independent."""
    w = self._words(inputs_bt)
    return self._word_terms(w, self.recurrent(w))

  def image_terms(self, features_bf: jax.Array) -> jax.Array:
    """V_I . I of each image, [B, M]."""
    return self._image_term(features_bf)

  def pair_logits(
      self, sentence_terms: jax.Array, image_terms: jax.Array
  ) -> jax.Array:
    """Logits [P, T, V_padded] of P (sentence, image) pairs of terms."""
    return self.output(scaled_tanh(sentence_terms + image_terms[:, None, :]))
