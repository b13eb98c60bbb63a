r"""LRCN activity recognition on UCF101 (RGB stream), the reference setup.

  python -m mmcap.prepare_videos --ucf101_lists=ucfTrainTestlist --split=1 \
      --features_dir=features/rgb --stream=rgb --output_dir=data/ucf101_rgb_s1
  python -m mmcap.main --config=configs/lrcn_ucf101_rgb.py \
      --workdir=runs/lrcn_ucf101_rgb --config.dataset.dir=data/ucf101_rgb_s1

Per-frame fc6 features (4096-d) -> ReLU -> dropout 0.9 -> LSTM 256 ->
dropout 0.5 -> 101-way softmax at every frame; clips of 16 frames, batches of
24 clips; SGD momentum 0.9, lr 1e-3 x0.1 every 10k of 30k iterations, weight
decay 5e-3, clipping 5, the classifier at 10x (bias 20x) the learning rate.
Test: 16-frame clips every 8 frames plus the last 16, per-frame softmax
averaged over the video (results.json: test/accuracy).

Result to expect, from the LRCN paper (split 1, its fine-tuned "Hyb2Net"
fc6): 71.12% video accuracy (LRCN-fc6; the single frame 65.40, averaged over
the video 69.00). With frozen ImageNet features mmcap is a documented variant;
not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.activity.config import default_config


def get_config() -> ml_collections.ConfigDict:
  return default_config()
