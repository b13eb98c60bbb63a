"""The caption mode: captions from a trained workdir, as a COCO results file.

Captions a split of the config's dataset, or new inputs: for images a
features file (.npy (N, D) or vgg_feats.mat (D, N); image_id = row), for
videos a directory of <video>.npy [T, D] feature files (image_id = the
number the name ends with, or the position in name order where those are
not distinct; the name beside it); with the decoding of
`config.decode`, and reports captions per second after compilation. The
tasks that write sentences are those of CAPTION_TASKS.
"""

import os
import time

import jax
import ml_collections

from mmcap.core import workdir as workdir_identity
from mmcap.core.checkpoints import require_checkpoints
from mmcap.core.config import validate
from mmcap.core.placement import Placement
from mmcap.core.trainer import Trainer
from mmcap.errors import InputError
from mmcap.files import check_output_path, write_json
from mmcap.tasks.captioning.task import CaptioningTask
from mmcap.tasks.video.task import VideoTask

CAPTION_TASKS = {'captioning': CaptioningTask, 'video': VideoTask}


def _method(config: ml_collections.ConfigDict) -> str:
  return f'beam{config.beam_size}' if config.method == 'beam' else config.method


def caption(
    config: ml_collections.ConfigDict,
    workdir: str,
    split: str | None = None,
    features_path: str | None = None,
    output: str | None = None,
) -> str:
  """Writes `[{"image_id", "caption"}]` (and "video", the file's name, for
  a directory of videos) and returns the file's path."""
  if config.task not in CAPTION_TASKS:
    raise InputError(
        f'--mode=caption: config.task must be one of {list(CAPTION_TASKS)},'
        f' not {config.task!r}'
    )
  if (split is None) == (features_path is None):
    raise InputError('give exactly one of --split and --features')
  validate(config)
  if output is not None:
    check_output_path(output, '--output')
  require_checkpoints(workdir, 'caption with')
  placement = Placement.over_all_devices()
  task = CAPTION_TASKS[config.task](config, workdir, placement, with_dataset=split is not None)
  workdir_identity.check(workdir, config, task.workdir_files())
  state = Trainer(task, config, placement).restore(workdir)
  if state is None:
    raise InputError(f'{workdir}/checkpoints: no checkpoint; train first')
  names = {}
  if split is not None:
    batches = lambda: task.describer.eval_batches(split, per_caption=False)
    source = split
  else:
    features, ids, names = task.new_inputs(features_path)
    batches = lambda: task.describer.input_batches(features, ids)
    source = os.path.splitext(os.path.basename(os.path.normpath(features_path)))[0]

  first = placement.to_global(next(iter(batches())))
  jax.block_until_ready(task.describer.decode(state.params, first['features']))
  start = time.perf_counter()
  captions = task.describer.captions(state.params, batches())
  seconds = time.perf_counter() - start
  method = _method(config.decode)
  output = output or os.path.join(workdir, f'captions_{source}_{method}.json')
  if jax.process_index() == 0:
    write_json(output, [
        {'image_id': i, 'caption': c, **({'video': names[i]} if names else {})}
        for i, c in sorted(captions.items())
    ])
    print(
        f'{len(captions)} captions ({method}) in {seconds:.2f} s after'
        f' compilation: {len(captions) / seconds:.1f} captions/s -> {output}'
    )
  return output
