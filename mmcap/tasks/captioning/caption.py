"""The caption mode: captions from a trained workdir, as a COCO results file.

Captions a split of the config's dataset, or a features file (.npy (N, D) or
vgg_feats.mat (D, N); image_id = row), with the decoding of `config.decode`,
and reports captions per second after compilation.
"""

import os
import time
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from mmcap.core.checkpoints import checkpoint_manager, require_checkpoints
from mmcap.core.files import write_json
from mmcap.core.placement import Placement
from mmcap.core.task import Batch
from mmcap.core.trainer import Trainer
from mmcap.data import sources
from mmcap.errors import InputError
from mmcap.tasks.captioning.task import CaptioningTask


def _feature_batches(features: np.ndarray, batch_size: int) -> Iterator[Batch]:
  """This process's rows in full batches; image_id -1 marks padding."""
  rows = np.arange(len(features))
  share = rows[jax.process_index() :: jax.process_count()]
  per_process = -(-len(rows) // jax.process_count())
  num_batches = -(-per_process // batch_size)
  for b in range(num_batches):
    ids = share[b * batch_size : (b + 1) * batch_size]
    padding = batch_size - len(ids)
    yield {
        'image_id': np.pad(ids, (0, padding), constant_values=-1).astype(np.int32),
        'features': np.pad(features[ids], ((0, padding), (0, 0))),
    }


def _method(config: ml_collections.ConfigDict) -> str:
  return f'beam{config.beam_size}' if config.method == 'beam' else config.method


def caption(
    config: ml_collections.ConfigDict,
    workdir: str,
    split: str | None = None,
    features_path: str | None = None,
    output: str | None = None,
) -> str:
  """Writes `[{"image_id", "caption"}]` and returns the file's path."""
  if (split is None) == (features_path is None):
    raise InputError('give exactly one of --split and --features')
  require_checkpoints(workdir, 'caption with')
  placement = Placement.over_all_devices()
  task = CaptioningTask(config, workdir, placement, with_dataset=split is not None)
  state = Trainer(task, config, placement).restore(checkpoint_manager(workdir))
  if state is None:
    raise InputError(f'{workdir}/checkpoints: no checkpoint; train first')
  if split is not None:
    batches = lambda: task.eval_batches(split, per_caption=False)
    source = split
  else:
    features = sources.load_features(features_path, None, task.feature_dim)
    batches = lambda: _feature_batches(features, task.eval_batch_size)
    source = os.path.splitext(os.path.basename(features_path))[0]

  first = placement.to_global(next(iter(batches())))
  jax.block_until_ready(task.decode(state.params, first['features']))
  start = time.perf_counter()
  captions = task.captions(state.params, batches())
  seconds = time.perf_counter() - start
  method = _method(config.decode)
  output = output or os.path.join(workdir, f'captions_{source}_{method}.json')
  if jax.process_index() == 0:
    write_json(output, [{'image_id': i, 'caption': c} for i, c in sorted(captions.items())])
    print(
        f'{len(captions)} captions ({method}) in {seconds:.2f} s after'
        f' compilation: {len(captions) / seconds:.1f} captions/s -> {output}'
    )
  return output
