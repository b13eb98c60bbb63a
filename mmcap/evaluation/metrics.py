"""Caption metrics as the coco-caption toolkit computes them, and perplexity.

`caption_metrics` does what pycocoevalcap's COCOEvalCap does: it tokenizes
references and captions with the toolkit's PTBTokenizer, then scores them with
the toolkit's own BLEU, METEOR, ROUGE-L and CIDEr-D scorers, so the figures
compare with published ones. PTBTokenizer and METEOR are Java programs; where
Java is missing, METEOR is skipped and `tokenizer.tokenize`, a pure-Python
equivalent of PTBTokenizer, is used instead.
"""

import collections
import math
import shutil
from collections.abc import Mapping, Sequence

from absl import logging
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from mmcap.evaluation import tokenizer

_warned_no_java = False


def java_available() -> bool:
  """Whether `java` is on the PATH, as PTBTokenizer and METEOR need."""
  return shutil.which('java') is not None


def _warn_no_java() -> None:
  """Says once per process that the metrics run without Java."""
  global _warned_no_java
  if not _warned_no_java:
    _warned_no_java = True
    logging.warning(
        'Java not found: METEOR is skipped, and references and captions are '
        'tokenized by a Python equivalent of the PTBTokenizer of the '
        'coco-caption toolkit.'
    )


def caption_metrics(
    references: Mapping[int, Sequence[str]],
    captions: Mapping[int, str],
    *,
    use_java: bool | None = None,
) -> dict[str, float]:
  """COCO caption metrics of one caption per image against its references.

  Keys: bleu_1..bleu_4, meteor, rouge_l and cider (CIDEr-D). `use_java` picks
  PTBTokenizer and METEOR (True) or the Python tokenizer and no METEOR (False);
  None, the default, uses Java where it is installed.
  """
  gts, res, use_java = _tokenized(references, captions, use_java)
  bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
  metrics = {f'bleu_{n}': float(b) for n, b in enumerate(bleu, 1)}
  if use_java:
    metrics['meteor'] = float(Meteor().compute_score(gts, res)[0])
  metrics['rouge_l'] = float(Rouge().compute_score(gts, res)[0])
  metrics['cider'] = float(Cider().compute_score(gts, res)[0])
  return metrics


def per_image_scores(
    references: Mapping[int, Sequence[str]],
    captions: Mapping[int, str],
    *,
    use_java: bool | None = None,
) -> dict[int, dict[str, float]]:
  """Each image's BLEU-4 and CIDEr-D, as the toolkit's scorers give them
  before averaging: the mean of the CIDEr-D values is `caption_metrics`'
  cider (its document frequencies come from all the images' references);
  BLEU-4 is the sentence's own (the corpus BLEU pools the counts)."""
  gts, res, _ = _tokenized(references, captions, use_java)
  ids = list(gts)  # the order in which the scorers list their scores
  bleu_4 = Bleu(4).compute_score(gts, res, verbose=0)[1][3]
  cider = Cider().compute_score(gts, res)[1]
  return {i: {'bleu_4': float(b), 'cider': float(c)} for i, b, c in zip(ids, bleu_4, cider)}


def _tokenized(references, captions, use_java):
  """References and captions tokenized for the scorers, and whether Java
  (PTBTokenizer, METEOR) is used."""
  if set(references) != set(captions):
    raise ValueError('captions and references must cover the same images')
  if use_java is None:
    use_java = java_available()
    if not use_java:
      _warn_no_java()
  tokenize = PTBTokenizer().tokenize if use_java else tokenizer.tokenize
  gts = tokenize(
      {i: [{'caption': r} for r in refs] for i, refs in references.items()}
  )
  res = tokenize({i: [{'caption': captions[i]}] for i in references})
  return gts, res, use_java


def perplexity(sum_nll: float, num_tokens: int) -> float:
  """Per-word perplexity, exp(mean NLL) = 2^(mean log2 loss)."""
  return math.exp(sum_nll / num_tokens)


def most_frequent(sentences: Sequence[str]) -> str:
  """The most frequent sentence (ties: first seen), the trivial baseline."""
  return collections.Counter(sentences).most_common(1)[0][0]
