"""Losses of the tasks: the masked next-word negative log-likelihood of a
captioner (captioning, video description) and the per-frame softmax
cross-entropy of an activity model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from mmcap.data.vocab import PAD_ID


def sentence_nll(
    model: nn.Module, params, batch, rng: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
  """Each sentence's summed next-word NLL (nats) [B] and its number of target
  tokens [B]; <pad> targets count for nothing. With `rng`, in training mode
  (dropout drawn from it)."""
  logits = model.apply(
      {'params': params},
      batch['features'],
      batch['inputs'],
      train=rng is not None,
      rngs={'dropout': rng} if rng is not None else {},
  )
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch['targets'])
  weights = (batch['targets'] != PAD_ID).astype(jnp.float32)
  return jnp.sum(nll * weights, axis=1), jnp.sum(weights, axis=1)


def token_nll(
    model: nn.Module, params, batch, rng: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
  """Summed masked next-word NLL (nats) and the number of target tokens."""
  nll, tokens = sentence_nll(model, params, batch, rng)
  return jnp.sum(nll), jnp.sum(tokens)


NORMALIZATIONS = ('token', 'sentence')


def full_logits_loss(
    model: nn.Module, params, batch, rng: jax.Array | None
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """`next_word_loss` with token normalization, from the logits at every
  position: the computation that the closed-form FLOP count describes (the
  benchmark's XLA count uses it)."""
  nll, num_tokens = token_nll(model, params, batch, rng)
  return nll / jnp.maximum(num_tokens, 1.0), {'nll': nll, 'num_tokens': num_tokens}


def _target_nll_sum(module: nn.Module, features, inputs, targets, train: bool) -> jax.Array:
  """The summed NLL of the non-<pad> targets, from the softmax layer's input
  at the target positions only (models/vocabulary.py), which is all the
  readout need give."""
  positions = targets != PAD_ID
  return module.output.weighted_nll_sum(
      module.readout(features, inputs, train=train, positions=positions), targets, positions)


def next_word_loss(
    model: nn.Module, params, batch, rng: jax.Array | None, normalization: str
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The training loss: the summed NLL over the mean number of target tokens
  ('token', LRCN's Caffe loss) or of sentences ('sentence'); with the summed
  NLL and the token count, for logging. With `rng`, in training mode.
  Reverse-mode differentiable only: the softmax layer's gradient is computed
  with the loss. Equal to `token_nll`'s sum over the count, without the
  logits of <pad> positions."""
  nll = model.apply(
      {'params': params}, batch['features'], batch['inputs'], batch['targets'],
      rng is not None, rngs={'dropout': rng} if rng is not None else {},
      method=_target_nll_sum)
  targets = batch['targets'] != PAD_ID
  num_tokens = jnp.sum(targets, dtype=jnp.float32)
  sentences = jnp.sum(jnp.any(targets, axis=1), dtype=jnp.float32)
  count = jnp.maximum(num_tokens if normalization == 'token' else sentences, 1.0)
  return nll / count, {'nll': nll, 'num_tokens': num_tokens}


def frame_loss(
    model: nn.Module, params, batch, rng: jax.Array | None = None
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Softmax cross-entropy at every real frame of every clip, averaged over
  the real frames; with the count of frames and of frames right. With `rng`,
  in training mode."""
  logits = model.apply({'params': params}, batch['clip'], train=rng is not None,
                       rngs={'dropout': rng} if rng is not None else {})
  labels = jnp.broadcast_to(batch['label'][:, None], logits.shape[:2])
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  mask = batch['mask']
  frames = jnp.sum(mask)
  correct = jnp.sum((jnp.argmax(logits, -1) == labels) * mask)
  return jnp.sum(nll * mask) / jnp.maximum(frames, 1.0), {'frames': frames, 'correct': correct}
