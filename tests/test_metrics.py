"""Caption metrics against the coco-caption toolkit, and its PTB tokenizer.

The fixture holds 1,000 MS COCO val2014 images of the m-RNN crVal split, each
with 5 (two with 6) references and the 10 beam-search hypotheses of an m-RNN
model. Scoring the top hypotheses gave, with Java (PTBTokenizer and METEOR):
BLEU-1 0.67546, BLEU-2 0.50261, BLEU-3 0.36687, BLEU-4 0.27160,
METEOR 0.22648, ROUGE-L 0.49683, CIDEr-D 0.83335; without Java the same but no
METEOR. `test_figures` holds these to 5 decimals.
"""

import json
import logging
import os

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from mmcap.evaluation import metrics
from mmcap.evaluation import tokenizer

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
FIGURES = {
    'bleu_1': 0.67546,
    'bleu_2': 0.50261,
    'bleu_3': 0.36687,
    'bleu_4': 0.27160,
    'meteor': 0.22648,
    'rouge_l': 0.49683,
    'cider': 0.83335,
}
needs_java = pytest.mark.skipif(
    not metrics.java_available(), reason='PTBTokenizer and METEOR need Java'
)


@pytest.fixture(scope='module')
def crval() -> list[dict]:
  with open(os.path.join(FIXTURES, 'mrnn_coco_crval1000.json')) as f:
    return json.load(f)['images']


@pytest.fixture(scope='module')
def references(crval) -> dict[int, list[str]]:
  return {image['image_id']: image['references'] for image in crval}


@pytest.fixture(scope='module')
def captions(crval) -> dict[int, str]:
  """The top beam-search hypothesis of each image."""
  return {image['image_id']: image['beam10'][0] for image in crval}


@pytest.fixture(scope='module')
def java_metrics(references, captions) -> dict[str, float]:
  return metrics.caption_metrics(references, captions, use_java=True)


@pytest.fixture(scope='module')
def python_metrics(references, captions) -> dict[str, float]:
  return metrics.caption_metrics(references, captions, use_java=False)


def coco_eval_cap(references, captions) -> dict[str, float]:
  """What COCOEvalCap.evaluate computes (but SPICE), under mmcap's keys."""
  gts = PTBTokenizer().tokenize(
      {i: [{'caption': r} for r in refs] for i, refs in references.items()}
  )
  res = PTBTokenizer().tokenize(
      {i: [{'caption': captions[i]}] for i in references}
  )
  bleu, _ = Bleu(4).compute_score(gts, res)
  return {
      **{f'bleu_{n}': b for n, b in enumerate(bleu, 1)},
      'meteor': Meteor().compute_score(gts, res)[0],
      'rouge_l': Rouge().compute_score(gts, res)[0],
      'cider': Cider().compute_score(gts, res)[0],
  }


@needs_java
def test_equals_coco_eval_cap(references, captions, java_metrics):
  assert java_metrics == coco_eval_cap(references, captions)


@needs_java
def test_python_path_equals_java_path_but_meteor(java_metrics, python_metrics):
  assert python_metrics == {
      k: v for k, v in java_metrics.items() if k != 'meteor'
  }


def test_figures(python_metrics):
  """The recorded figures, from the Python path where Java is missing too."""
  want = {k: v for k, v in FIGURES.items() if k != 'meteor'}
  assert python_metrics == pytest.approx(want, abs=5e-6)


@needs_java
def test_figures_with_java(java_metrics):
  assert java_metrics == pytest.approx(FIGURES, abs=5e-6)


# Sentences and PTBTokenizer's output for them, punctuation dropped.
HAND_CASES = [
    (
        'A man riding a wave on top of a surfboard.',
        'a man riding a wave on top of a surfboard',
    ),
    ('Two dogs, a cat; and "a bird"!', 'two dogs a cat and a bird'),
    (
        "A man's dog isn't eating: it can't.",
        "a man 's dog is n't eating it ca n't",
    ),
    (
        'People (in red) and [others] {here}?',
        'people -lrb- in red -rrb- and -lsb- others -rsb- -lcb- here -rcb-',
    ),
    (
        'Mr. Smith of St. Louis, in the U.S. at 5 p.m.',
        'mr. smith of st. louis in the u.s. at 5 p.m.',
    ),
    (
        "Kids' toys from the '60s cannot be 'cool'...",
        "kids toys from the '60s can not be cool",
    ),
    (
        "I'm gonna say they're a well-known x-ray -- at 10:30 for $5.50",
        "i 'm gon na say they 're a well-known x-ray at 10:30 for $ 5.50",
    ),
    (
        '50% off #1 AT&T and at&t, 1,000 or 3.5m',
        '50 % off # 1 at&t and at & t 1,000 or 3.5 m',
    ),
    ("It's 5 o'clock.", "it 's 5 o'clock"),
    (
        'traffic light on " red " surrounded by barricade gates',
        'traffic light on red surrounded by barricade gates',
    ),
]


def flickr8k_captions() -> list[str]:
  """The raw Flickr8k captions of the fixtures: with case and punctuation."""
  path = os.path.join(FIXTURES, 'flickr8k_text', 'Flickr8k.token.txt')
  with open(path) as f:
    return [line.rstrip('\n').split('\t')[1] for line in f]


@needs_java
def test_python_tokenizer_equals_ptb_tokenizer(crval):
  sentences = [
      sentence
      for image in crval
      for sentence in image['references'] + image['beam10']
  ] + flickr8k_captions() + [case for case, _ in HAND_CASES]
  captions_for_image = {i: [{'caption': s}] for i, s in enumerate(sentences)}
  assert tokenizer.tokenize(captions_for_image) == PTBTokenizer().tokenize(
      captions_for_image
  )


@pytest.mark.parametrize('sentence, tokens', HAND_CASES)
def test_python_tokenizer_hand_cases(sentence, tokens):
  assert tokenizer.tokenize({0: [{'caption': sentence}]}) == {0: [tokens]}


def test_python_tokenizer_keeps_punctuation_tokens_until_dropped():
  # Brackets are lower-cased after PTB escapes them, so -lrb- escapes the drop.
  assert tokenizer.ptb_tokens('"Hi," he (Bob) said.') == [
      '``', 'hi', ',', "''", 'he', '-lrb-', 'bob', '-rrb-', 'said', '.'
  ]


def test_python_tokenizer_reads_on_into_the_next_caption():
  """A single letter's period ends the sentence before `The`, as in PTB."""
  captions_for_image = {
      1: [{'caption': 'A sign for plan B.'}, {'caption': 'The sign.'}],
      2: [{'caption': 'A sign for plan B.'}, {'caption': 'the sign.'}],
  }
  assert tokenizer.tokenize(captions_for_image) == {
      1: ['a sign for plan b', 'the sign'],
      2: ['a sign for plan b.', 'the sign'],
  }


def test_without_java_warns_once_and_skips_meteor(monkeypatch, caplog):
  monkeypatch.setattr(metrics.shutil, 'which', lambda name: None)
  monkeypatch.setattr(metrics, '_warned_no_java', False)
  references = {1: ['A dog runs.', 'A brown dog.'], 2: ['Two cats sleep.']}
  captions = {1: 'A dog.', 2: 'Cats sleep.'}
  with caplog.at_level(logging.WARNING):
    first = metrics.caption_metrics(references, captions)
    second = metrics.caption_metrics(references, captions)
  assert first == second
  assert set(first) == {'bleu_1', 'bleu_2', 'bleu_3', 'bleu_4', 'rouge_l',
                        'cider'}
  warnings = [r.getMessage() for r in caplog.records]
  assert len(warnings) == 1
  assert 'Java not found' in warnings[0] and 'METEOR' in warnings[0]
