r"""LRCN-2f on MS COCO (Karpathy splits) with the reference Caffe setup.

  python -m mmcap.prepare --karpathy_json=dataset_coco.json \
      --features=vgg_feats.npy --output_dir=data/coco
  python -m mmcap.main --config=configs/lrcn_coco.py --workdir=runs/lrcn_coco \
      --config.dataset.dir=data/coco

Embedding and LSTMs of 1000, vocabulary of words seen >= 5 times, captions cut
to 20 steps, SGD momentum 0.9, lr 0.01 halved every 20k of 110k iterations,
gradient clipping 10 on the loss weighted by 20, the output bias at twice the
learning rate without weight decay, batches of 100 captions, dropout 0.5 on
the features; validation perplexity every 5,000 steps keeps the best
checkpoint. Other variants: --config.model.variant=1u or 2u.

Result to expect: not yet measured with mmcap. For scale, the paper's LRCN
on Flickr30k reports BLEU-1..4 58.72/39.06/25.12/16.46.
"""

import ml_collections

from mmcap.tasks.captioning.config import lrcn_config


def get_config() -> ml_collections.ConfigDict:
  return lrcn_config()
