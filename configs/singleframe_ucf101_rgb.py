r"""The single-frame baseline on UCF101 (RGB stream), the reference setup.

  python -m mmcap.main --config=configs/singleframe_ucf101_rgb.py \
      --workdir=runs/singleframe_ucf101_rgb --config.dataset.dir=data/ucf101_rgb_s1

(data/ucf101_rgb_s1 from mmcap.prepare_videos, see configs/lrcn_ucf101_rgb.py.)
Per-frame fc6 -> ReLU -> dropout 0.5 -> fc7 (4096) -> ReLU -> dropout 0.5 ->
101-way softmax, trained on single frames (batches of 128), SGD lr 1e-3 x0.1
every 3k of 5k iterations, weight decay 5e-3; tested on every frame, the
softmax averaged over the video.

Result to expect, from the LRCN paper (split 1): 69.00% ("single frame
(ave.)"; 65.40% frame by frame). Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.activity.config import default_config, single_frame


def get_config() -> ml_collections.ConfigDict:
  return single_frame(default_config())
