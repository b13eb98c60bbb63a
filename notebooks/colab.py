# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     name: mmcap on Colab
#     provenance: []
#   jupytext:
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # mmcap on Colab: train the demo captioner, caption, retrieve
#
# This notebook installs mmcap, checks which accelerator the runtime has,
# trains LRCN-2f on mmcap's built-in demo dataset (generated on the spot, no
# download), shows TensorBoard, prints a few captions beside their references,
# shows the caption gallery (every test scene with its caption, references and
# scores) and ranks sentences and images by the model's likelihood for one
# example.
#
# It is kept as `notebooks/colab.py` (jupytext "percent" format, the file to
# review and edit) and `notebooks/colab.ipynb`, generated from it by
# `jupytext --update --to ipynb notebooks/colab.py`. The test suite runs the
# `.py` top to bottom on CPU at reduced size (`tests/test_notebook.py`).
#
# **Runtime.** Runtime → Change runtime type: a GPU or TPU, or CPU. All three
# work; see the runtime check below for what to expect.

# %% [markdown]
# ## Parameters
#
# `REPO_URL` is the git repository mmcap is installed from, and the source of
# the demo config (`configs/demo.py` is not part of the installed package).
# **Replace the placeholder** with the repository's address before running on
# Colab. Where mmcap is already installed from a checkout (`pip install -e .`)
# or the notebook runs inside one, nothing is cloned or installed.
#
# The other parameters are the demo's. The test suite sets
# `MMCAP_NOTEBOOK_SMALL=1` to run everything at reduced size on CPU; that is the
# only thing the environment changes.

# %% tags=["parameters"]
import os

REPO_URL = 'https://github.com/OWNER/mmcap'  # PLACEHOLDER: the mmcap repository
CLONE_DIR = 'mmcap_repo'  # where a clone goes (not 'mmcap': it would shadow the package)
WORKDIR = 'runs/colab_demo'  # a new one for each new config: a run resumes from its workdir
NUM_TRAIN_STEPS = 1500  # the demo's
NUM_TRAIN_IMAGES = 3000  # demo scenes; 300 validation and 300 test scenes beside them
NUM_EVAL_IMAGES = 300
NUM_CAPTIONS_SHOWN = 5
JAVA_METRICS = True  # coco-caption's Java tools where Java is installed (METEOR); False: ~10 s faster

if os.environ.get('MMCAP_NOTEBOOK_SMALL'):  # the test suite's reduced size
  NUM_TRAIN_STEPS, NUM_TRAIN_IMAGES, NUM_EVAL_IMAGES, JAVA_METRICS = 60, 200, 24, False

# %% [markdown]
# ## Install
#
# The demo config comes from a checkout of the repository: the one mmcap is
# imported from if it is an editable install, else the current directory if it
# is a checkout, else a shallow clone of `REPO_URL` into `CLONE_DIR`. mmcap is
# then installed from that checkout if it is not importable yet, with the
# `jax` build for the runtime's accelerator (CUDA 12 on a GPU, libtpu on a TPU)
# in mmcap's supported range. Run this cell before anything imports jax; if
# the session imported another jax before, use Runtime → Restart session and
# run the notebook again (the install is then skipped).

# %%
import glob
import importlib.util
import shutil
import subprocess
import sys


def find_checkout():
  """A directory holding configs/demo.py, or None."""
  spec = importlib.util.find_spec('mmcap')
  candidates = [os.path.dirname(os.path.dirname(spec.origin))] if spec and spec.origin else []
  for path in candidates + ['.', CLONE_DIR]:
    if os.path.isfile(os.path.join(path, 'configs', 'demo.py')):
      return os.path.abspath(path)
  return None


def jax_for_this_runtime():
  """The jax requirement that brings the runtime's accelerator, or None on CPU."""
  if glob.glob('/dev/accel*') or glob.glob('/dev/vfio/[0-9]*') or 'COLAB_TPU_ADDR' in os.environ:
    return 'jax[tpu]>=0.10,<0.11'
  if shutil.which('nvidia-smi'):
    return 'jax[cuda12]>=0.10,<0.11'
  return None


REPO_DIR = find_checkout()
if REPO_DIR is None:
  if 'OWNER' in REPO_URL:
    raise SystemExit('Set REPO_URL in the parameters cell to the mmcap repository.')
  subprocess.run(['git', 'clone', '--quiet', '--depth=1', REPO_URL, CLONE_DIR], check=True)
  REPO_DIR = os.path.abspath(CLONE_DIR)

if importlib.util.find_spec('mmcap') is None:
  requirements = [REPO_DIR] + [r for r in [jax_for_this_runtime()] if r]
  print('pip install', *requirements)
  subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', *requirements], check=True)
  importlib.invalidate_caches()
else:
  print('mmcap is already installed: nothing to install')
print('configs from', REPO_DIR)

# %% [markdown]
# ## Runtime check
#
# mmcap places every batch on all of `jax.devices()` (data parallel). The demo
# model is small (embedding 64, LSTMs of 128), so it does not keep an
# accelerator busy: what a GPU or TPU gains over a CPU here is little beside
# what it gains at the papers' sizes (`benchmarks/RESULTS.md`). The train loop
# prints steps/s and an ETA every 100 steps.

# %%
import jax

devices = jax.devices()
platform = devices[0].platform.upper()
print(f'jax {jax.__version__}, {len(devices)} device(s), platform {platform}:')
for device in devices:
  print('  ', device)
expect = {
    'CPU': 'CPU: the demo trains in about a minute on 2 cores (~30 steps/s), '
           'then evaluates for about a minute.',
    'GPU': 'GPU: every step and evaluation runs on the GPU; the first steps '
           'include compilation.',
    'TPU': 'TPU: the batch of 64 captions is split over the TPU cores; the '
           'first steps include compilation.',
}
print(expect.get(platform, f'{platform}: not a platform mmcap has been run on.'))

# %% [markdown]
# ## The config
#
# `configs/demo.py`'s `get_config()`, loaded from the checkout, with the
# parameters above. Any field can be changed here, as `--config.FIELD=VALUE`
# does on the command line, e.g. `config.model.name = 'mrnn'` (then use a new
# `WORKDIR`).

# %%
from mmcap import train


def load_config(path):
  spec = importlib.util.spec_from_file_location('config_file', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


config = load_config(os.path.join(REPO_DIR, 'configs', 'demo.py'))
config.num_train_steps = NUM_TRAIN_STEPS
config.dataset.demo.num_train_images = NUM_TRAIN_IMAGES
config.dataset.demo.num_val_images = NUM_EVAL_IMAGES
config.dataset.demo.num_test_images = NUM_EVAL_IMAGES
config.evals.test_captions.java = JAVA_METRICS
config.evals.test_captions.num_samples = 0  # the captions are shown below instead
print(config.model)

# %% [markdown]
# ## TensorBoard
#
# Started before training: it reads `WORKDIR/tensorboard` as the train loop
# writes it (loss, perplexity, steps/s, the validation perplexity every 500
# steps, and the final metrics); reload it to see new points. Outside a
# notebook this cell prints the command instead.

# %%
TENSORBOARD_DIR = os.path.join(WORKDIR, 'tensorboard')
os.makedirs(TENSORBOARD_DIR, exist_ok=True)
try:
  ipython = get_ipython()  # defined in Colab and Jupyter
except NameError:
  ipython = None
if ipython is not None:
  ipython.run_line_magic('load_ext', 'tensorboard')
  ipython.run_line_magic('tensorboard', f'--logdir {TENSORBOARD_DIR}')
else:
  print(f'not in a notebook: run `tensorboard --logdir {TENSORBOARD_DIR}` to see the curves')

# %% [markdown]
# ## Train and evaluate
#
# `train.train_and_evaluate` generates the demo dataset into
# `WORKDIR/demo_data`, trains, evaluates on the test split (perplexity, and
# captions by beam search with the coco-caption metrics beside the most
# frequent training caption) and returns what `WORKDIR/results.json` holds. Run
# again, it resumes from the last checkpoint in `WORKDIR` (finished, it only
# evaluates again).

# %%
results = train.train_and_evaluate(config, WORKDIR)

# %%
for name in ('perplexity', 'bleu_4', 'cider'):
  baseline = results.get(f'test/most_frequent_caption_{name}')
  print(f'test {name:10s} {results[f"test/{name}"]:7.3f}',
        f'   most frequent training caption {baseline:.3f}' if baseline is not None else '')

# %% [markdown]
# ## Captions
#
# The captions the evaluation wrote to `WORKDIR/captions_test.json` (a COCO
# results file: image id and caption), beside the references of the same
# scenes. The references come from the task that `train_and_evaluate` builds,
# rebuilt here with the trained parameters, which the retrieval below also
# uses.

# %%
import json

from mmcap.core.placement import Placement
from mmcap.core.trainer import Trainer

placement = Placement.over_all_devices()
task = train.build_task(config, WORKDIR, placement)
params = Trainer(task, config, placement).restore(WORKDIR).params
references = task.describer.references('test')

with open(os.path.join(WORKDIR, 'captions_test.json')) as f:
  generated = json.load(f)
for entry in generated[:NUM_CAPTIONS_SHOWN]:
  print(f'image {entry["image_id"]}')
  print(f'  model:     {entry["caption"]}')
  for reference in references[entry['image_id']][:2]:
    print(f'  reference: {reference}')

# %% [markdown]
# ## The caption gallery
#
# Every test scene, drawn from its description, beside its caption, its
# references and its BLEU-4 and CIDEr-D, in one page that sorts and filters
# (`python -m mmcap.gallery --workdir=WORKDIR` writes the same page).

# %%
from mmcap import gallery

page = gallery.gallery(WORKDIR, 'test')
print(f'gallery: {page}')
if ipython is not None:
  from IPython.display import HTML, display  # pylint: disable=g-import-not-at-top
  with open(page) as f:
    display(HTML(f.read()))

# %% [markdown]
# ## Retrieval by likelihood, for one example
#
# Every (image, sentence) pair of the test split is scored by
# log P(sentence | image) (`mmcap.evaluation.retrieval.pair_scores`, in blocks
# as the retrieval evaluator does). For one image the sentences are ranked by
# that score normalized by the sentence's mean likelihood over all images, as
# LRCN and m-RNN rank them (without it, short generic sentences win for every
# image); for one sentence the images are ranked by the score itself. An image
# is shown by its first reference. ✓ marks a true match: the image's own five
# sentences, or the sentence's own image. Demo scenes can share a sentence
# word for word, so a ✗ may read the same as the truth. A normalized score is
# at most log(number of images): the sentence is likely under this image only.

# %%
import numpy as np

from mmcap.evaluation import retrieval

# Every caption of the test split with its image's feature (image_id -1: padding).
batches = list(task.describer.eval_batches('test', per_caption=True))
split = {k: np.concatenate([b[k] for b in batches]) for k in ('image_id', 'features', 'inputs', 'targets')}
split = {k: v[split['image_id'] >= 0] for k, v in split.items()}
image_ids, first = np.unique(split['image_id'], return_index=True)
sentence_image = np.searchsorted(image_ids, split['image_id'])  # each sentence's image index
sentences = [' '.join(task.vocab.decode(t)) for t in split['targets']]

settings = config.evals.test_retrieval
scores = retrieval.pair_scores(
    task.model, params, split['features'][first], split['inputs'], split['targets'],
    settings.images_per_block, settings.sentences_per_block, placement.data,
)  # log P(S|I), [images, sentences]
print(f'{scores.shape[0]} images x {scores.shape[1]} sentences scored')

# Sentences for image 0, by log P(S|I) - log mean_I' P(S|I').
image = 0
prior = np.log(np.mean(np.exp(scores - scores.max(0)), axis=0)) + scores.max(0)
normalized = scores[image] - prior
print(f'\nimage {image_ids[image]} ({references[image_ids[image]][0]}): top 5 sentences')
for rank, s in enumerate(np.argsort(-normalized)[:5], 1):
  mark = '✓' if sentence_image[s] == image else '✗'
  print(f'  {rank}. {mark} {normalized[s]:7.2f}  {sentences[s]}')

# Images for this image's first sentence, by log P(S|I).
sentence = int(np.flatnonzero(sentence_image == image)[0])
print(f'\nsentence "{sentences[sentence]}": top 5 images')
for rank, i in enumerate(np.argsort(-scores[:, sentence])[:5], 1):
  mark = '✓' if i == sentence_image[sentence] else '✗'
  print(f'  {rank}. {mark} {scores[i, sentence]:7.2f}  image {image_ids[i]}: {references[image_ids[i]][0]}')

# %%
metrics = retrieval.retrieval_metrics(scores, sentence_image)
print({k: round(v, 1) for k, v in metrics.items() if k.endswith(('_r1', '_r5', '_medr'))})
