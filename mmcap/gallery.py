r"""A caption gallery: one self-contained HTML page for a trained run.

  python -m mmcap.gallery --workdir=runs/demo
  python -m mmcap.gallery --workdir=runs/coco --images_dir=data/coco/images

Shows each image (or video) of a split beside the caption the run wrote for
it (WORKDIR/captions_<split>.json, from the final evaluation or from
--mode=caption via --captions), its references and its BLEU-4 and CIDEr-D,
scored as the run's captions evaluator scores them (the mean of the CIDEr-D
column is the run's <split>/cider). The page sorts by score or id and
filters by text or a minimum CIDEr-D. Pictures: the demo's scenes drawn from
their descriptions; a prepared dataset's image files from --images_dir (each
at DIR/<file name> or DIR/<folder>/<file name>, as COCO's train2014/ and
val2014/), as embedded thumbnails; videos by name. Writes --output (default
WORKDIR/gallery_<split>.html), needing nothing beside it.
"""

import html
import os

from absl import app
from absl import flags
from etils import epath
import ml_collections

from mmcap import errors
from mmcap.caption import CAPTION_TASKS
from mmcap.core.placement import Placement
from mmcap.data import demo
from mmcap.data import pipeline
from mmcap.data import prepared
from mmcap.errors import InputError
from mmcap.evaluation import gallery as page_lib
from mmcap.evaluation import metrics
from mmcap.files import atomic_write, check_output_path

_WORKDIR = flags.DEFINE_string('workdir', None, 'The trained run.')
_SPLIT = flags.DEFINE_string('split', 'test', 'The split its captions are of.')
_CAPTIONS = flags.DEFINE_string(
    'captions', None, 'The captions to show (default WORKDIR/captions_<split>.json).')
_IMAGES_DIR = flags.DEFINE_string(
    'images_dir', None, "The dataset's image files, for thumbnails (not for the demo).")
_OUTPUT = flags.DEFINE_string('output', None, 'The page (default WORKDIR/gallery_<split>.html).')
_THUMBNAIL = flags.DEFINE_integer('thumbnail_size', 192, 'Longest side of a thumbnail, pixels.')
flags.mark_flags_as_required(['workdir'])


def gallery(workdir: str, split: str, captions_path: str | None = None,
            images_dir: str | None = None, output: str | None = None,
            thumbnail_size: int = 192) -> str:
  """Writes the page (see the module docstring); returns its path."""
  if thumbnail_size < 16:
    raise InputError(f'--thumbnail_size={thumbnail_size}: expected at least 16')
  config_path = os.path.join(workdir, 'config.json')
  config = ml_collections.ConfigDict(prepared.read_json(
      config_path, 'is --workdir a run that mmcap.main trained?'))
  output = output or os.path.join(workdir, f'gallery_{split}.html')
  check_output_path(output, '--output')
  if config.get('task') not in CAPTION_TASKS:
    raise InputError(
        f'{config_path}: task {config.get("task")!r}: a gallery shows the captions of'
        f' {list(CAPTION_TASKS)} runs')
  demo_images = config.task == 'captioning' and config.dataset.source == 'demo'
  if images_dir is not None and (demo_images or config.task != 'captioning'):
    raise InputError(f'--images_dir={images_dir}: only for a prepared image dataset')
  if images_dir is not None and not epath.Path(images_dir).is_dir():
    raise InputError(f'--images_dir={images_dir}: not a directory')
  task = CAPTION_TASKS[config.task](config, workdir, Placement.over_all_devices())
  examples = task.describer.examples
  references = pipeline.read_references(examples, split)  # refuses an unknown or empty split
  captions = page_lib.read_captions(
      captions_path or os.path.join(workdir, f'captions_{split}.json'), references)
  references = {i: references[i] for i in sorted(captions)}
  evaluator = [e for e in config.evals.values() if e.kind == 'captions' and e.split == split]
  use_java = None if not evaluator or evaluator[0].get('java', True) else False
  scores = metrics.per_image_scores(references, captions, use_java=use_java)
  names = pipeline.read_names(examples, split)
  if demo_images:
    scenes = demo.scenes(config.dataset.demo)
    pictures = {i: page_lib.scene_svg(scenes[i]) for i in captions}
  elif images_dir is not None:
    pictures = {i: page_lib.thumbnail(page_lib.image_path(images_dir, names[i]), thumbnail_size)
                for i in captions}
  else:
    pictures = {i: f'<div class="name">{html.escape(names[i])}</div>' for i in captions}
  page = page_lib.page(workdir, split, captions, references, scores, names, pictures)
  with atomic_write(output) as f:
    f.write(page)
  return output


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  errors.start_command(argv)
  output = gallery(_WORKDIR.value, _SPLIT.value, _CAPTIONS.value, _IMAGES_DIR.value,
                   _OUTPUT.value, _THUMBNAIL.value)
  print(f'gallery -> {output}')


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
