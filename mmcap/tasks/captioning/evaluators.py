"""The captioning evaluators, by kind (see mmcap/core/evals.py):

  perplexity  per word (and bits per word, as m-RNN reports it) and per
              sentence, on every caption of the split
  captions    captions by config.decode with the coco-caption metrics, beside
              the most frequent training caption and, as an option, the
              caption of the nearest training image (the LRCN tables' 1NN)
  retrieval   image<->sentence retrieval by likelihood
              (mmcap/evaluation/retrieval.py)

Metrics are named 'split/name': test/perplexity, test/bleu_4, test/i2t_r1...
"""

import itertools
import math
from typing import TYPE_CHECKING

import jax
import ml_collections
import numpy as np

from mmcap.core.task import Evaluation
from mmcap.data import pipeline
from mmcap.evaluation import metrics as metrics_lib
from mmcap.evaluation import retrieval as retrieval_lib

if TYPE_CHECKING:
  from mmcap.tasks.captioning.task import CaptioningTask


def perplexity(
    task: 'CaptioningTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  """Perplexity per word (and its log2, bits per word) and per sentence (the
  mean of each sentence's perplexity, and its mean NLL in bits: the m-RNN
  cost's L . log2 PPL)."""
  nll, tokens = [], []
  for batch in task.eval_batches(settings.split, per_caption=True):
    batch_nll, batch_tokens = task.eval_step(params, task.placement.to_global(batch))
    nll.append(np.asarray(batch_nll))
    tokens.append(np.asarray(batch_tokens))
  nll, tokens = np.concatenate(nll), np.concatenate(tokens)
  nll, tokens = nll[tokens > 0], tokens[tokens > 0]  # drop batch padding
  found = {
      'perplexity': metrics_lib.perplexity(float(nll.sum()), float(tokens.sum())),
      'bits_per_word': float(nll.sum() / tokens.sum() / math.log(2)),
      'sentence_perplexity': float(np.mean(np.exp(nll / tokens))),
      'bits_per_sentence': float(np.mean(nll) / math.log(2)),
  }
  return Evaluation({f'{settings.split}/{k}': v for k, v in found.items()})


def captions(
    task: 'CaptioningTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  """Captions of the split's images (the first `max_images` of them, if not
  0) scored like the coco-caption toolkit, beside the baselines; written to
  captions_<split>.json, with the dataset's image ids (sources.Image)."""
  split = settings.split
  batches = task.eval_batches(split, per_caption=False)
  if settings.max_images:
    batches = itertools.islice(batches, -(-settings.max_images // task.config.eval_batch_size))
  generated = task.captions(params, batches)
  all_references = pipeline.read_references(task.dataset_dir, task.info, split)
  references = {i: all_references[i] for i in generated}
  train_refs = task.train_references
  baseline = metrics_lib.most_frequent([
      ref for refs in train_refs.values() for image_refs in refs.values() for ref in image_refs
  ])
  compared = {
      '': generated,
      'most_frequent_caption_': {i: baseline for i in references},
  }
  if settings.nearest_neighbour_baseline:
    nearest = nearest_neighbour_captions(task, split, train_refs)
    compared['nearest_neighbour_'] = {i: nearest[i] for i in references}
  use_java = None if settings.java else False
  found = {}
  for prefix, candidates in compared.items():
    scores = metrics_lib.caption_metrics(references, candidates, use_java=use_java)
    for name, value in scores.items():
      found[f'{split}/{prefix}{name}'] = value
  if jax.process_index() == 0 and settings.num_samples:
    print(f'sample {split} captions (model | a reference):')
    for image_id in sorted(generated)[: settings.num_samples]:
      print(f'  {image_id}: {generated[image_id]} | {references[image_id][0]}')
    print(f'most frequent training caption (baseline): {baseline!r}')
  results_file = [{'image_id': i, 'caption': c} for i, c in sorted(generated.items())]
  return Evaluation(found, files={f'captions_{split}.json': results_file})


def retrieval(
    task: 'CaptioningTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  """Likelihood retrieval over every image and sentence of the split."""
  sentences = _split_arrays(task, settings.split, per_caption=True)
  image_ids, first = np.unique(sentences['image_id'], return_index=True)
  scores = retrieval_lib.pair_scores(
      task.model,
      params,
      sentences['features'][first],
      sentences['inputs'],
      sentences['targets'],
      settings.images_per_block,
      settings.sentences_per_block,
      task.placement.data,
  )
  sentence_image = np.searchsorted(image_ids, sentences['image_id'])
  found = retrieval_lib.retrieval_metrics(scores, sentence_image)
  return Evaluation({f'{settings.split}/{k}': v for k, v in found.items()})


KINDS = {'perplexity': perplexity, 'captions': captions, 'retrieval': retrieval}


def nearest_neighbour_captions(
    task: 'CaptioningTask', split: str, train_refs: dict[str, dict[int, list[str]]]
) -> dict[int, str]:
  """For each image, the first reference of the training image nearest to it
  in feature space (cosine similarity): the LRCN tables' 1NN baseline.
  `train_refs`: the references of each training split, by image id."""
  train = {}
  for train_split, refs in train_refs.items():
    arrays = _split_arrays(task, train_split, per_caption=False)
    train.setdefault('features', []).append(arrays['features'])
    train.setdefault('captions', []).extend(refs[int(i)][0] for i in arrays['image_id'])
  train_features = np.concatenate(train['features'])
  query = _split_arrays(task, split, per_caption=False)

  def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

  nearest = np.argmax(unit(query['features']) @ unit(train_features).T, axis=1)
  return {int(i): train['captions'][n] for i, n in zip(query['image_id'], nearest)}


def _split_arrays(task: 'CaptioningTask', split: str, per_caption: bool) -> dict:
  """A whole split in host memory (every process reads all of it), padding
  dropped."""
  stacked: dict[str, list[np.ndarray]] = {}
  for batch in pipeline.eval_batches(
      task.dataset_dir,
      task.info,
      split,
      task.config.eval_batch_size,
      task.config.dataset.max_steps,
      per_caption=per_caption,
  ):
    for key, value in batch.items():
      stacked.setdefault(key, []).append(value)
  arrays = {k: np.concatenate(v) for k, v in stacked.items()}
  keep = arrays['image_id'] >= 0
  return {k: v[keep] for k, v in arrays.items()}
