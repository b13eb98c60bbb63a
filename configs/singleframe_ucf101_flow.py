r"""The single-frame baseline on UCF101 (optical-flow stream).

  python -m mmcap.main --config=configs/singleframe_ucf101_flow.py \
      --workdir=runs/singleframe_ucf101_flow --config.dataset.dir=data/ucf101_flow_s1
  python -m mmcap.fuse --rgb_workdir=runs/singleframe_ucf101_rgb \
      --flow_workdir=runs/singleframe_ucf101_flow --output=runs/singleframe_fused.json

(data/ucf101_flow_s1 from mmcap.prepare_videos, see configs/lrcn_ucf101_flow.py.)
The RGB single-frame baseline's model and solver on the flow stream.

Result to expect, from the LRCN paper (split 1): 72.20% ("single frame
(ave.)"; 53.20% frame by frame); fused with RGB 75.71% at p = 1/2 and
79.04% at p = 1/3. Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.activity.config import default_config, single_frame


def get_config() -> ml_collections.ConfigDict:
  config = single_frame(default_config())
  config.dataset.stream = 'flow'
  return config
