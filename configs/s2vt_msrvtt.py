r"""S2VT on MSR-VTT (6,513 train / 497 val / 2,990 test clips), with the MSVD
reference solver.

  python -m mmcap.prepare_video_captions --msrvtt_json=videodatainfo.json \
      --features_dir=features/msrvtt --output_dir=data/msrvtt
  python -m mmcap.main --config=configs/s2vt_msrvtt.py --workdir=runs/s2vt_msrvtt \
      --config.dataset.dir=data/msrvtt

features/msrvtt holds one <video_id>.npy [T, D] per video (video0.npy ...),
the per-frame features a feature extractor writes; for features of every
frame, read every 10th as S2VT does with --config.dataset.frame_stride=10. Results files use the id in the name (video7010 -> 7010).

Result to expect: no published figure in the sources mmcap follows; not yet
reproduced with mmcap.
"""

import ml_collections

from mmcap.tasks.video.config import default_config


def get_config() -> ml_collections.ConfigDict:
  return default_config()
