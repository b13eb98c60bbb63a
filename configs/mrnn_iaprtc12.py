r"""m-RNN on IAPR TC-12 (the paper's sentence generation benchmark).

  python -m mmcap.prepare --iaprtc12_dir=iaprtc12 \
      --iaprtc12_train_list=train_list.txt --iaprtc12_test_list=test_list.txt \
      --features=feats.npy --output_dir=data/iaprtc12
  python -m mmcap.main --config=configs/mrnn_iaprtc12.py \
      --workdir=runs/mrnn_iaprtc12 --config.dataset.dir=data/iaprtc12

`prepare` reads the release as distributed (iaprtc12/annotations_complete_eng/
<dir>/<id>.eng; each DESCRIPTION split at ';' into sentences) and the
paper's split (17,665 training / 1,962 test images, from Kiros et al. 2014)
as two lists of DIR/ID lines; feats.npy has one row per listed image, the
training list's then the test list's (mmcap/data/iaprtc12.py). RNN-Base,
the language-only baseline: add --config.model.name=rnn_base.

Sizes and cost from the paper (embedding 128 -> 256, ReLU recurrence 256,
multimodal 512, the NLL per word plus L2), dropout 0.5 on the multimodal
layer; optimizer settings are mmcap's estimates (see
mmcap/tasks/captioning/config.py: mrnn_config).

Result to expect, from the paper: test perplexity 6.92, BLEU-1/2/3
0.3951 / 0.1828 / 0.1311; RNN-Base perplexity 7.77, BLEU-1/2/3
0.3134 / 0.1168 / 0.0803. Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.captioning.config import mrnn_config


def get_config() -> ml_collections.ConfigDict:
  config = mrnn_config()
  config.evals.val_perplexity.enabled = False  # no validation split
  config.best_metric = ''
  return config
