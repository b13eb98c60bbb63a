r"""S2VT on MSVD (YouTube2Text: 1,200 train / 100 val / 670 test clips), the
reference setup (examples/s2vt of the S2VT authors' Caffe).

  python -m mmcap.prepare_video_captions --msvd_dir=msvd \
      --msvd_features=allframes --output_dir=data/msvd_frames
  python -m mmcap.main --config=configs/s2vt_msvd.py --workdir=runs/s2vt_msvd \
      --config.dataset.dir=data/msvd_frames

msvd/ holds sents_{train,val,test}.txt and yt_allframes_vgg_fc7_{split}.txt
(the authors' release). The frames of that file in order, as the authors'
converter reads every line (at most 60: with the 20 sentence steps, the
reference's 80-step streams); the paper samples every 10th frame of a video,
so features of every frame want --config.dataset.frame_stride=10. VGG fc7
embedded to 500 -> two LSTMs of 1000 -> softmax; SGD momentum 0.9, lr 0.01 halved every 20k of 25k
iterations, clipping 10, loss weight 20, batches of 32 captions, no dropout.
Caption with beam search: --config.decode.method=beam.

Result to expect, from the S2VT paper (MSVD test): METEOR 29.2 with RGB VGG
features, 29.8 with flow added. Not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.video.config import default_config


def get_config() -> ml_collections.ConfigDict:
  return default_config()
