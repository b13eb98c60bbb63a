r"""m-RNN on Flickr30k (Karpathy splits).

  python -m mmcap.prepare --karpathy_json=dataset_flickr30k.json \
      --features=vgg_feats.mat --output_dir=data/flickr30k
  python -m mmcap.main --config=configs/mrnn_flickr30k.py \
      --workdir=runs/mrnn_flickr30k --config.dataset.dir=data/flickr30k

Sizes and cost from the paper (embedding 128 -> 256, ReLU recurrence 256,
multimodal 512, the NLL per word plus L2), dropout 0.5 on the multimodal
layer; optimizer settings are mmcap's estimates (see
mmcap/tasks/captioning/config.py: mrnn_config).

Result to expect, from the paper (AlexNet "decaf" features): sentence
retrieval R@1/5/10 18.4 / 40.2 / 50.9, median rank 10; image retrieval
12.6 / 31.2 / 41.5, median rank 16; BLEU-1/2/3 54.79 / 23.92 / 19.52 (as
quoted by the LRCN paper). Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.captioning.config import mrnn_config


def get_config() -> ml_collections.ConfigDict:
  config = mrnn_config()
  config.evals.test_retrieval.enabled = True
  return config
