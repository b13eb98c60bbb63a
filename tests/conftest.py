"""Shared fixtures: tiny configs and a prepared slice of the real Flickr8k."""

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable

# One JAX compilation cache for the whole run, set before JAX is imported so
# that every xdist worker and every `python -m mmcap...` the tests start
# share it: the tests compile the same few tiny computations hundreds of
# times, and a cached executable is the very code a compile would give.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='mmcap-tests-jax-cache-')
  os.environ['MMCAP_TESTS_OWN_JAX_CACHE'] = '1'  # removed when the run ends
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'

# No test reaches Google Cloud: the machine's credentials, if any, are hidden
# (gs:// tests use tests/fakegcs.py, which needs none).
os.environ.pop('GOOGLE_APPLICATION_CREDENTIALS', None)
os.environ['CLOUDSDK_CONFIG'] = os.path.join(os.environ['JAX_COMPILATION_CACHE_DIR'], 'no-gcloud')
os.environ['NO_GCE_CHECK'] = 'true'

import ml_collections
import numpy as np
import pytest

from mmcap import train
from mmcap.core.placement import Placement
from mmcap.core.trainer import Trainer
from mmcap.data import records
from mmcap.data import sources
from mmcap.tasks.captioning.config import default_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLICKR8K_DIR = os.path.join(REPO, 'tests', 'fixtures', 'flickr8k_text')


def tiny_config() -> ml_collections.ConfigDict:
  """The demo setup shrunk to run in seconds on one CPU core."""
  config = default_config()
  config.dataset.source = 'demo'
  config.dataset.train_splits = 'train'
  config.dataset.max_steps = 12
  config.dataset.shuffle_buffer = 100
  config.dataset.demo.feature_dim = 16
  config.dataset.demo.num_train_images = 48
  config.dataset.demo.num_val_images = 8
  config.dataset.demo.num_test_images = 10
  config.model.embed_dim = 8
  config.model.hidden_dim = 16
  config.model.multimodal_dim = 16
  config.model.dropout = 0.1
  # Rolled: the default, fully unrolled recurrence compiles twice as slowly
  # on CPU and computes the same numbers (test_models); configs/demo.py's
  # runs (test_cli, make demo) keep it unrolled.
  config.model.unroll = 1
  config.optimizer.name = 'adam'
  config.optimizer.learning_rate = 1e-2
  config.batch_size = 8
  config.eval_batch_size = 8
  config.num_train_steps = 4
  config.log_every_steps = 2
  config.checkpoint_every_steps = 2
  config.evals.test_captions.num_samples = 2
  config.evals.test_captions.java = False  # ~10 s per evaluation; tested in test_metrics
  return config


def build_run(config: ml_collections.ConfigDict, workdir: str):
  """The task, trainer and placement of a config, as train_and_evaluate
  builds them."""
  placement = Placement.over_all_devices()
  task = train.build_task(config, workdir, placement)
  return task, Trainer(task, config, placement), placement


# The slowest test files, slowest first: pytest-xdist hands out whole files
# (--dist loadfile) in collection order, so starting these first leaves the
# short files to fill the end, rather than one worker finishing a long file
# alone.
SLOW_FILES = ('test_multiprocess', 'test_video', 'test_train', 'test_activity', 'test_cloud_paths',
              'test_reliability', 'test_retrieval', 'test_benchmark', 'test_extract',
              'test_notebook', 'test_gallery', 'test_bad_input', 'test_cli', 'test_caption',
              'test_metrics', 'test_configs')


def pytest_collection_modifyitems(items):
  def rank(item):
    name = item.module.__name__.rpartition('.')[2]
    return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)

  items.sort(key=rank)  # stable: each file's tests keep their order


def pytest_unconfigure(config):
  if os.environ.get('MMCAP_TESTS_OWN_JAX_CACHE') and not hasattr(config, 'workerinput'):
    shutil.rmtree(os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)


@pytest.fixture
def config() -> ml_collections.ConfigDict:
  return tiny_config()


def run_python(*args: str, env: dict | None = None):
  """Runs `python args` from the repo root; returns the completed process."""
  return subprocess.run(
      [sys.executable, *args],
      cwd=REPO,
      capture_output=True,
      text=True,
      env={**os.environ, **(env or {})},
      timeout=600,
  )


def with_flags(defaults: dict[str, str], flags: list[str], directory) -> list[str]:
  """A command line: `defaults` ({'--flag': value}) with `flags`
  ('--flag=value', '{d}' standing for `directory`) put over them."""
  given = dict(defaults)
  for flag in flags:
    name, value = flag.split('=', 1)
    given[name] = value.format(d=directory)
  return [f'{k}={v}' for k, v in given.items()]


def run_command_lines(module: str, cases: list[list[str]], directory,
                      env: dict | None = None) -> list[dict]:
  """Each command line of `module` run as its own process would run it, all
  from one process (tests/cli_driver.py), in the environment with `env`
  added: its exit status, stdout, stderr and uncaught traceback (or None)."""
  cases_file, results_file = os.path.join(directory, 'cases.json'), os.path.join(
      directory, 'results.json')
  with open(cases_file, 'w') as f:
    json.dump(cases, f)
  result = run_python('tests/cli_driver.py', module, cases_file, results_file, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(results_file) as f:
    return json.load(f)


@pytest.fixture(scope='session')
def flickr8k_images() -> list[sources.Image]:
  return sources.read_flickr8k_text(FLICKR8K_DIR)


@pytest.fixture(scope='session')
def flickr8k_dataset(tmp_path_factory, flickr8k_images) -> str:
  """The real Flickr8k slice with random 32-d features, prepared on disk."""
  root = tmp_path_factory.mktemp('flickr8k')
  features = root / 'features.npy'
  rng = np.random.default_rng(0)
  np.save(features, rng.normal(size=(len(flickr8k_images), 32)).astype(np.float32))
  output_dir = str(root / 'prepared')
  records.prepare_dataset(
      FLICKR8K_DIR,
      flickr8k_images,
      str(features),
      output_dir,
      min_word_count=2,
      vocab_splits=('train',),
      images_per_shard=16,
  )
  return output_dir


def write_built_tfds(name: str, data_dir, splits: dict[str, Iterable[dict]]) -> None:
  """The TFDS dataset `name` (NAME or NAME/CONFIG) as `tfds build` leaves it
  in `data_dir`, with its real features: one shard per split, of the given
  examples (feature dicts)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = tfds.builder(name, data_dir=str(data_dir))
  os.makedirs(builder.data_dir)
  for split, examples in splits.items():
    path = os.path.join(builder.data_dir, f'{builder.name}-{split}.tfrecord-00000-of-00001')
    with tf.io.TFRecordWriter(path) as writer:
      for example in examples:
        writer.write(builder.info.features.serialize_example(example))
  tfds.folder_dataset.write_metadata(
      data_dir=builder.data_dir, features=builder.info.features, check_data=False)


def write_ucf101(data_dir, splits: dict[str, list[tuple[np.ndarray, int]]],
                 config: str = 'ucf101_1') -> None:
  """TFDS's ucf101 (`config`) as `tfds build` leaves it in `data_dir`,
  holding for each split its (frames uint8 [T, H, W, 3], label) videos."""
  write_built_tfds(f'ucf101/{config}', data_dir, {
      split: [{'video': frames, 'label': label} for frames, label in videos]
      for split, videos in splits.items()})


def write_coco_captions(data_dir, splits: dict[str, list[dict]]) -> None:
  """TFDS's coco_captions as `tfds build` leaves it in `data_dir` (objects
  left empty), holding for each split its examples, each {'picture': uint8
  [H, W, 3], 'filename', 'id', 'texts': [caption, ...]}; caption ids count
  up over all of them."""
  no_objects = {'area': np.zeros([0], np.int64), 'bbox': np.zeros([0, 4], np.float32),
                'id': np.zeros([0], np.int64), 'is_crowd': np.zeros([0], bool),
                'label': np.zeros([0], np.int64)}
  sentids = itertools.count()
  write_built_tfds('coco_captions', data_dir, {
      split: [{'image': example['picture'], 'image/filename': example['filename'],
               'image/id': example['id'], 'objects': no_objects,
               'captions': {'text': example['texts'],
                            'id': [next(sentids) for _ in example['texts']]}}
              for example in examples]
      for split, examples in splits.items()})
