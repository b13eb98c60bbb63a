"""The caption gallery: the page holds each caption with its references and
the scores the run's evaluation gave, its demo pictures show the scenes the
captions describe, and its script sorts and filters (run in QuickJS)."""

import base64
import html.parser
import json
import os
import re

import numpy as np
import pytest
import quickjs
import tensorflow as tf

from mmcap import train
from mmcap.data import demo
from mmcap.data import pipeline
from mmcap.data import records
from mmcap.errors import InputError
from mmcap.evaluation import gallery
from mmcap.evaluation import metrics

from conftest import run_command_lines, tiny_config, with_flags


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """A tiny image run and a tiny video run, trained."""
  from tiny_video_config import get_config as tiny_video_config  # pylint: disable=g-import-not-at-top
  image, video = str(tmp_path_factory.mktemp('image')), str(tmp_path_factory.mktemp('video'))
  return {'image': (image, train.train_and_evaluate(tiny_config(), image)),
          'video': (video, train.train_and_evaluate(tiny_video_config(), video))}


@pytest.fixture(scope='module')
def pages(runs, tmp_path_factory):
  """`python -m mmcap.gallery` on each run (its default output), and every
  case of BAD_FLAGS, in one process (tests/cli_driver.py)."""
  d = tmp_path_factory.mktemp('cli')
  (d / 'other.json').write_text(json.dumps([{'image_id': 999, 'caption': 'a cat'}]))
  (d / 'broken.json').write_text(json.dumps([{'image_id': '3'}]))
  defaults = {'--workdir': runs['image'][0], '--output': f'{d}/g.html'}
  cases = [[f'--workdir={runs["image"][0]}'], [f'--workdir={runs["video"][0]}']] + [
      with_flags(defaults, flags, d) for flags, _ in BAD_FLAGS]
  results = run_command_lines('mmcap.gallery', cases, d)
  for found in results[:2]:
    assert found['status'] == 0, found
  return d, {name: os.path.join(workdir, 'gallery_test.html')
             for name, (workdir, _) in runs.items()}, results[2:]


class Rows(html.parser.HTMLParser):
  """The page's table rows: {'id', 'caption', 'references', 'bleu4',
  'cider', 'picture' (the first tag inside the picture cell)}."""

  def __init__(self):
    super().__init__()
    self.rows, self.cell, self.script = [], None, ''
    self.in_script = False

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == 'tr' and 'data-id' in attrs:
      self.rows.append({'id': int(attrs['data-id']), 'references': [], 'attrs': attrs})
    elif tag == 'td' and self.rows:
      self.cell = attrs.get('class')
      if self.cell in ('caption', 'bleu4', 'cider'):
        self.rows[-1][self.cell] = ''
    elif tag == 'li':
      self.cell = 'reference'
      self.rows[-1]['references'].append('')
    elif self.cell == 'picture' and 'picture_tag' not in self.rows[-1]:
      self.rows[-1]['picture_tag'] = (tag, attrs)
    self.in_script = tag == 'script'

  def handle_endtag(self, tag):
    if tag in ('td', 'li'):
      self.cell = None
    self.in_script = False

  def handle_data(self, data):
    if self.in_script:
      self.script += data
    elif self.cell == 'reference':
      self.rows[-1]['references'][-1] += data
    elif self.cell in ('caption', 'bleu4', 'cider'):
      self.rows[-1][self.cell] += data


def parse(path):
  parser = Rows()
  with open(path) as f:
    parser.feed(f.read())
  return parser


def test_page_holds_each_caption_its_references_and_its_scores(runs, pages):
  workdir, results = runs['image']
  page = parse(pages[1]['image'])
  with open(os.path.join(workdir, 'captions_test.json')) as f:
    captions = {c['image_id']: c['caption'] for c in json.load(f)}
  info = records.load_info(os.path.join(workdir, 'demo_data'))
  references = pipeline.read_references(
      pipeline.images(os.path.join(workdir, 'demo_data'), info), 'test')
  assert [r['id'] for r in page.rows] == sorted(captions) == sorted(references)
  for row in page.rows:
    assert row['caption'] == captions[row['id']]
    assert row['references'] == references[row['id']]
    assert row['picture_tag'][0] == 'svg'
  # The mean of the CIDEr-D column is the run's test/cider; each BLEU-4 is
  # the toolkit's for that image alone.
  ciders = [float(r['attrs']['data-cider']) for r in page.rows]
  assert np.mean(ciders) == pytest.approx(results['test/cider'], abs=1e-6)
  assert max(ciders) > 0
  for row in page.rows[:3]:
    alone = metrics.caption_metrics(
        {0: references[row['id']]}, {0: captions[row['id']]}, use_java=False)
    assert float(row['attrs']['data-bleu4']) == pytest.approx(alone['bleu_4'], abs=1e-6)


def test_demo_pictures_show_the_scenes_the_captions_describe():
  config = tiny_config().dataset.demo
  images, _ = demo.make_images(config)
  scenes = demo.scenes(config)
  for image in images:
    (obj, colour, count), _, _ = scenes[image.image_id]
    noun = demo._noun_phrase(obj, colour, count)  # pylint: disable=protected-access
    assert any(' '.join(noun) in ' '.join(s) for s in image.sentences), image
  # Two red balls to the left of a blue box: three icons, the balls first.
  svg = gallery.scene_svg(((0, 0, 1), 0, (1, 2, 0)))
  places = [int(x) for x in re.findall(r'translate\((\d+),', svg)]
  assert len(places) == 3 and places[0] < places[1] < places[2]
  assert svg.count('#d62728') == 2 and svg.count('#1f77b4') == 1
  above = gallery.scene_svg(((0, 0, 0), 2, (1, 2, 0)))  # a ball above a box
  rows = [int(y) for y in re.findall(r'translate\(\d+,(\d+)\)', above)]
  assert rows[0] < rows[1]


# The DOM calls of the page's script, enough to run it.
DOM = '''
const log = [];
function element() {
  return {value: "", textContent: "", listeners: {},
          addEventListener(kind, f) { this.listeners[kind] = f; }};
}
const controls = {sort: element(), text: element(), min: element(), shown: element()};
controls.sort.value = "cider-desc";
const stubRows = DATA.map(r => ({dataset: {id: String(r.id), cider: String(r.cider),
                                       bleu4: String(r.bleu4)},
                             textContent: r.text, hidden: false}));
const tableBody = {rows: stubRows, appendChild(row) { log.push(Number(row.dataset.id)); }};
const document = {getElementById: id => id === "rows" ? tableBody : controls[id]};
'''


def run_script(script, data, sort='cider-desc', text='', least=''):
  context = quickjs.Context()
  context.eval(f'const DATA = {json.dumps(data)};' + DOM)
  context.eval(script)
  context.eval(f'log.length = 0; controls.sort.value = "{sort}"; controls.text.value = "{text}";'
               f' controls.min.value = "{least}"; controls.sort.listeners.input();')
  order = json.loads(context.eval('JSON.stringify(log)'))
  hidden = json.loads(context.eval('JSON.stringify(stubRows.map(r => r.hidden))'))
  return order, hidden, context.eval('controls.shown.textContent')


def test_page_script_sorts_and_filters(pages):
  script = parse(pages[1]['image']).script
  data = [{'id': 1, 'cider': 0.5, 'bleu4': 0.1, 'text': 'a red ball'},
          {'id': 2, 'cider': 2.0, 'bleu4': 0.0, 'text': 'two blue cups'},
          {'id': 3, 'cider': 0.5, 'bleu4': 0.3, 'text': 'a red box'}]
  order, hidden, shown = run_script(script, data)
  assert order == [2, 1, 3] and not any(hidden) and shown == '3 of 10 shown'
  assert run_script(script, data, sort='bleu4-asc')[0] == [2, 1, 3]
  assert run_script(script, data, sort='id-asc')[0] == [1, 2, 3]
  _, hidden, _ = run_script(script, data, text='red')
  assert hidden == [False, True, False]  # ids 1, 2, 3
  _, hidden, shown = run_script(script, data, least='1')
  assert hidden == [True, False, True] and shown.startswith('1 of')


def test_thumbnails_of_image_files(tmp_path):
  (tmp_path / 'val2014').mkdir()
  image = np.zeros((300, 600, 3), np.uint8)
  image[:, :300] = (255, 0, 0)
  (tmp_path / 'val2014' / 'a.png').write_bytes(tf.io.encode_png(image).numpy())
  path = gallery.image_path(str(tmp_path), 'a.png')
  assert path == str(tmp_path / 'val2014' / 'a.png')
  tag = gallery.thumbnail(path, 100)
  jpeg = base64.b64decode(re.search(r'base64,([^"]+)"', tag).group(1))
  small = tf.io.decode_jpeg(jpeg).numpy()
  assert small.shape == (50, 100, 3)
  assert np.abs(small[25, 10].astype(int) - (255, 0, 0)).max() < 12
  assert np.abs(small[25, 90].astype(int)).max() < 12
  (tmp_path / 'b.jpg').write_text('not an image')
  with pytest.raises(InputError, match=r'b.jpg: not a readable image'):
    gallery.thumbnail(str(tmp_path / 'b.jpg'), 100)
  with pytest.raises(InputError, match=r'no c.jpg in it or in a folder of it'):
    gallery.image_path(str(tmp_path), 'c.jpg')


BAD_FLAGS = [
    (['--workdir={d}/nothing'], '/nothing/config.json: not found; is --workdir a run'),
    (['--split=val'], '/captions_val.json: not found; train the run to the end'),
    (['--split=dev'], "split 'dev' has no images"),
    (['--images_dir={d}'], 'only for a prepared image dataset'),
    (['--thumbnail_size=4'], '--thumbnail_size=4: expected at least 16'),
    (['--output={d}/missing/g.html'], 'missing does not exist'),
    (['--captions={d}/other.json'], 'other.json: image_id 999 is not in the split'),
    (['--captions={d}/broken.json'], 'broken.json: entry 0 is not {"image_id": int'),
]


@pytest.mark.parametrize('index', range(len(BAD_FLAGS)), ids=[m for _, m in BAD_FLAGS])
def test_bad_flags_are_one_line(pages, index):
  d, _, results = pages
  result = results[index]
  assert result['traceback'] is None and result['status'] == 2, result
  (line,) = result['stderr'].strip().splitlines()
  assert line.startswith('error: ') and BAD_FLAGS[index][1] in line, line
  assert not os.path.exists(f'{d}/g.html')


def test_video_runs_are_shown_by_name(runs, pages):
  _, results = runs['video']
  page = parse(pages[1]['video'])
  assert len(page.rows) == 10
  assert all(r['picture_tag'] == ('div', {'class': 'name'}) for r in page.rows)
  ciders = [float(r['attrs']['data-cider']) for r in page.rows]
  assert np.mean(ciders) == pytest.approx(results['test/cider'], abs=1e-6)
