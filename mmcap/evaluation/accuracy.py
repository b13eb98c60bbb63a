"""Video-level accuracy of activity recognition, and the files that late
fusion reads.

A video's class probabilities are its per-frame softmax averaged over the
frames of all its evaluation clips (mmcap/data/clips.py); its prediction is
their argmax. `probabilities_<split>.json` holds them:

  {"split": "test", "stream": "rgb", "classes": [...],
   "videos": [{"name": ..., "label": ..., "probabilities": [...]}, ...]}
"""

from collections.abc import Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
  """Counts [true class, predicted class]."""
  matrix = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(matrix, (labels, predicted), 1)
  return matrix


def video_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
  """Top-1 accuracy (%) over videos, and the mean over the classes present of
  each class's accuracy (%)."""
  predicted = np.argmax(probabilities, axis=1)
  correct = predicted == labels
  per_class = [np.mean(correct[labels == c]) for c in np.unique(labels)]
  return {
      'accuracy': 100.0 * float(np.mean(correct)),
      'mean_class_accuracy': 100.0 * float(np.mean(per_class)),
  }


def probabilities_file(
    split: str, stream: str, classes: Sequence[str], names: Sequence[str],
    labels: np.ndarray, probabilities: np.ndarray,
) -> dict:
  return {
      'split': split, 'stream': stream, 'classes': list(classes),
      'videos': [
          {'name': name, 'label': int(label), 'probabilities': [float(p) for p in row]}
          for name, label, row in zip(names, labels, probabilities)
      ],
  }
