"""Caption metrics with pycocoevalcap's own scorers, and perplexity.

Sentences are compared as given: lower-cased words separated by spaces, the
form of the Karpathy `tokens` and of decoded captions.
"""

import collections
import math
from collections.abc import Mapping, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider


def caption_metrics(
    references: Mapping[int, Sequence[str]], captions: Mapping[int, str]
) -> dict[str, float]:
  """BLEU-1..4 and CIDEr-D of one caption per image against its references."""
  if set(references) != set(captions):
    raise ValueError('captions and references must cover the same images')
  gts = {i: list(refs) for i, refs in references.items()}
  res = {i: [captions[i]] for i in references}
  bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
  cider, _ = Cider().compute_score(gts, res)
  metrics = {f'bleu_{n}': float(b) for n, b in enumerate(bleu, 1)}
  metrics['cider'] = float(cider)
  return metrics


def perplexity(sum_nll: float, num_tokens: int) -> float:
  """Per-word perplexity, exp(mean NLL) = 2^(mean log2 loss)."""
  return math.exp(sum_nll / num_tokens)


def most_frequent(sentences: Sequence[str]) -> str:
  """The most frequent sentence (ties: first seen), the trivial baseline."""
  return collections.Counter(sentences).most_common(1)[0][0]
