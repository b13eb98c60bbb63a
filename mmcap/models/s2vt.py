"""S2VT (Venugopalan et al., "Sequence to Sequence -- Video to Text", ICCV
2015): a stack of two LSTMs reads a video's frames, then writes its sentence.

As in the reference Caffe net (examples/s2vt/s2vt.prototxt, factored):
  frames   x_n = W_e f_n + b_e, each frame feature f_n embedded (b_e starts at
           0.2, W_e Xavier-uniform as Caffe's xavier filler)
  bottom   LSTM1 reads x_1 .. x_N, then during the words b_e (the embedding
           of the reference's zero frame padding)
  top      LSTM2 reads [LSTM1 output, word slot, stage], where the word slot
           is zero during the frames and the embedded previous word after,
           and the stage indicator is 0 during the frames, 1 during the words
  softmax  over the vocabulary from LSTM2, at the word steps only.
A video has N real frames of the `max_frames` slots (`frame_mask`); a padded
slot is no step (both LSTMs keep their state), so the words start right after
each video's last frame, as in the reference's variable-length streams. The
reference's word slot during the frames is the embedding of its id 0, which
also starts its sentences; mmcap starts sentences with <bos> and leaves the
slot zero, the stage indicator telling the phases apart. Dropout
(config.dropout) applies to the frame features, where the reference's
optional dropout stage puts its first.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from mmcap.models.captioner import ModelConfig
from mmcap.models.dropout import Dropout
from mmcap.models.recurrence import LSTM, Carry, symmetric_uniform
from mmcap.models.vocabulary import VocabularyLogits


class S2VT(nn.Module):
  """Frames, then words, through two stacked LSTMs. `features` is a dict of
  'frames' [B, N, F] and 'frame_mask' [B, N] (1 for a real frame)."""

  config: ModelConfig

  def setup(self):
    config, dtype = self.config, self.config.compute_dtype
    self.embed = nn.Embed(
        config.vocab_size, config.embed_dim,
        embedding_init=symmetric_uniform(config.init_scale), dtype=dtype,
    )
    self.frame_embed = nn.Dense(
        config.embed_dim, dtype=dtype,
        kernel_init=nn.initializers.variance_scaling(1.0, 'fan_in', 'uniform'),
        bias_init=nn.initializers.constant(0.2),
    )
    self.bottom = LSTM(config.hidden_dim, config.init_scale, dtype, config.unroll)
    self.top = LSTM(config.hidden_dim, config.init_scale, dtype, config.unroll)
    self.dropout = Dropout(config.dropout)
    self.output = VocabularyLogits(
        config.vocab_size, config.vocab_multiple, config.init_scale, dtype
    )

  def _top_gates(self, h1: jax.Array, words: jax.Array | None, stage: float) -> jax.Array:
    """LSTM2's gate inputs from [h1, word slot, stage], for any leading shape;
    `words` None is the zero word slot of the frame steps."""
    if words is None:
      words = jnp.zeros(h1.shape[:-1] + (self.config.embed_dim,), h1.dtype)
    stage_column = jnp.full(h1.shape[:-1] + (1,), stage, h1.dtype)
    return self.top.gate_inputs(
        jnp.concatenate([h1, words.astype(h1.dtype), stage_column], -1), None
    )

  def _blank_frame_gates(self, features: dict[str, jax.Array]) -> jax.Array:
    """LSTM1's gate input at every word step, [4H]: the frame slot is zero,
    so its embedding is b_e."""
    blank = jnp.zeros((1, features['frames'].shape[-1]), jnp.float32)
    return self.bottom.gate_inputs(self.frame_embed(blank), None)[0]

  def encode(self, features: dict[str, jax.Array], train: bool = False) -> list[Carry]:
    """Both LSTMs' (h, c) after each video's real frames."""
    frames = self.dropout(features['frames'], deterministic=not train)
    mask = features['frame_mask']
    batch = frames.shape[0]
    bottom_carry, h1 = self.bottom.scan(
        self.bottom.initial_carry(batch),
        self.bottom.gate_inputs(self.frame_embed(frames), None),
        mask,
    )
    top_carry, _ = self.top.scan(
        self.top.initial_carry(batch), self._top_gates(h1, None, 0.0), mask
    )
    return [bottom_carry, top_carry]

  def __call__(
      self, features: dict[str, jax.Array], inputs_bt: jax.Array, train: bool = False
  ) -> jax.Array:
    """Next-word logits [B, T, V_padded] given the frames and the prefix."""
    return self.output(self.readout(features, inputs_bt, train))

  def readout(
      self, features: dict[str, jax.Array], inputs_bt: jax.Array, train: bool = False,
      positions: jax.Array | None = None,
  ) -> jax.Array:
    """The softmax layer's input at every word step, LSTM2's h [B, T, H],
    computed at every position whatever `positions`."""
    del positions
    bottom_carry, top_carry = self.encode(features, train)
    blank = self._blank_frame_gates(features)
    _, h1 = self.bottom.scan(bottom_carry, jnp.broadcast_to(blank, inputs_bt.shape + blank.shape))
    _, h2 = self.top.scan(top_carry, self._top_gates(h1, self.embed(inputs_bt), 1.0))
    return h2

  def init_decode(self, features: dict[str, jax.Array]) -> dict[str, Any]:
    """Decoder state: both LSTMs after the frames, and LSTM1's word-step
    input, computed once."""
    blank = self._blank_frame_gates(features)
    return {
        'carries': self.encode(features),
        'blank_gates': jnp.broadcast_to(blank, (features['frames'].shape[0],) + blank.shape),
    }

  def decode_step(
      self, state: dict[str, Any], tokens_b: jax.Array
  ) -> tuple[jax.Array, dict[str, Any]]:
    """Logits [B, V_padded] for the next word, and the advanced state."""
    bottom_carry, top_carry = state['carries']
    bottom_carry, h1 = self.bottom.step_gates(bottom_carry, state['blank_gates'])
    top_carry, h2 = self.top.step_gates(
        top_carry, self._top_gates(h1, self.embed(tokens_b), 1.0)
    )
    return self.output(h2), {**state, 'carries': [bottom_carry, top_carry]}
