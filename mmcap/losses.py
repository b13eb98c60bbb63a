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


def next_word_loss(
    model: nn.Module, params, batch, rng: jax.Array, normalization: str
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The training loss: the summed NLL over the mean number of target tokens
  ('token', LRCN's Caffe loss) or of sentences ('sentence'); with the summed
  NLL and the token count, for logging."""
  nll, num_tokens = token_nll(model, params, batch, rng)
  targets = batch['targets'] != PAD_ID
  if normalization == 'token':
    count = jnp.sum(targets)
  else:
    count = jnp.sum(jnp.any(targets, axis=1))
  count = jnp.maximum(count, 1).astype(jnp.float32)
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
