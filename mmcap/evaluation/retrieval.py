"""Image-sentence retrieval by generative likelihood (m-RNN, LRCN).

Every (image, sentence) pair of a split is scored by log P(sentence | image).
A model splits that into `sentence_terms` (the image-independent work, done
once per sentence), `image_terms` (once per image) and `pair_logits`, which
finishes each pair. Pairs are scored in blocks of images x sentences, the
sentences sharded over the devices (on a CPU one image of a block at a
time); sentences are grouped by length and each block stops at its
longest, so no block computes steps that score nothing.

Image retrieval ranks the images for a sentence by log P(S|I). Sentence
retrieval ranks the sentences for an image by log P(S|I) - log mean_I' P(S|I'),
the sentence's likelihood normalized by its prior over the split's images (the
LRCN code's `normalized_log_p`; m-RNN's P(S|I) / P(S)): without it, short
generic sentences win for every image. The unnormalized ranking is reported
beside it. For an image, the best-ranked of its sentences counts.

Ties count against the true item: a rank is 1 + the number of wrong
candidates scored higher than or equal to it, so a model whose scores ignore
the image (RNN-Base, identical features, a dead image pathway) ranks every
true item last among its ties: at or below chance, never at 100%.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mmcap.data.vocab import PAD_ID


# A block of sentences runs to its longest sentence rounded up to a multiple
# of this many steps: at most ceil(T / 4) compiled shapes per block size.
STEP_MULTIPLE = 4


def block_size(count: int, limit: int, multiple: int = 1) -> int:
  """The size of the fewest blocks of at most `limit` rows (rounded up to a
  multiple of `multiple`, the devices) that hold `count` rows, made as even
  as possible so that the last block is not mostly padding."""
  blocks = -(-count // max(limit, 1))
  size = -(-count // blocks)
  return -(-size // multiple) * multiple


def _padded(array: np.ndarray, size: int) -> np.ndarray:
  """`array` zero-padded along its first axis to `size` rows."""
  padding = size - len(array)
  return np.concatenate([array, np.zeros((padding,) + array.shape[1:], array.dtype)])


def _placed(array: np.ndarray, sharding: jax.NamedSharding) -> jax.Array:
  """`array`, which every process holds whole, placed with `sharding`."""
  return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _sentence_blocks(
    inputs_st: np.ndarray, targets_st: np.ndarray, size: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """(sentence indices, inputs, targets) of blocks of `size` sentences of
  similar length, each cut to its longest sentence (rounded up to
  STEP_MULTIPLE steps): the steps after it score nothing."""
  steps = targets_st.shape[1]
  lengths = np.max(np.where(targets_st != PAD_ID, np.arange(1, steps + 1), 0), axis=1)
  order = np.argsort(lengths, kind='stable')
  blocks = []
  for start in range(0, len(order), size):
    index = order[start:start + size]
    cut = min(steps, max(STEP_MULTIPLE, -(-lengths[index].max() // STEP_MULTIPLE) * STEP_MULTIPLE))
    blocks.append((index, _padded(inputs_st[index, :cut], size),
                   _padded(targets_st[index, :cut], size)))
  return blocks


def images_per_step() -> int | None:
  """How many of a block's images `block_scores` scores at once on this
  backend: one on a CPU, where moving a block's [pairs, steps, vocabulary]
  logits through memory cost more than computing them (40% more time for
  m-RNN, 30% for LRCN-2f, at 25 x 250 pairs on a 2-core CPU); the whole
  block elsewhere, where a block's pairs are the batch of the recurrence's
  and softmax's matmuls (None)."""
  return 1 if jax.default_backend() == 'cpu' else None


def block_scores(model, params, sentence_terms, image_terms, targets_st,
                 images_per_step: int | None = None):
  """log P(S|I) [images, sentences] of a block of every image with every
  sentence, `images_per_step` images at a time (None: all at once)."""
  scored = targets_st != PAD_ID

  def image_scores(image_term):
    image_terms_s = jnp.broadcast_to(image_term, (sentence_terms.shape[0],) + image_term.shape)
    logits = model.apply(
        {'params': params}, sentence_terms, image_terms_s, method=model.pair_logits
    )
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets_st)
    return -jnp.sum(nll * scored, axis=1)

  if images_per_step is None:
    return jax.vmap(image_scores)(image_terms)
  return jax.lax.map(image_scores, image_terms, batch_size=images_per_step)


def pair_scores(
    model: nn.Module,
    params,
    features_if: np.ndarray,
    inputs_st: np.ndarray,
    targets_st: np.ndarray,
    images_per_block: int,
    sentences_per_block: int,
    sentence_sharding: jax.NamedSharding,
) -> np.ndarray:
  """log P(sentence | image) of every pair: [num_images, num_sentences].

  Pairs are scored in blocks of at most `images_per_block` images x
  `sentences_per_block` sentences, the sentences grouped by length so that
  no block runs far past its longest sentence.
  """
  mesh = sentence_sharding.mesh
  replicated = jax.NamedSharding(mesh, jax.P())
  sentence_fn = jax.jit(
      lambda p, x: model.apply({'params': p}, x, method=model.sentence_terms),
      in_shardings=(replicated, sentence_sharding),
      out_shardings=sentence_sharding,
  )
  image_fn = jax.jit(
      lambda p, f: model.apply({'params': p}, f, method=model.image_terms),
      in_shardings=(replicated, replicated),
      out_shardings=replicated,
  )
  # Scores come back replicated: every process reads the whole block.
  block_fn = jax.jit(
      functools.partial(block_scores, model, images_per_step=images_per_step()),
      in_shardings=(replicated, sentence_sharding, replicated, sentence_sharding),
      out_shardings=replicated,
  )
  num_images, num_sentences = len(features_if), len(inputs_st)
  sentence_size = block_size(num_sentences, sentences_per_block, mesh.size)
  sentence_blocks = [
      (index, sentence_fn(params, _placed(inputs, sentence_sharding)),
       _placed(targets, sentence_sharding))
      for index, inputs, targets in _sentence_blocks(inputs_st, targets_st, sentence_size)
  ]
  image_size = block_size(num_images, images_per_block)
  scores = np.empty((num_images, num_sentences), np.float32)
  for start in range(0, num_images, image_size):
    features = features_if[start:start + image_size]
    image_terms = image_fn(params, _padded(features, image_size))
    for index, terms, targets in sentence_blocks:
      block = np.asarray(block_fn(params, terms, image_terms, targets))
      scores[start:start + len(features), index] = block[:len(features), :len(index)]
  return scores


def _recalls(ranks: np.ndarray, prefix: str) -> dict[str, float]:
  metrics = {f'{prefix}_r{k}': 100.0 * float(np.mean(ranks <= k)) for k in (1, 5, 10)}
  metrics[f'{prefix}_medr'] = float(np.median(ranks))
  metrics[f'{prefix}_meanr'] = float(np.mean(ranks))
  return metrics


def _best_sentence_ranks(scores_is: np.ndarray, sentence_image: np.ndarray) -> np.ndarray:
  """For each image, the rank of its best own sentence: 1 + the number of
  other images' sentences scored at least as high."""
  ranks = np.empty(scores_is.shape[0])
  for image in range(scores_is.shape[0]):
    own = sentence_image == image
    best = scores_is[image, own].max()
    ranks[image] = 1 + (scores_is[image, ~own] >= best).sum()
  return ranks


def retrieval_metrics(
    scores_is: np.ndarray, sentence_image: np.ndarray
) -> dict[str, float]:
  """R@1/5/10 (%), median and mean rank in both directions.

  Args:
    scores_is: log P(sentence | image), [num_images, num_sentences].
    sentence_image: the index of each sentence's image, [num_sentences].
  """
  scores_is = np.nan_to_num(scores_is, nan=-np.inf)  # a NaN score ranks last
  true = scores_is[sentence_image, np.arange(scores_is.shape[1])]
  # Every image at least as likely as the true one, but the true one itself.
  image_ranks = (scores_is >= true[None, :]).sum(axis=0)
  # log mean_I P(S|I), computed so that equal scores give exactly their value.
  top = scores_is.max(axis=0)
  prior = top + np.log(np.mean(np.exp(scores_is - top[None, :]), axis=0))
  metrics = _recalls(
      _best_sentence_ranks(scores_is - prior[None, :], sentence_image), 'i2t'
  )
  metrics.update(_recalls(image_ranks, 't2i'))
  unnormalized = _recalls(_best_sentence_ranks(scores_is, sentence_image), 'i2t')
  metrics.update(
      {k.replace('i2t', 'i2t_unnormalized'): v for k, v in unnormalized.items()}
  )
  return metrics
