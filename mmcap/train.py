"""train_and_evaluate: one train loop for every captioning model.

Data flows one way: prepared dataset -> tf.data numpy batches -> global arrays
sharded over the devices -> the jitted train step (mmcap/steps.py) -> Orbax
checkpoints and metrics -> final evaluation written to WORKDIR/results.json.
"""

import json
import os
import time

from clu import metric_writers
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from mmcap.data import pipeline
from mmcap.data import records
from mmcap.evaluate import evaluate
from mmcap.experiment import Experiment, checkpoint_manager, write_json


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str
) -> dict[str, float]:
  """Trains (resuming from `workdir` if it holds a checkpoint) and evaluates."""
  experiment = Experiment(config, workdir)
  os.makedirs(workdir, exist_ok=True)
  is_main = jax.process_index() == 0
  if is_main:
    experiment.vocab.save(os.path.join(workdir, records.VOCAB_FILE))
    write_json(os.path.join(workdir, records.INFO_FILE), experiment.info)
    write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  manager = checkpoint_manager(workdir)
  state = experiment.restore(manager)
  if state is None:
    state, start_step = experiment.initial_state(), 0
  else:
    start_step = manager.latest_step()
    print(f'resumed from checkpoint at step {start_step}')

  writer = metric_writers.SummaryWriter(os.path.join(workdir, 'tensorboard'))
  batches = pipeline.train_batches(
      experiment.dataset_dir,
      experiment.info,
      experiment.train_splits,
      config.batch_size // jax.process_count(),
      config.dataset.max_steps,
      config.dataset.shuffle_buffer,
      seed=config.seed,
      skip_batches=start_step,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  pending, last_time, last_step = [], time.perf_counter(), start_step
  for step in range(start_step + 1, config.num_train_steps + 1):
    batch = experiment.to_global(next(batches))
    state, step_metrics = experiment.train_step(state, batch)
    pending.append(step_metrics)
    if step % config.log_every_steps == 0 or step == config.num_train_steps:
      fetched = jax.device_get(pending)
      pending = []
      now = time.perf_counter()
      scalars = {
          k: float(np.mean([m[k] for m in fetched]))
          for k in ('loss', 'nll_per_token', 'grad_norm', 'param_norm')
      }
      if not np.isfinite(scalars['loss']):
        raise FloatingPointError(
            f'loss is {scalars["loss"]} at step {step}; stopping'
        )
      scalars['perplexity'] = float(np.exp(scalars.pop('nll_per_token')))
      scalars['steps_per_sec'] = (step - last_step) / (now - last_time)
      scalars['tokens_per_sec'] = sum(m['num_tokens'] for m in fetched) / (
          now - last_time
      )
      last_time, last_step = now, step
      writer.write_scalars(step, scalars)
      if is_main:
        print(
            f'step {step}: loss {scalars["loss"]:.4f} perplexity'
            f' {scalars["perplexity"]:.3f} steps/s {scalars["steps_per_sec"]:.1f}'
            f' tokens/s {scalars["tokens_per_sec"]:.0f}',
            flush=True,
        )
    if step % config.checkpoint_every_steps == 0 or step == config.num_train_steps:
      manager.save(step, args=ocp.args.StandardSave(state))
  manager.wait_until_finished()

  results = evaluate(experiment, state.params, int(state.step))
  writer.write_scalars(int(state.step), {f'final/{k}': v for k, v in results.items()})
  writer.flush()
  if is_main:
    write_json(os.path.join(workdir, 'results.json'), results)
    print('results:', json.dumps(results, indent=2))
  return results
