r"""LRCN-2f on Flickr30k (Karpathy splits) with the reference Caffe setup.

  python -m mmcap.prepare --karpathy_json=dataset_flickr30k.json \
      --features=vgg_feats.mat --output_dir=data/flickr30k
  python -m mmcap.main --config=configs/lrcn_flickr30k.py \
      --workdir=runs/lrcn_flickr30k --config.dataset.dir=data/flickr30k

Same hyperparameters as configs/lrcn_coco.py (embedding and LSTMs of 1000,
SGD momentum 0.9, lr 0.01 halved every 20k of 110k steps, clipping 10 of the
loss weighted by 20, the output bias at 2x lr, batches of 100, dropout 0.5 on
the features); Flickr30k has no restval split.

Result to expect, from the LRCN paper (CaffeNet features): test BLEU-1..4
58.72 / 39.06 / 25.12 / 16.46 with the coco-caption tokenization; image
retrieval R@1/5/10 17.5 / 40.3 / 50.8, median rank 9; the 1NN baseline (fc7)
BLEU-1..4 38.81 / 20.16 / 10.37 / 5.54. Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.captioning.config import lrcn_config


def get_config() -> ml_collections.ConfigDict:
  config = lrcn_config()
  config.dataset.train_splits = 'train'
  config.evals.test_retrieval.enabled = True
  config.evals.test_captions.nearest_neighbour_baseline = True
  return config
