r"""Optical flow images as LRCN computes them, from a video's frames.

  pip install 'mmcap[flow]'   # OpenCV with its contrib modules (TV-L1)
  python -m mmcap.flow --frames=frames/ --output=flow/

--frames holds one directory per video with its frames as JPEG or PNG files
in name order (as `ffmpeg -i v.avi frames/v/%05d.jpg` writes them). For each
pair of consecutive frames, dense optical flow (TV-L1, OpenCV's
DualTVL1OpticalFlow, by default; --method=farneback is Farneback's, faster
and coarser) is computed on the grey frames and written as one PNG image:
the x and y components as 16 v + 128 and the flow magnitude as 16 |v| + 128,
each clipped to [0, 255] and rounded (LRCN's flow images). A video of T
frames gives OUTPUT/<video>/flow_00001.png ... flow_<T-1>.png, the images of
the flow stream's feature extraction. Each video's directory appears whole
(written beside it, then renamed); a rerun skips the videos already done.
Flow images made elsewhere in this encoding are used as they are.
"""

from absl import app
from absl import flags

from mmcap import errors
from mmcap.data import flow

_FRAMES = flags.DEFINE_string('frames', None, 'A directory of one directory of frames per video.')
_OUTPUT = flags.DEFINE_string('output', None, 'The directory of flow images to write.')
_METHOD = flags.DEFINE_enum('method', 'tvl1', ['tvl1', 'farneback'], 'The optical flow.')
flags.mark_flags_as_required(['frames', 'output'])


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  errors.start_command(argv)
  flow.compute(_FRAMES.value, _OUTPUT.value, _METHOD.value)


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
