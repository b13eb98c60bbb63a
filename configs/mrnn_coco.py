r"""m-RNN on MS COCO (Karpathy splits).

  python -m mmcap.prepare --karpathy_json=dataset_coco.json \
      --features=vgg_feats.mat --output_dir=data/coco
  python -m mmcap.main --config=configs/mrnn_coco.py \
      --workdir=runs/mrnn_coco --config.dataset.dir=data/coco

Sizes and cost from the paper (embedding 128 -> 256, ReLU recurrence 256,
multimodal 512, the NLL per word plus L2), dropout 0.5 on the multimodal
layer; optimizer settings are mmcap's estimates (see
mmcap/tasks/captioning/config.py: mrnn_config). Trains on train + restval.

Result to expect: the seed material reports no m-RNN figure on COCO; not yet
measured with mmcap.
"""

import ml_collections

from mmcap.tasks.captioning.config import mrnn_config


def get_config() -> ml_collections.ConfigDict:
  config = mrnn_config()
  config.dataset.train_splits = 'train,restval'
  return config
