r"""LRCN activity recognition on UCF101 (optical-flow stream), the reference setup.

  python -m mmcap.prepare_videos --ucf101_lists=ucfTrainTestlist --split=1 \
      --features_dir=features/flow --stream=flow --output_dir=data/ucf101_flow_s1
  python -m mmcap.main --config=configs/lrcn_ucf101_flow.py \
      --workdir=runs/lrcn_ucf101_flow --config.dataset.dir=data/ucf101_flow_s1
  python -m mmcap.fuse --rgb_workdir=runs/lrcn_ucf101_rgb \
      --flow_workdir=runs/lrcn_ucf101_flow --output=runs/lrcn_ucf101_fused.json

The RGB config's model on flow images' fc6 features (x and y flow as 16 v +
128, the magnitude as the third channel), with the flow solver: lr 1e-3 x0.1
every 20k of 70k iterations, clipping 15.

Result to expect, from the LRCN paper (split 1): 76.95% video accuracy;
fused with RGB (mmcap.fuse) 81.97% at p = 1/2 and 82.92% at p = 1/3
(fused_p0.50/accuracy, fused_p0.33/accuracy). Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.activity.config import default_config, flow


def get_config() -> ml_collections.ConfigDict:
  return flow(default_config())
