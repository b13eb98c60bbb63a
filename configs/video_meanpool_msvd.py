r"""Mean-pool video description on MSVD (LSTM-YT, Venugopalan et al., NAACL
2015): the mean of every frame's fc7 feature as the static input of
LRCN-2f (LSTMs of 1000), trained with the S2VT solver for 60k iterations.

  python -m mmcap.prepare_video_captions --msvd_dir=msvd \
      --msvd_features=pooled --output_dir=data/msvd_pooled
  python -m mmcap.main --config=configs/video_meanpool_msvd.py \
      --workdir=runs/meanpool_msvd --config.dataset.dir=data/msvd_pooled

With the authors' pooled file (yt_pooled_fc7_mean_{split}.txt) each video
is one vector, its own mean; a dataset of all frames (--msvd_features=
allframes) is pooled over every frame when read. A semantic input (the LRCN
paper's TACoS setting: any fixed vector per video, such as a CRF's
probabilities) trains the same way with --config.dataset.video_input=semantic
on a dataset of one vector per video: the pooled MSVD text layout, or a
videodatainfo.json-style captions file with one [1, D] <video>.npy per video
(--msrvtt_json, --features_dir).

Result to expect: the S2VT paper compares against mean pooling on MSVD,
below S2VT's METEOR 29.2; not yet reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.video.config import default_config, mean_pool


def get_config() -> ml_collections.ConfigDict:
  return mean_pool(default_config())
