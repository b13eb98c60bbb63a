"""Final evaluation of a trained run: perplexity, captions and their metrics."""

import os

import jax

from mmcap.data import pipeline
from mmcap.evaluation import metrics as metrics_lib
from mmcap.experiment import Experiment, write_json


def evaluate(experiment: Experiment, params, step: int) -> dict[str, float]:
  """Perplexity on every eval split; captions (config.decode) and their
  metrics on the last, beside the most-frequent-caption baseline's."""
  results: dict[str, float] = {'step': step}
  for split in experiment.eval_splits:
    results[f'{split}/perplexity'] = experiment.perplexity(params, split)
  split = experiment.eval_splits[-1]
  captions = experiment.captions(
      params, experiment.eval_batches(split, per_caption=False)
  )
  references = pipeline.read_references(
      experiment.dataset_dir, experiment.info, split
  )
  for name, value in metrics_lib.caption_metrics(references, captions).items():
    results[f'{split}/{name}'] = value
  train_refs = [
      ref
      for train_split in experiment.train_splits
      for refs in pipeline.read_references(
          experiment.dataset_dir, experiment.info, train_split
      ).values()
      for ref in refs
  ]
  baseline = metrics_lib.most_frequent(train_refs)
  baseline_metrics = metrics_lib.caption_metrics(
      references, {i: baseline for i in references}
  )
  for name, value in baseline_metrics.items():
    results[f'{split}/most_frequent_caption_{name}'] = value
  if jax.process_index() == 0:
    write_json(
        os.path.join(experiment.workdir, f'captions_{split}.json'),
        [{'image_id': i, 'caption': c} for i, c in sorted(captions.items())],
    )
    print(f'sample {split} captions (model | a reference):')
    for image_id in sorted(captions)[: experiment.config.num_sample_captions]:
      print(f'  {image_id}: {captions[image_id]} | {references[image_id][0]}')
    print(f'most frequent training caption (baseline): {baseline!r}')
  return results
