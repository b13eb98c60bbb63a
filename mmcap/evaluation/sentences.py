"""The evaluators every task that writes sentences runs (captioning, video
description): perplexity on every caption of a split, and generated captions
scored like the coco-caption toolkit beside the most frequent training
caption. Each returns metrics named 'split/name'; the tasks wrap them. They
run on what both tasks share (mmcap/describe.py's Describer)."""

import itertools
import math
from collections.abc import Iterator
from typing import Any, Protocol

import jax
import ml_collections
import numpy as np

from mmcap.evaluation import metrics as metrics_lib

Batch = dict[str, Any]


class SentenceTask(Protocol):
  """What these evaluators need of a sentence task. Batches hold this
  process's rows of a split, padded to full batches with image_id -1."""

  config: ml_collections.ConfigDict
  train_references: dict[str, dict[int, list[str]]]  # per training split

  def eval_batches(self, split: str, per_caption: bool) -> Iterator[Batch]:
    """Per caption (with inputs and targets) or per image (or video)."""

  def sentence_nll(self, params: Any, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Each caption's summed NLL and number of target tokens, global."""

  def captions(self, params: Any, batches: Iterator[Batch]) -> dict[int, str]:
    """Generated captions by image (or video) id, over all processes."""

  def references(self, split: str) -> dict[int, list[str]]:
    """The reference sentences of each image (or video) of a split."""


def perplexity(task: SentenceTask, split: str, params: Any) -> dict[str, float]:
  """Perplexity per word (and its log2, bits per word) and per sentence (the
  mean of each sentence's perplexity, and its mean NLL in bits: the m-RNN
  cost's L . log2 PPL)."""
  nll, tokens = [], []
  for batch in task.eval_batches(split, per_caption=True):
    batch_nll, batch_tokens = task.sentence_nll(params, batch)
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
  return {f'{split}/{k}': v for k, v in found.items()}


def captions(
    task: SentenceTask,
    settings: ml_collections.ConfigDict,
    params: Any,
    baselines: dict[str, dict[int, str]] | None = None,
) -> tuple[dict[str, float], list[dict]]:
  """Captions of the split (its first `settings.max_images` examples, if not
  0) scored like the coco-caption toolkit, beside the most frequent training
  caption and the given `baselines` (by metric prefix, each a caption per
  id); with the COCO results file's entries, [{"image_id", "caption"}]."""
  split = settings.split
  batches = task.eval_batches(split, per_caption=False)
  if settings.max_images:
    batches = itertools.islice(batches, -(-settings.max_images // task.config.eval_batch_size))
  generated = task.captions(params, batches)
  all_references = task.references(split)
  references = {i: all_references[i] for i in sorted(generated)}  # id order, not batch order
  most_frequent = metrics_lib.most_frequent([
      ref for refs in task.train_references.values()
      for image_refs in refs.values() for ref in image_refs
  ])
  compared = {'': generated, 'most_frequent_caption_': {i: most_frequent for i in references}}
  for prefix, candidates in (baselines or {}).items():
    compared[prefix] = {i: candidates[i] for i in references}
  use_java = None if settings.java else False
  found = {}
  for prefix, candidates in compared.items():
    scores = metrics_lib.caption_metrics(references, candidates, use_java=use_java)
    for name, value in scores.items():
      found[f'{split}/{prefix}{name}'] = value
  if jax.process_index() == 0 and settings.num_samples:
    print(f'sample {split} captions (model | a reference):')
    for example_id in sorted(generated)[: settings.num_samples]:
      print(f'  {example_id}: {generated[example_id]} | {references[example_id][0]}')
    print(f'most frequent training caption (baseline): {most_frequent!r}')
  return found, [{'image_id': i, 'caption': c} for i, c in sorted(generated.items())]
