"""Evaluation of a trained run, at the end of training or by --mode=evaluate.

Every eval split gets perplexity; the last one also gets captions (by
config.decode) with the coco-caption metrics, the most-frequent-caption
baseline and, by config, the nearest-neighbour caption baseline and
likelihood retrieval. Keys are flat and prefixed by the split: test/bleu_4,
test/cider, test/perplexity, test/i2t_r1, ...
"""

import json
import math
import os

import jax
import ml_collections
import numpy as np

from mmcap.data import pipeline
from mmcap.evaluation import metrics as metrics_lib
from mmcap.evaluation import retrieval
from mmcap.errors import InputError
from mmcap.experiment import Experiment, checkpoint_manager, write_captions, write_json


def language_metrics(experiment: Experiment, params, split: str) -> dict[str, float]:
  """Perplexity per word (and its log2, bits per word, as in m-RNN) and per
  sentence (the mean of each sentence's perplexity, and its mean NLL in
  bits: the m-RNN cost's L . log2 PPL)."""
  nll, tokens = [], []
  for batch in experiment.eval_batches(split, per_caption=True):
    batch_nll, batch_tokens = experiment.eval_step(params, experiment.to_global(batch))
    nll.append(np.asarray(batch_nll))
    tokens.append(np.asarray(batch_tokens))
  nll, tokens = np.concatenate(nll), np.concatenate(tokens)
  nll, tokens = nll[tokens > 0], tokens[tokens > 0]  # drop batch padding
  return {
      'perplexity': metrics_lib.perplexity(float(nll.sum()), float(tokens.sum())),
      'bits_per_word': float(nll.sum() / tokens.sum() / math.log(2)),
      'sentence_perplexity': float(np.mean(np.exp(nll / tokens))),
      'bits_per_sentence': float(np.mean(nll) / math.log(2)),
  }


def _split_arrays(experiment: Experiment, split: str, per_caption: bool) -> dict:
  """A whole split in host memory, padding dropped."""
  batches = pipeline.eval_batches(
      experiment.dataset_dir,
      experiment.info,
      split,
      experiment.config.eval_batch_size,
      experiment.config.dataset.max_steps,
      per_caption=per_caption,
  )
  arrays = {k: np.concatenate(v) for k, v in _stack(batches).items()}
  keep = arrays['image_id'] >= 0
  return {k: v[keep] for k, v in arrays.items()}


def _stack(batches) -> dict[str, list[np.ndarray]]:
  stacked: dict[str, list[np.ndarray]] = {}
  for batch in batches:
    for key, value in batch.items():
      stacked.setdefault(key, []).append(value)
  return stacked


def retrieval_results(experiment: Experiment, params, split: str) -> dict[str, float]:
  """Likelihood retrieval over every image and sentence of a split."""
  captions = _split_arrays(experiment, split, per_caption=True)
  image_ids, first = np.unique(captions['image_id'], return_index=True)
  scores = retrieval.pair_scores(
      experiment.model,
      params,
      captions['features'][first],
      captions['inputs'],
      captions['targets'],
      experiment.config.evaluation.retrieval_images_per_block,
      experiment.config.evaluation.retrieval_sentences_per_block,
      experiment.data_sharding,
  )
  sentence_image = np.searchsorted(image_ids, captions['image_id'])
  return retrieval.retrieval_metrics(scores, sentence_image)


def nearest_neighbour_captions(
    experiment: Experiment, split: str, train_refs: dict[str, dict[int, list[str]]]
) -> dict[int, str]:
  """For each image, the first reference of the training image nearest to it
  in feature space (cosine similarity): the LRCN tables' 1NN baseline.
  `train_refs`: the references of each training split, by image id."""
  train = {}
  for train_split, refs in train_refs.items():
    arrays = _split_arrays(experiment, train_split, per_caption=False)
    train.setdefault('features', []).append(arrays['features'])
    train.setdefault('captions', []).extend(refs[int(i)][0] for i in arrays['image_id'])
  train_features = np.concatenate(train['features'])
  query = _split_arrays(experiment, split, per_caption=False)

  def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

  nearest = np.argmax(unit(query['features']) @ unit(train_features).T, axis=1)
  return {int(i): train['captions'][n] for i, n in zip(query['image_id'], nearest)}


def evaluate(experiment: Experiment, params, step: int) -> dict[str, float]:
  """All metrics of the eval splits; captions written as a COCO results file."""
  config = experiment.config
  use_java = None if config.evaluation.java else False
  results: dict[str, float] = {'step': step}
  for split in experiment.eval_splits:
    for name, value in language_metrics(experiment, params, split).items():
      results[f'{split}/{name}'] = value
  split = experiment.eval_splits[-1]
  captions = experiment.captions(
      params, experiment.eval_batches(split, per_caption=False)
  )
  references = pipeline.read_references(
      experiment.dataset_dir, experiment.info, split
  )
  train_refs = {
      train_split: pipeline.read_references(
          experiment.dataset_dir, experiment.info, train_split
      )
      for train_split in experiment.train_splits
  }
  baseline = metrics_lib.most_frequent([
      ref
      for refs in train_refs.values()
      for image_refs in refs.values()
      for ref in image_refs
  ])
  compared = {
      '': captions,
      'most_frequent_caption_': {i: baseline for i in references},
  }
  if config.evaluation.nearest_neighbour_baseline:
    compared['nearest_neighbour_'] = nearest_neighbour_captions(
        experiment, split, train_refs
    )
  for prefix, candidates in compared.items():
    scores = metrics_lib.caption_metrics(references, candidates, use_java=use_java)
    for name, value in scores.items():
      results[f'{split}/{prefix}{name}'] = value
  if config.evaluation.retrieval:
    for name, value in retrieval_results(experiment, params, split).items():
      results[f'{split}/{name}'] = value
  if jax.process_index() == 0:
    write_captions(
        os.path.join(experiment.workdir, f'captions_{split}.json'), captions
    )
    print(f'sample {split} captions (model | a reference):')
    for image_id in sorted(captions)[: config.num_sample_captions]:
      print(f'  {image_id}: {captions[image_id]} | {references[image_id][0]}')
    print(f'most frequent training caption (baseline): {baseline!r}')
  return results


def write_results(workdir: str, results: dict[str, float]) -> None:
  """Prints the results and writes them to WORKDIR/results.json."""
  if jax.process_index() == 0:
    write_json(os.path.join(workdir, 'results.json'), results)
    print('results:', json.dumps(results, indent=2))


def evaluate_workdir(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """--mode=evaluate: the latest checkpoint of a trained run, evaluated."""
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise InputError(f'{workdir}: no checkpoints to evaluate; train first')
  experiment = Experiment(config, workdir)
  state = experiment.restore(checkpoint_manager(workdir))
  if state is None:
    raise InputError(f'{workdir}/checkpoints: no checkpoint; train first')
  results = evaluate(experiment, state.params, int(state.step))
  write_results(workdir, results)
  return results
