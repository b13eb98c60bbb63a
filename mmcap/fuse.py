r"""Late fusion of two activity recognition runs: an RGB and a flow stream.

  python -m mmcap.fuse --rgb_workdir=runs/ucf101_rgb --flow_workdir=runs/ucf101_flow \
      --output=runs/ucf101_fused.json

Reads each workdir's probabilities_<split>.json (written by the `accuracy`
evaluator at the end of training or by --mode=evaluate), checks that both
hold the same split, classes and videos with the same labels, and scores the
weighted average p * RGB + (1 - p) * flow of the videos' class probabilities
for each p of --weights (default 1/2 and 1/3, the LRCN paper's). Writes
`rgb/accuracy`, `flow/accuracy` and `fused_p<p>/accuracy` (p to two decimals:
fused_p0.50, fused_p0.33), each with its `mean_class_accuracy`, to --output.
"""

import os

from absl import app
from absl import flags
import numpy as np

from mmcap import errors
from mmcap.data import prepared
from mmcap.errors import InputError
from mmcap.evaluation import accuracy
from mmcap.files import write_json

_RGB = flags.DEFINE_string('rgb_workdir', None, 'Workdir of the RGB stream run.')
_FLOW = flags.DEFINE_string('flow_workdir', None, 'Workdir of the flow stream run.')
_OUTPUT = flags.DEFINE_string('output', None, 'The results JSON file to write.')
_WEIGHTS = flags.DEFINE_list('weights', ['0.5', '0.333333'], 'Weights p of the RGB stream.')
_SPLIT = flags.DEFINE_string('split', 'test', 'The evaluated split to fuse.')
flags.mark_flags_as_required(['rgb_workdir', 'flow_workdir', 'output'])


def read_probabilities(workdir: str, split: str, stream: str) -> dict:
  """A run's probabilities file, checked to be of `stream`."""
  path = os.path.join(workdir, f'probabilities_{split}.json')
  found = prepared.read_json(
      path, f'train or evaluate (--mode=evaluate) an activity run with an accuracy'
      f' evaluator on the {split} split first'
  )
  if not isinstance(found, dict) or not {'stream', 'classes', 'videos'} <= set(found):
    raise InputError(f'{path}: expected a probabilities file (stream, classes, videos)')
  if found['stream'] != stream:
    raise InputError(f'{path}: holds the {found["stream"]!r} stream, expected {stream!r}')
  for n, video in enumerate(found['videos']):
    if (not isinstance(video, dict) or not {'name', 'label', 'probabilities'} <= set(video)
        or len(video['probabilities']) != len(found['classes'])):
      raise InputError(
          f'{path}: videos[{n}] is not {{"name", "label", "probabilities"}} with'
          f' {len(found["classes"])} probabilities'
      )
  return found


def fuse(rgb: dict, flow: dict, weights: list[float]) -> dict[str, float]:
  """Accuracies of each stream and of each weighted average."""
  if rgb['classes'] != flow['classes']:
    raise InputError('the RGB and flow runs have different class lists')
  by_name = {v['name']: v for v in flow['videos']}
  if set(by_name) != {v['name'] for v in rgb['videos']}:
    missing = sorted(set(by_name) ^ {v['name'] for v in rgb['videos']})
    raise InputError(
        f'the RGB and flow runs cover different videos ({len(missing)} in one only,'
        f' e.g. {missing[0]!r}): were they prepared from the same split?'
    )
  labels = np.array([v['label'] for v in rgb['videos']])
  if any(by_name[v['name']]['label'] != v['label'] for v in rgb['videos']):
    raise InputError('the RGB and flow runs give some videos different labels')
  p_rgb = np.array([v['probabilities'] for v in rgb['videos']])
  p_flow = np.array([by_name[v['name']]['probabilities'] for v in rgb['videos']])
  results = {}
  for name, probabilities in (('rgb', p_rgb), ('flow', p_flow)):
    results |= {f'{name}/{k}': v for k, v in accuracy.video_metrics(probabilities, labels).items()}
  for p in weights:
    fused = accuracy.video_metrics(p * p_rgb + (1 - p) * p_flow, labels)
    results |= {f'fused_p{p:.2f}/{k}': v for k, v in fused.items()}
  return results


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  try:
    weights = [float(w) for w in _WEIGHTS.value]
  except ValueError:
    raise InputError(f'--weights={",".join(_WEIGHTS.value)}: expected numbers') from None
  if not all(0 <= w <= 1 for w in weights):
    raise InputError(f'--weights={",".join(_WEIGHTS.value)}: expected weights in [0, 1]')
  if len({f'{w:.2f}' for w in weights}) != len(weights):
    raise InputError(
        f'--weights={",".join(_WEIGHTS.value)}: two weights are the same to two decimals'
    )
  rgb = read_probabilities(_RGB.value, _SPLIT.value, 'rgb')
  flow = read_probabilities(_FLOW.value, _SPLIT.value, 'flow')
  results = {'split': _SPLIT.value, 'num_videos': len(rgb['videos'])}
  results |= fuse(rgb, flow, weights)
  write_json(_OUTPUT.value, results)
  for key, value in results.items():
    if key.endswith('/accuracy'):
      print(f'{key}: {value:.2f}')
  print(f'-> {_OUTPUT.value}')


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
