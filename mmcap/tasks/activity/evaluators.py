"""The activity evaluators, by kind (see mmcap/core/evals.py):

  accuracy  every evaluation clip of the split (mmcap/data/clips.py): each
            video's per-frame softmax averaged over the frames of all its
            clips, its argmax against the label. Metrics (%): 'accuracy'
            (videos), 'clip_accuracy' (each clip's own average),
            'mean_class_accuracy'. Files: confusion_<split>.json (counts,
            [true class][predicted class]) and probabilities_<split>.json,
            the videos' class probabilities that mmcap.fuse combines.
"""

from typing import TYPE_CHECKING

import ml_collections
import numpy as np

from mmcap.core.task import Evaluation
from mmcap.evaluation import accuracy as accuracy_lib

if TYPE_CHECKING:
  from mmcap.tasks.activity.task import ActivityTask


def accuracy(
    task: 'ActivityTask', settings: ml_collections.ConfigDict, params
) -> Evaluation:
  split = settings.split
  videos = task.info['splits'][split]['videos']
  num_classes = len(task.classes)
  sums = np.zeros((len(videos), num_classes))
  frames = np.zeros(len(videos))
  clips_right, num_clips = 0, 0
  for batch in task.eval_batches(split):
    found = {k: np.asarray(v) for k, v in
             task.eval_step(params, task.placement.to_global(batch)).items()}
    real = found['video'] >= 0
    np.add.at(sums, found['video'][real], found['sums'][real])
    np.add.at(frames, found['video'][real], found['frames'][real])
    clips_right += int(np.sum(np.argmax(found['sums'][real], 1) == found['label'][real]))
    num_clips += int(np.sum(real))
  probabilities = sums / np.maximum(frames, 1.0)[:, None]
  labels = np.array([label for _, label, _, _ in videos])
  metrics = accuracy_lib.video_metrics(probabilities, labels)
  metrics['clip_accuracy'] = 100.0 * clips_right / max(num_clips, 1)
  matrix = accuracy_lib.confusion_matrix(labels, np.argmax(probabilities, 1), num_classes)
  files = {
      f'confusion_{split}.json': {'classes': task.classes, 'matrix': matrix.tolist()},
      f'probabilities_{split}.json': accuracy_lib.probabilities_file(
          split, task.info['stream'], task.classes, [name for name, *_ in videos],
          labels, probabilities),
  }
  return Evaluation({f'{split}/{k}': v for k, v in metrics.items()}, files)


KINDS = {'accuracy': accuracy}
