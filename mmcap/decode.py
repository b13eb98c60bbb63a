"""Caption decoding for every model: greedy, sampling and beam search.

A model exposes `init_decode(features) -> state`, which computes the image
terms (or encodes the video) once per example, and `decode_step(state,
tokens) -> (logits, state)`, so no prefix is ever re-run. All loops have fixed shapes (batch x beam x
max_steps) and stop early once every caption has ended. They are pure
functions of (model, params, features): callers jit them with the static
arguments bound and state their shardings.

Never generated: <pad> and <bos>, and <unk> unless allowed (config.decode.
allow_unk; it is scored as a literal word against the references); <eos> is
not allowed as the first word, so no caption is empty. A caption that
reaches max_steps without <eos> is kept as it is.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from mmcap.data.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from mmcap.errors import InputError

METHODS = ('greedy', 'sample', 'beam')
_NEG_INF = -1e9


def log_probs(
    logits: jax.Array, step: jax.Array, vocab_size: int, allow_unk: bool = False
) -> jax.Array:
  """Log-softmax over the words that may be generated at `step` (from 0):
  not <pad>, <bos>, the padding columns beyond `vocab_size`, <eos> first,
  nor <unk> unless `allow_unk`."""
  ids = jnp.arange(logits.shape[-1])
  banned = (ids == PAD_ID) | (ids == BOS_ID) | (ids >= vocab_size)
  banned |= (ids == EOS_ID) & (step == 0)
  if not allow_unk:
    banned |= ids == UNK_ID
  return jax.nn.log_softmax(jnp.where(banned, -jnp.inf, logits.astype(jnp.float32)))


def _step(model: nn.Module, params, state, tokens):
  return model.apply({'params': params}, state, tokens, method=model.decode_step)


def _init(model: nn.Module, params, features):
  return model.apply({'params': params}, features, method=model.init_decode)


def _batch_size(features: Any) -> int:
  """The batch of `features`: an array [B, ...] or a dict of them."""
  return jax.tree.leaves(features)[0].shape[0]


def _sample_loop(model, params, features, max_steps, choose, allow_unk) -> jax.Array:
  """One token per step chosen by `choose(log_probs, step)`: [B, max_steps]."""
  batch = _batch_size(features)

  def cond(carry):
    step, _, _, done, _ = carry
    return (step < max_steps) & ~jnp.all(done)

  def body(carry):
    step, state, tokens, done, out = carry
    logits, state = _step(model, params, state, tokens)
    tokens = jnp.where(
        done,
        PAD_ID,
        choose(log_probs(logits, step, model.config.vocab_size, allow_unk), step),
    )
    out = out.at[:, step].set(tokens)
    return step + 1, state, tokens, done | (tokens == EOS_ID), out

  carry = (
      jnp.zeros((), jnp.int32),
      _init(model, params, features),
      jnp.full((batch,), BOS_ID, jnp.int32),
      jnp.zeros((batch,), bool),
      jnp.full((batch, max_steps), PAD_ID, jnp.int32),
  )
  return jax.lax.while_loop(cond, body, carry)[-1]


def greedy(
    model: nn.Module,
    params,
    features,
    max_steps: int,
    allow_unk: bool = False,
) -> jax.Array:
  """The most likely word at each step: [B, max_steps] ids, <pad> after <eos>."""
  choose = lambda scores, step: jnp.argmax(scores, -1).astype(jnp.int32)
  return _sample_loop(model, params, features, max_steps, choose, allow_unk)


def sample(
    model: nn.Module,
    params,
    features,
    max_steps: int,
    rng: jax.Array,
    temperature: float = 1.0,
    allow_unk: bool = False,
) -> jax.Array:
  """Words drawn from softmax(logits / temperature); reproducible by `rng`."""

  def choose(scores, step):
    key = jax.random.fold_in(rng, step)
    return jax.random.categorical(key, scores / temperature).astype(jnp.int32)

  return _sample_loop(model, params, features, max_steps, choose, allow_unk)


def _gather_beams(tree, beam_index_bk: jax.Array):
  """Reorders each [B * K, ...] leaf by beam index [B, K]."""
  batch, beams = beam_index_bk.shape

  def gather(x):
    x = x.reshape((batch, beams) + x.shape[1:])
    index = beam_index_bk.reshape((batch, beams) + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, index, axis=1).reshape((batch * beams,) + x.shape[2:])

  return jax.tree.map(gather, tree)


def beam_search(
    model: nn.Module,
    params,
    features,
    max_steps: int,
    beam_size: int,
    length_alpha: float = 0.0,
    allow_unk: bool = False,
) -> tuple[jax.Array, jax.Array]:
  """The best of `beam_size` beams per example, by log-probability.

  Beams are kept by their summed log-probability; at the end each is ranked by
  that sum divided by length**length_alpha (0: no length normalization), the
  length counting <eos>. Returns tokens [B, max_steps] and their summed
  log-probabilities [B].
  """
  batch, beams = _batch_size(features), beam_size
  state = jax.tree.map(
      lambda x: jnp.repeat(x, beams, axis=0), _init(model, params, features)
  )
  # Beam 0 starts live; the others start ended at a score no real caption
  # reaches, so they are only carried until real candidates replace them.
  first = jnp.arange(beams) == 0
  scores = jnp.broadcast_to(jnp.where(first, 0.0, _NEG_INF), (batch, beams))
  done = jnp.broadcast_to(~first, (batch, beams))

  def cond(carry):
    step, _, _, done, _, _ = carry
    return (step < max_steps) & ~jnp.all(done)

  def body(carry):
    step, state, scores, done, out, last = carry
    logits, state = _step(model, params, state, last.reshape(-1))
    word_scores = log_probs(logits, step, model.config.vocab_size, allow_unk)
    word_scores = word_scores.reshape(batch, beams, -1)
    vocab = word_scores.shape[-1]
    # An ended beam goes on only as itself: <pad>, score unchanged.
    stay = jnp.full((vocab,), -jnp.inf).at[PAD_ID].set(0.0)
    word_scores = jnp.where(done[:, :, None], stay, word_scores)
    candidates = (scores[:, :, None] + word_scores).reshape(batch, beams * vocab)
    scores, index = jax.lax.top_k(candidates, beams)
    beam_index, tokens = index // vocab, (index % vocab).astype(jnp.int32)
    state = _gather_beams(state, beam_index)
    out = jnp.take_along_axis(out, beam_index[:, :, None], axis=1)
    out = out.at[:, :, step].set(tokens)
    done = jnp.take_along_axis(done, beam_index, axis=1) | (tokens == EOS_ID)
    return step + 1, state, scores, done, out, tokens

  carry = (
      jnp.zeros((), jnp.int32),
      state,
      scores,
      done,
      jnp.full((batch, beams, max_steps), PAD_ID, jnp.int32),
      jnp.full((batch, beams), BOS_ID, jnp.int32),
  )
  _, _, scores, _, out, _ = jax.lax.while_loop(cond, body, carry)
  lengths = jnp.maximum(jnp.sum(out != PAD_ID, axis=-1), 1).astype(jnp.float32)
  best = jnp.argmax(scores / lengths**length_alpha, axis=1)
  tokens = jnp.take_along_axis(out, best[:, None, None], axis=1)[:, 0]
  return tokens, jnp.take_along_axis(scores, best[:, None], axis=1)[:, 0]


def default_config() -> ml_collections.ConfigDict:
  """`config.decode`: how captions are generated."""
  config = ml_collections.ConfigDict()
  config.method = 'greedy'  # 'greedy', 'sample' or 'beam'
  config.beam_size = 3
  config.length_alpha = 0.0  # beam ranking: log P / length**alpha
  config.temperature = 1.0  # sampling
  config.seed = 0  # sampling
  # <unk> is scored as a literal word against the references: never emitted
  # unless allowed.
  config.allow_unk = False
  return config


def decoder(
    model: nn.Module, config: ml_collections.ConfigDict, max_steps: int
):
  """`fn(params, features) -> tokens [B, max_steps]` chosen by config;
  `features` as the model takes them (mmcap/models/captioner.py)."""
  if config.method == 'greedy':
    return functools.partial(
        greedy, model, max_steps=max_steps, allow_unk=config.allow_unk
    )
  if config.method == 'sample':
    return functools.partial(
        sample,
        model,
        max_steps=max_steps,
        rng=jax.random.key(config.seed),
        temperature=config.temperature,
        allow_unk=config.allow_unk,
    )
  if config.method == 'beam':
    if config.beam_size < 1:
      raise InputError(
          f'--config.decode.beam_size={config.beam_size}: must be >= 1'
      )

    def beam(params, features):
      return beam_search(
          model, params, features, max_steps, config.beam_size,
          config.length_alpha, config.allow_unk,
      )[0]

    return beam
  raise InputError(
      f'--config.decode.method={config.method!r}: expected one of {METHODS}'
  )
