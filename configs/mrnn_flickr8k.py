r"""m-RNN on Flickr8k (the paper's retrieval benchmark).

  python -m mmcap.prepare --flickr8k_dir=Flickr8k_text \
      --features=feats.npy --output_dir=data/flickr8k
  python -m mmcap.main --config=configs/mrnn_flickr8k.py \
      --workdir=runs/mrnn_flickr8k --config.dataset.dir=data/flickr8k

Sizes and cost from the paper (embedding 128 -> 256, ReLU recurrence 256,
multimodal 512, the NLL per word plus L2), dropout 0.5 on the multimodal
layer; optimizer settings are mmcap's estimates (see
mmcap/tasks/captioning/config.py: mrnn_config).

Result to expect, from the paper (AlexNet "decaf" features), retrieval by
likelihood on the 1,000 test images: sentence retrieval R@1/5/10
14.5 / 37.2 / 48.5, median rank 11; image retrieval 11.5 / 31.0 / 42.4,
median rank 15 (results.json: test/i2t_r1 ... test/t2i_medr). Not yet
reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.captioning.config import mrnn_config


def get_config() -> ml_collections.ConfigDict:
  config = mrnn_config()
  config.evals.test_retrieval.enabled = True
  return config
