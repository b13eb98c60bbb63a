"""The caption gallery's page: a run's captions beside their references and
per-image scores as one self-contained HTML file, with the demo's scenes
drawn from their descriptions or image files as embedded thumbnails.
`python -m mmcap.gallery` (mmcap/gallery.py) gathers what it shows."""

import base64
import glob
import html
import json
import os

from etils import epath

from mmcap.data import demo
from mmcap.data import prepared
from mmcap.errors import InputError, one_line
from mmcap.files import is_url

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
    raise InputError(f'{path}: not a readable image ({one_line(str(e))})') from None
  height, width = image.shape[:2]
  scale = size / max(height, width)
  if scale < 1:
    image = tf.image.resize(image, (max(1, round(height * scale)), max(1, round(width * scale))),
                            antialias=True)
  data = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8), quality=85)
  return f'<img src="data:image/jpeg;base64,{base64.b64encode(data.numpy()).decode()}" alt="">'


def image_path(images_dir: str, name: str) -> str:
  """DIR/name, or DIR/<folder>/name (COCO's train2014/, val2014/)."""
  if epath.Path(images_dir, name).is_file():
    return os.path.join(images_dir, name)
  pattern = os.path.join(glob.escape(images_dir), '*', glob.escape(name))
  if is_url(images_dir):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    found = tf.io.gfile.glob(pattern)
  else:
    found = glob.glob(pattern)
  for path in sorted(found):
    if epath.Path(path).is_file():
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


def page(workdir: str, split: str, captions: dict[int, str], references: dict[int, list[str]],
         scores: dict[int, dict[str, float]], names: dict[int, str],
         pictures: dict[int, str]) -> str:
  """The HTML page: one row per caption (by id), with its picture (HTML),
  name, references and scores; a script that sorts and filters the rows."""
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
