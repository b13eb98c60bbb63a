"""The video description evaluators, by kind (see mmcap/core/evals.py), the
same as image captioning's and computed by the same code
(mmcap/evaluation/sentences.py):

  perplexity  per word (and bits per word) and per sentence, on every
              caption of the split
  captions    captions by config.decode with the coco-caption metrics, beside
              the most frequent training caption; written to
              captions_<split>.json as COCO results, image_id = the video's
              id (its name's number: MSVD vid1 -> 1, MSR-VTT video7010 -> 7010)

Metrics are named 'split/name', as for images: test/perplexity, test/bleu_4...
"""

from typing import TYPE_CHECKING

import ml_collections

from mmcap.core.task import Evaluation
from mmcap.evaluation import sentences

if TYPE_CHECKING:
  from mmcap.tasks.video.task import VideoTask


def perplexity(task: 'VideoTask', settings: ml_collections.ConfigDict, params) -> Evaluation:
  return Evaluation(sentences.perplexity(task.describer, settings.split, params))


def captions(task: 'VideoTask', settings: ml_collections.ConfigDict, params) -> Evaluation:
  found, results = sentences.captions(task.describer, settings, params)
  return Evaluation(found, files={f'captions_{settings.split}.json': results})


KINDS = {'perplexity': perplexity, 'captions': captions}
