"""The Colab notebook (notebooks/colab.py, jupytext percent format, and the
notebooks/colab.ipynb generated from it): run top to bottom on CPU at
reduced size, as plain Python, and the .ipynb in step with the .py."""

import glob
import json
import os
import re
import subprocess
import sys

import jupytext
import nbformat
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_PY = os.path.join(REPO, 'notebooks', 'colab.py')
NOTEBOOK_IPYNB = os.path.join(REPO, 'notebooks', 'colab.ipynb')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """The notebook run from an empty directory, at reduced size, on CPU."""
  cwd = tmp_path_factory.mktemp('colab')
  env = {**os.environ, 'MMCAP_NOTEBOOK_SMALL': '1', 'JAX_PLATFORMS': 'cpu'}
  process = subprocess.run(
      [sys.executable, NOTEBOOK_PY], cwd=cwd, env=env, capture_output=True,
      text=True, timeout=600,
  )
  return process, os.path.join(cwd, 'runs', 'colab_demo')


def test_runs_top_to_bottom(run):
  process, workdir = run
  assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-5000:]
  out = process.stdout
  # Nothing installed or cloned: mmcap is importable from this checkout,
  # whose configs/ the notebook uses.
  assert 'mmcap is already installed: nothing to install' in out
  assert f'configs from {REPO}' in out
  assert re.search(r'^jax \S+, 1 device\(s\), platform CPU:$', out, re.M)
  assert 'CPU: the demo trains' in out
  assert 'step 60: loss' in out  # the reduced size
  assert re.search(r'^test perplexity +\d', out, re.M)


def test_shows_captions_beside_references(run):
  process, workdir = run
  with open(os.path.join(workdir, 'captions_test.json')) as f:
    generated = json.load(f)
  assert len(generated) == 24
  first = generated[0]
  assert f'image {first["image_id"]}\n  model:     {first["caption"]}\n  reference: ' in process.stdout
  assert process.stdout.count('  model:     ') == 5
  assert 'gallery: runs/colab_demo/gallery_test.html' in process.stdout
  with open(os.path.join(workdir, 'gallery_test.html')) as f:
    assert f.read().count('<tr data-id=') == 24


def test_retrieval_for_one_example(run):
  process, _ = run
  out = process.stdout
  assert '24 images x 120 sentences scored' in out
  sentences = re.search(r'^image \d+ \(.+\): top 5 sentences\n((?:  \d\. [✓✗] .+\n){5})', out, re.M)
  images = re.search(r'^sentence ".+": top 5 images\n((?:  \d\. [✓✗] .+\n){5})', out, re.M)
  assert sentences and images, out[-3000:]
  # The model is barely trained, but its likelihood already knows the image.
  assert '✓' in sentences.group(1) and '✓' in images.group(1)
  assert re.search(r"\{'i2t_r1': [\d.]+, ", out)


def test_writes_tensorboard_logs(run):
  _, workdir = run
  assert glob.glob(os.path.join(workdir, 'tensorboard', 'events.out.tfevents.*'))


def _cells(notebook):
  return [(cell.cell_type, cell.source.strip(), cell.get('metadata', {}).get('tags', []))
          for cell in notebook.cells]


def test_ipynb_is_generated_from_py():
  """`jupytext --update --to ipynb notebooks/colab.py` reproduces the .ipynb's cells,
  which hold no outputs."""
  from_py = jupytext.read(NOTEBOOK_PY)
  ipynb = nbformat.read(NOTEBOOK_IPYNB, as_version=4)
  assert _cells(ipynb) == _cells(from_py), (
      'notebooks/colab.ipynb is out of date: jupytext --update --to ipynb notebooks/colab.py'
  )
  assert any('parameters' in tags for _, _, tags in _cells(ipynb))  # papermill's
  for cell in ipynb.cells:
    if cell.cell_type == 'code':
      assert not cell.outputs and cell.execution_count is None
  assert ipynb.metadata.get('accelerator') == 'GPU'
