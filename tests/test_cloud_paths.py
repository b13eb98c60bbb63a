"""gs:// paths through the real commands: a dataset prepared from captions
and features in a bucket, a run trained, checkpointed, resumed and captioned
with its workdir there. The bucket is tests/fakegcs.py's, on loopback, which
TensorFlow's GCS file system, Orbax's TensorStore and google-cloud-storage
all reach as they would reach Google's.
"""

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

from etils import epath
import numpy as np
import pytest
import tensorflow as tf

from mmcap.core import checkpoints
from mmcap.data import prepared
from mmcap.data import sources
from mmcap.errors import InputError
from mmcap.files import atomic_write, write_json

from conftest import FLICKR8K_DIR, REPO, run_command_lines, run_python

import fakegcs

TINY = '--config=tests/tiny_config.py'


class Bucket:
  """The objects of the fake server's bucket, read and written over its
  plain HTTP API (no proxy, no TensorFlow in the test process)."""

  def __init__(self, port: int):
    self.url = f'http://127.0.0.1:{port}'
    self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

  def put(self, name: str, data: bytes) -> None:
    query = urllib.parse.urlencode({'uploadType': 'media', 'name': name})
    request = urllib.request.Request(f'{self.url}/upload/storage/v1/b/bucket/o?{query}',
                                     data=data, method='POST')
    self.opener.open(request).close()

  def get(self, name: str) -> bytes:
    quoted = urllib.parse.quote(name, safe='')
    with self.opener.open(f'{self.url}/storage/v1/b/bucket/o/{quoted}?alt=media') as response:
      return response.read()

  def names(self, prefix: str) -> list[str]:
    query = urllib.parse.urlencode({'prefix': prefix})
    with self.opener.open(f'{self.url}/storage/v1/b/bucket/o?{query}') as response:
      return sorted(item['name'] for item in json.load(response).get('items', []))


def _examples(path) -> list:
  """A TFRecord file's examples (the bytes of one example may differ
  between processes: protobuf's map order)."""
  return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


@pytest.fixture(scope='module')
def gcs(tmp_path_factory):
  """(the bucket, the environment that sends a process's GCS clients to it)."""
  certs = str(tmp_path_factory.mktemp('certs'))
  fakegcs.make_certificates(certs)
  server = subprocess.Popen([sys.executable, 'tests/fakegcs.py', certs, 'bucket'], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
  try:
    port = int(server.stdout.readline().split()[1])
    yield Bucket(port), fakegcs.client_env(port, certs)
  finally:
    server.kill()
    server.wait()


def test_prepare_train_resume_and_caption_with_everything_in_a_bucket(
    gcs, flickr8k_images, flickr8k_dataset, tmp_path):
  bucket, env = gcs
  for name in os.listdir(FLICKR8K_DIR):
    with open(os.path.join(FLICKR8K_DIR, name), 'rb') as f:
      bucket.put(f'in/flickr8k/{name}', f.read())
  features = tmp_path / 'features.npy'  # what conftest's flickr8k_dataset was prepared from
  np.save(features, np.random.default_rng(0).normal(
      size=(len(flickr8k_images), 32)).astype(np.float32))
  bucket.put('in/features.npy', features.read_bytes())

  prepared = run_python(
      '-m', 'mmcap.prepare', '--flickr8k_dir=gs://bucket/in/flickr8k',
      '--features=gs://bucket/in/features.npy', '--output_dir=gs://bucket/prepared',
      '--min_word_count=2', '--vocab_splits=train', '--images_per_shard=16', env=env)
  assert prepared.returncode == 0, prepared.stderr[-3000:]
  local = sorted(os.listdir(flickr8k_dataset))
  assert bucket.names('prepared/') == [f'prepared/{name}' for name in local]
  for name in local:
    if name.endswith('.tfrecord'):
      (tmp_path / name).write_bytes(bucket.get(f'prepared/{name}'))
      assert _examples(tmp_path / name) == _examples(os.path.join(flickr8k_dataset, name)), name
  with open(os.path.join(flickr8k_dataset, 'vocab.json')) as f:
    assert json.loads(bucket.get('prepared/vocab.json')) == json.load(f)

  # 4 steps, then resumed to 6, in the bucket; 6 at once on local disk, from
  # the same records: the resumed run must end identical.
  gs_run = [TINY, '--workdir=gs://bucket/run', '--config.dataset.source=prepared',
            '--config.dataset.dir=gs://bucket/prepared']
  local_run = [TINY, f'--workdir={tmp_path}/run', '--config.dataset.source=prepared',
               f'--config.dataset.dir={flickr8k_dataset}', '--config.num_train_steps=6']
  evaluate_none = ['--config.best_metric=', *(f'--config.evals.{name}.enabled=False' for name in (
      'val_perplexity', 'test_captions', 'test_perplexity'))]
  cases = [
      gs_run + ['--config.num_train_steps=4', *evaluate_none],  # the resumed run evaluates
      gs_run + ['--config.num_train_steps=6'],
      local_run,
      gs_run + ['--mode=caption', '--split=test', '--output=gs://bucket/captions.json'],
      [TINY, '--workdir=gs://bucket/run2', '--config.dataset.source=prepared',
       '--config.dataset.dir=gs://bucket/nothing'],
  ]
  results = run_command_lines('mmcap.main', cases, tmp_path, env=env)
  for case, result in zip(cases[:4], results):
    assert result['status'] == 0, (case, result['stderr'][-3000:])
  assert results[4]['status'] == 2
  assert ('error: gs://bucket/nothing/metadata.json: not found; is'
          " 'gs://bucket/nothing' a prepared dataset") in results[4]['stderr']

  assert bucket.names('run/checkpoints/6/')
  assert not bucket.names('run2/')
  gs_results = json.loads(bucket.get('run/results.json'))
  with open(tmp_path / 'run' / 'results.json') as f:
    assert gs_results == json.load(f)
  with open(tmp_path / 'run' / 'captions_test.json') as f:
    local_captions = json.load(f)
  assert json.loads(bucket.get('run/captions_test.json')) == local_captions
  assert json.loads(bucket.get('captions.json')) == local_captions
  assert bucket.names('run/tensorboard/events.out.tfevents')


# The URL branches of the writers and readers, in this process.


@pytest.fixture
def gcs_here(gcs, monkeypatch):
  """This process's GCS clients sent to the fake bucket (TensorFlow reads
  the settings when it first reaches gs://, which no other test file does)."""
  for name, value in gcs[1].items():
    monkeypatch.setenv(name, value)


def test_a_url_directory_is_written_in_place_and_removed_when_the_block_fails(gcs, gcs_here):
  with pytest.raises(RuntimeError):
    with prepared.atomic_directory('gs://bucket/failing/prepared') as directory:
      assert directory == 'gs://bucket/failing/prepared'
      (epath.Path(directory) / 'train-00000-of-00001.tfrecord').write_bytes(b'x')
      raise RuntimeError('a failure while writing')
  assert not gcs[0].names('failing/')  # (TensorFlow's stat cache would still say it exists)
  with prepared.atomic_directory('gs://bucket/fine/prepared') as directory:
    write_json(f'{directory}/metadata.json', {'splits': {}})
  assert json.loads(epath.Path('gs://bucket/fine/prepared/metadata.json').read_text()) == {
      'splits': {}}
  with pytest.raises(InputError, match='gs://bucket/fine/prepared: output directory already exists'):
    prepared.check_new_directory('gs://bucket/fine/prepared')


def test_a_url_file_appears_whole_or_not_at_all(gcs_here):
  write_json('gs://bucket/files/results.json', {'a': 1})
  with pytest.raises(RuntimeError):
    with atomic_write('gs://bucket/files/results.json') as f:
      f.write('{"half": ')
      raise RuntimeError('a failure while writing')
  assert json.loads(epath.Path('gs://bucket/files/results.json').read_text()) == {'a': 1}
  assert [p.name for p in epath.Path('gs://bucket/files').iterdir()] == ['results.json']


def test_a_step_in_a_bucket_counts_once_its_commit_file_is_written(gcs_here):
  # Orbax writes a step in place in a bucket, commit_success.txt last.
  epath.Path('gs://bucket/ck/checkpoints/2/commit_success.txt').write_text('')
  epath.Path('gs://bucket/ck/checkpoints/4/default/_METADATA').write_text('{}')  # cut short
  assert checkpoints.saved_steps('gs://bucket/ck/checkpoints') == [2]


def test_a_url_npy_file_is_read_whole_and_checked(gcs_here):
  values = np.arange(12, dtype=np.float32).reshape(3, 4)
  with epath.Path('gs://bucket/npy/features.npy').open('wb') as f:
    np.save(f, values)
  np.testing.assert_array_equal(sources.read_npy('gs://bucket/npy/features.npy', 'missing'), values)
  data = epath.Path('gs://bucket/npy/features.npy').read_bytes()
  epath.Path('gs://bucket/npy/truncated.npy').write_bytes(data[:-4])
  with pytest.raises(InputError, match=r'gs://bucket/npy/truncated.npy: truncated: \d+ bytes'):
    sources.read_npy('gs://bucket/npy/truncated.npy', 'missing')
  with pytest.raises(InputError, match='gs://bucket/npy/nothing.npy: features file not found'):
    sources.read_npy('gs://bucket/npy/nothing.npy', 'features file not found')
