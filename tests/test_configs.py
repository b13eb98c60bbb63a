"""Every config in configs/ loads, builds its model and takes a train step."""

import importlib.util
import os

import jax
import numpy as np
import pytest

from conftest import REPO, build_run, tiny_config
from tiny_activity_config import get_config as tiny_activity_config
import tiny_video_config

CONFIGS = sorted(n for n in os.listdir(os.path.join(REPO, 'configs')) if n.endswith('.py'))


def load(name):
  spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(REPO, 'configs', name))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def test_all_paper_configs_are_present():
  assert set(CONFIGS) >= {'demo.py', 'lrcn_coco.py', 'lrcn_flickr30k.py', 'mrnn_iaprtc12.py',
                          'mrnn_flickr8k.py', 'mrnn_flickr30k.py', 'mrnn_coco.py'} | ACTIVITY | VIDEO


ACTIVITY = {'demo_activity.py', 'lrcn_ucf101_rgb.py', 'lrcn_ucf101_flow.py',
            'singleframe_ucf101_rgb.py', 'singleframe_ucf101_flow.py'}
VIDEO = {'demo_video.py', 's2vt_msvd.py', 's2vt_msrvtt.py', 'video_meanpool_msvd.py'}


@pytest.mark.parametrize('name', CONFIGS)
def test_every_config_names_its_task(name):
  task = 'activity' if name in ACTIVITY else 'video' if name in VIDEO else 'captioning'
  assert load(name).task == task


def test_paper_hyperparameters():
  lrcn = load('lrcn_coco.py')
  assert (lrcn.model.name, lrcn.model.variant) == ('lrcn', '2f')
  assert lrcn.model.embed_dim == lrcn.model.hidden_dim == 1000
  assert lrcn.optimizer.learning_rate == 0.01 and lrcn.optimizer.momentum == 0.9
  assert (lrcn.optimizer.lr_decay_factor, lrcn.optimizer.lr_decay_steps) == (0.5, 20_000)
  assert lrcn.num_train_steps == 110_000 and lrcn.batch_size == 100
  assert lrcn.optimizer.grad_clip_norm == 10 and lrcn.model.dropout == 0.5
  assert lrcn.dataset.max_steps == 20 and lrcn.dataset.train_splits == 'train,restval'
  # Caffe's loss_weight: 20, and the output bias's lr_mult 2, decay_mult 0.
  assert lrcn.loss_weight == 20 and lrcn.loss_normalization == 'token'
  assert lrcn.optimizer.param_multipliers == (('^output/.*/bias$', 2.0, 0.0),)
  assert lrcn.best_metric == 'val/perplexity' and lrcn.evals.val_perplexity.every_steps > 0
  assert load('lrcn_flickr30k.py').loss_weight == 20
  mrnn = load('mrnn_iaprtc12.py')
  assert mrnn.model.name == 'mrnn' and mrnn.loss_normalization == 'token'  # per word
  assert (mrnn.model.embed_dim, mrnn.model.hidden_dim, mrnn.model.multimodal_dim) == (128, 256, 512)
  assert mrnn.model.dropout == 0.5 and mrnn.loss_weight == 1
  assert mrnn.optimizer.weight_decay > 0  # the cost's L2 term
  demo = load('demo.py')
  assert demo.loss_weight == 1 and demo.optimizer.param_multipliers == ()


def test_activity_reference_solvers():
  rgb, flow = load('lrcn_ucf101_rgb.py'), load('lrcn_ucf101_flow.py')
  assert (rgb.model.name, rgb.model.hidden_dim, rgb.model.input_dropout) == ('lrcn', 256, 0.9)
  assert (rgb.dataset.clip_length, rgb.dataset.eval_stride, rgb.batch_size) == (16, 8, 24)
  assert (rgb.optimizer.learning_rate, rgb.optimizer.weight_decay) == (1e-3, 5e-3)
  assert (rgb.optimizer.lr_decay_factor, rgb.optimizer.lr_decay_steps) == (0.1, 10_000)
  assert (rgb.optimizer.grad_clip_norm, rgb.num_train_steps) == (5, 30_000)
  assert (flow.dataset.stream, flow.optimizer.grad_clip_norm) == ('flow', 15)
  assert (flow.optimizer.lr_decay_steps, flow.num_train_steps) == (20_000, 70_000)
  single = load('singleframe_ucf101_rgb.py')
  assert (single.model.name, single.model.hidden_dim) == ('single_frame', 4096)
  assert (single.dataset.clip_length, single.batch_size, single.num_train_steps) == (1, 128, 5000)
  assert single.optimizer.grad_clip_norm == 0  # none
  assert load('singleframe_ucf101_flow.py').dataset.stream == 'flow'


def test_video_reference_solvers():
  s2vt = load('s2vt_msvd.py')
  assert (s2vt.model.name, s2vt.dataset.video_input, s2vt.dataset.frame_stride) == (
      's2vt', 'frames', 1)
  assert (s2vt.model.embed_dim, s2vt.model.hidden_dim, s2vt.model.dropout) == (500, 1000, 0.0)
  assert s2vt.dataset.max_frames + s2vt.dataset.max_steps == 80  # the reference's streams
  assert (s2vt.optimizer.learning_rate, s2vt.optimizer.lr_decay_steps) == (0.01, 20_000)
  assert (s2vt.num_train_steps, s2vt.batch_size, s2vt.loss_weight) == (25_000, 32, 20)
  assert s2vt.optimizer.grad_clip_norm == 10 and s2vt.optimizer.weight_decay == 0
  pool = load('video_meanpool_msvd.py')
  assert (pool.model.name, pool.model.variant, pool.dataset.video_input) == (
      'lrcn', '2f', 'mean_pool')
  assert pool.dataset.max_frames == 0 and pool.num_train_steps == 60_000


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_takes_a_train_step(name, tmp_path):
  config = load(name)
  tiny = (tiny_activity_config() if name in ACTIVITY else
          tiny_video_config.get_config() if name in VIDEO else tiny_config())
  if name in ACTIVITY:
    config.dataset.source, config.dataset.demo = 'demo', tiny.dataset.demo
    config.model.hidden_dim = 16
  elif name in VIDEO:
    config.dataset.source, config.dataset.demo = 'demo', tiny.dataset.demo
    config.model.embed_dim, config.model.hidden_dim = 8, 16
  else:
    shrink_captioning(config, tiny)
  config.batch_size = config.eval_batch_size = 8
  # Unrolled recurrences compile 3x slower on CPU and compute the same
  # numbers (test_models), so the step is taken rolled.
  config.model.unroll = 1
  task, trainer, placement = build_run(config, str(tmp_path))
  state = trainer.initial_state(config.seed)
  initial_params = jax.device_get(state.params)
  batches = task.train_batches(8, skip_batches=0)
  new_state, metrics = trainer.train_step(state, placement.to_global(next(batches)))
  assert int(new_state.step) == 1 and np.isfinite(float(metrics['loss']))
  assert not jax.tree.all(jax.tree.map(np.array_equal, new_state.params, initial_params))


def shrink_captioning(config, tiny):
  config.dataset.source = 'demo'
  config.dataset.demo = tiny.dataset.demo
  config.dataset.train_splits = 'train'
  config.dataset.max_steps = tiny.dataset.max_steps
  for field in ('embed_dim', 'hidden_dim', 'multimodal_dim'):
    config.model[field] = tiny.model[field]
