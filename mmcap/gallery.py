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

import base64
import glob
import html
import json
import os

from absl import app
from absl import flags
from absl import logging
import ml_collections

from mmcap import errors
from mmcap.caption import CAPTION_TASKS
from mmcap.core.files import atomic_write, check_output_path
from mmcap.core.placement import Placement
from mmcap.data import demo
from mmcap.data import pipeline
from mmcap.data import prepared
from mmcap.errors import InputError
from mmcap.evaluation import metrics

_WORKDIR = flags.DEFINE_string('workdir', None, 'The trained run.')
_SPLIT = flags.DEFINE_string('split', 'test', 'The split its captions are of.')
_CAPTIONS = flags.DEFINE_string(
    'captions', None, 'The captions to show (default WORKDIR/captions_<split>.json).')
_IMAGES_DIR = flags.DEFINE_string(
    'images_dir', None, "The dataset's image files, for thumbnails (not for the demo).")
_OUTPUT = flags.DEFINE_string('output', None, 'The page (default WORKDIR/gallery_<split>.html).')
_THUMBNAIL = flags.DEFINE_integer('thumbnail_size', 192, 'Longest side of a thumbnail, pixels.')
flags.mark_flags_as_required(['workdir'])

# The demo's objects as SVG icons in a 40 x 40 box; {c} is the colour.
_ICONS = {
    'ball': '<circle cx="20" cy="20" r="15" fill="{c}"/>',
    'box': '<rect x="6" y="6" width="28" height="28" fill="{c}"/>',
    'cup': '<path d="M8 8h20l-3 26H11z" fill="{c}"/><path d="M28 13h6v10h-7" fill="none"'
           ' stroke="{c}" stroke-width="3"/>',
    'car': '<rect x="3" y="16" width="34" height="12" rx="3" fill="{c}"/><rect x="10" y="8"'
           ' width="18" height="10" fill="{c}"/><circle cx="11" cy="30" r="4" fill="#333"/>'
           '<circle cx="29" cy="30" r="4" fill="#333"/>',
    'tree': '<rect x="17" y="26" width="6" height="12" fill="#7a4a1e"/><path d="M20 2L5 28h30z"'
            ' fill="{c}"/>',
    'house': '<path d="M20 3L3 19h34z" fill="{c}"/><rect x="7" y="19" width="26" height="18"'
             ' fill="{c}"/><rect x="17" y="27" width="6" height="10" fill="#333"/>',
    'dog': '<ellipse cx="18" cy="24" rx="14" ry="8" fill="{c}"/><circle cx="32" cy="14" r="6"'
           ' fill="{c}"/><ellipse cx="36" cy="10" rx="3" ry="6" fill="{c}"/>',
    'cat': '<ellipse cx="18" cy="26" rx="13" ry="8" fill="{c}"/><circle cx="30" cy="15" r="7"'
           ' fill="{c}"/><path d="M24 11l1-9 5 6zM36 11l-1-9-5 6z" fill="{c}"/>',
}
_COLOURS = {'red': '#d62728', 'green': '#2ca02c', 'blue': '#1f77b4', 'yellow': '#f2c500',
            'black': '#111', 'white': '#fff'}


def scene_svg(scene: tuple) -> str:
  """A demo scene (data/demo.py) drawn: each group's objects in its colour,
  the second group placed by the relation (left of, right of, above,
  below)."""
  first, relation, second = scene
  groups = [first] if second is None else [first, second]
  # Where each group goes, in units of one icon: (column, row).
  places = {None: [(0, 0)], 0: [(0, 0), (1, 0)], 1: [(1, 0), (0, 0)],
            2: [(0, 0), (0, 1)], 3: [(0, 1), (0, 0)]}[relation]
  parts = []
  for (obj, colour, count), (column, row) in zip(groups, places):
    for k in range(count + 1):
      x, y = 10 + column * 130 + k * 40, 10 + row * 50
      icon = _ICONS[demo.OBJECTS[obj]].format(c=_COLOURS[demo.COLOURS[colour]])
      parts.append(f'<g transform="translate({x},{y})">{icon}</g>')
  width, height = 20 + 130 * (1 + max(c for c, _ in places)), 20 + 50 * (1 + max(r for _, r in places))
  return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}"'
          f' height="{height}" style="background:#ddd">{"".join(parts)}</svg>')


def thumbnail(path: str, size: int) -> str:
  """An <img> of the image file at `path`, its longest side `size`, as an
  embedded JPEG; InputError if it is not a readable JPEG or PNG."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  except (tf.errors.OpError, ValueError) as e:
    raise InputError(f'{path}: not a readable image ({" ".join(str(e).split())[:200]})') from None
  height, width = image.shape[:2]
  scale = size / max(height, width)
  if scale < 1:
    image = tf.image.resize(image, (max(1, round(height * scale)), max(1, round(width * scale))),
                            antialias=True)
  data = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8), quality=85)
  return f'<img src="data:image/jpeg;base64,{base64.b64encode(data.numpy()).decode()}" alt="">'


def _image_path(images_dir: str, name: str) -> str:
  """DIR/name, or DIR/<folder>/name (COCO's train2014/, val2014/)."""
  found = [os.path.join(images_dir, name)] + sorted(
      glob.glob(os.path.join(glob.escape(images_dir), '*', glob.escape(name))))
  for path in found:
    if os.path.isfile(path):
      return path
  raise InputError(f'--images_dir={images_dir}: no {name} in it or in a folder of it')


def read_captions(path: str, references: dict[int, list[str]]) -> dict[int, str]:
  """A results file's captions by id, each id one of the split's."""
  found = prepared.read_json(
      path, 'train the run to the end (its final evaluation writes it), or give'
      ' --captions=FILE from --mode=caption')
  if not isinstance(found, list) or not found:
    raise InputError(f'{path}: expected a non-empty list of {{"image_id", "caption"}}')
  captions = {}
  for n, entry in enumerate(found):
    if not (isinstance(entry, dict) and isinstance(entry.get('image_id'), int)
            and isinstance(entry.get('caption'), str)):
      raise InputError(f'{path}: entry {n} is not {{"image_id": int, "caption": str}}')
    if entry['image_id'] not in references:
      raise InputError(f'{path}: image_id {entry["image_id"]} is not in the split')
    captions[entry['image_id']] = entry['caption']
  return captions


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
  if images_dir is not None and not os.path.isdir(images_dir):
    raise InputError(f'--images_dir={images_dir}: not a directory')
  task = CAPTION_TASKS[config.task](config, workdir, Placement.over_all_devices())
  examples = task.describer.examples
  examples.files([split])  # an unknown or empty split is an error
  references = pipeline.read_references(examples, split)
  captions = read_captions(
      captions_path or os.path.join(workdir, f'captions_{split}.json'), references)
  references = {i: references[i] for i in sorted(captions)}
  evaluator = [e for e in config.evals.values() if e.kind == 'captions' and e.split == split]
  use_java = None if not evaluator or evaluator[0].get('java', True) else False
  scores = metrics.per_image_scores(references, captions, use_java=use_java)
  names = pipeline.read_names(examples, split)
  if demo_images:
    scenes = demo.scenes(config.dataset.demo)
    pictures = {i: scene_svg(scenes[i]) for i in captions}
  elif images_dir is not None:
    pictures = {i: thumbnail(_image_path(images_dir, names[i]), thumbnail_size) for i in captions}
  else:
    pictures = {i: f'<div class="name">{html.escape(names[i])}</div>' for i in captions}
  page = _page(workdir, split, captions, references, scores, names, pictures)
  with atomic_write(output) as f:
    f.write(page)
  return output


def _page(workdir, split, captions, references, scores, names, pictures) -> str:
  rows = []
  for i in sorted(captions):
    refs = ''.join(f'<li>{html.escape(r)}</li>' for r in references[i])
    rows.append(
        f'<tr data-id="{i}" data-bleu4="{scores[i]["bleu_4"]:.6f}"'
        f' data-cider="{scores[i]["cider"]:.6f}"><td class="picture">{pictures[i]}</td>'
        f'<td class="id">{i}<br><span class="name">{html.escape(names[i])}</span></td>'
        f'<td class="caption">{html.escape(captions[i])}</td><td><ul class="references">'
        f'{refs}</ul></td><td class="bleu4">{scores[i]["bleu_4"]:.3f}</td>'
        f'<td class="cider">{scores[i]["cider"]:.3f}</td></tr>')
  mean = {k: sum(s[k] for s in scores.values()) / len(scores) for k in ('bleu_4', 'cider')}
  summary = (f'{len(captions)} captions of split {html.escape(split)}; mean per-image'
             f' BLEU-4 {mean["bleu_4"]:.3f}, CIDEr-D {mean["cider"]:.3f}')
  title = html.escape(f'mmcap gallery: {workdir} ({split})')
  return _TEMPLATE.format(title=title, summary=summary, rows='\n'.join(rows),
                          count=json.dumps(len(captions)))


_TEMPLATE = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ccc; padding: 6px; vertical-align: top; text-align: left; }}
.caption {{ font-weight: bold; max-width: 22em; }}
.references {{ margin: 0; padding-left: 1.2em; color: #444; max-width: 28em; }}
.name {{ color: #777; font-size: 80%; }}
.picture img, .picture svg {{ max-width: 260px; height: auto; }}
</style></head>
<body>
<h1>{title}</h1>
<p id="summary">{summary}</p>
<p>Sort <select id="sort">
<option value="cider-desc">CIDEr-D, best first</option>
<option value="cider-asc">CIDEr-D, worst first</option>
<option value="bleu4-desc">BLEU-4, best first</option>
<option value="bleu4-asc">BLEU-4, worst first</option>
<option value="id-asc">id</option></select>
Filter <input id="text" type="search" placeholder="words in caption or references">
CIDEr-D at least <input id="min" type="number" step="0.1" value="">
<span id="shown"></span></p>
<table><thead><tr><th>picture</th><th>id</th><th>caption</th><th>references</th>
<th>BLEU-4</th><th>CIDEr-D</th></tr></thead>
<tbody id="rows">
{rows}
</tbody></table>
<script>
"use strict";
const body = document.getElementById("rows");
const rows = Array.from(body.rows);
function update() {{
  const [key, order] = document.getElementById("sort").value.split("-");
  const sign = order === "asc" ? 1 : -1;
  rows.sort((a, b) => sign * (Number(a.dataset[key]) - Number(b.dataset[key]))
            || Number(a.dataset.id) - Number(b.dataset.id));
  const text = document.getElementById("text").value.toLowerCase();
  const least = parseFloat(document.getElementById("min").value);
  let shown = 0;
  for (const row of rows) {{
    const visible = row.textContent.toLowerCase().includes(text)
        && !(Number(row.dataset.cider) < least);
    row.hidden = !visible;
    shown += visible ? 1 : 0;
    body.appendChild(row);
  }}
  document.getElementById("shown").textContent = shown + " of " + {count} + " shown";
}}
for (const id of ["sort", "text", "min"]) {{
  document.getElementById(id).addEventListener("input", update);
}}
update();
</script>
</body></html>
'''


@errors.reports_input_errors
def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise InputError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
    errors.quiet_library_failures()
  output = gallery(_WORKDIR.value, _SPLIT.value, _CAPTIONS.value, _IMAGES_DIR.value,
                   _OUTPUT.value, _THUMBNAIL.value)
  print(f'gallery -> {output}')


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
