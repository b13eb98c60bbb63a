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

from typing import TYPE_CHECKING

import ml_collections
import numpy as np

from mmcap.core.task import Evaluation
from mmcap.data import pipeline
from mmcap.evaluation import retrieval as retrieval_lib
from mmcap.evaluation import sentences

if TYPE_CHECKING:
  from mmcap.tasks.captioning.task import CaptioningTask


def perplexity(
    task: 'CaptioningTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  """Perplexity per word and per sentence (evaluation/sentences.py)."""
  return Evaluation(sentences.perplexity(task.describer, settings.split, params))


def captions(
    task: 'CaptioningTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  """Captions of the split's images scored like the coco-caption toolkit,
  beside the most frequent training caption and, as an option, the caption
  of the nearest training image; written to captions_<split>.json, with the
  dataset's image ids (sources.Image)."""
  baselines = {}
  if settings.nearest_neighbour_baseline:
    baselines['nearest_neighbour_'] = nearest_neighbour_captions(
        task, settings.split, task.describer.train_references
    )
  found, results = sentences.captions(task.describer, settings, params, baselines)
  return Evaluation(found, files={f'captions_{settings.split}.json': results})


def retrieval(
    task: 'CaptioningTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  """Likelihood retrieval over every image and sentence of the split."""
  captioned = _split_arrays(task, settings.split, per_caption=True)
  image_ids, first = np.unique(captioned['image_id'], return_index=True)
  scores = retrieval_lib.pair_scores(
      task.model,
      params,
      captioned['features'][first],
      captioned['inputs'],
      captioned['targets'],
      settings.images_per_block,
      settings.sentences_per_block,
      task.placement.data,
  )
  sentence_image = np.searchsorted(image_ids, captioned['image_id'])
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
      task.examples,
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
