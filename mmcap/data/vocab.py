"""Word vocabulary: count threshold, special tokens, saved as JSON with a run."""

import collections
import dataclasses
import json
from collections.abc import Iterable, Sequence

from etils import epath
import numpy as np

from mmcap.errors import InputError
from mmcap.files import io_errors, reason, write_json

PAD, BOS, EOS, UNK = '<pad>', '<bos>', '<eos>', '<unk>'
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
  """Maps words to ids; id 0..3 are <pad>, <bos>, <eos>, <unk>.

  The special-token strings are never words: '<eos>' or '<pad>' written in a
  caption is text, not a control token, so it is never counted into the
  vocabulary and encodes as <unk>, like any other unknown word. A caption's
  tokens thus never yield <pad>, <bos> or <eos>, which shape a sequence.
  """

  words: tuple[str, ...]
  min_count: int

  def __post_init__(self):
    object.__setattr__(
        self,
        '_ids',
        {word: i for i, word in enumerate(self.words) if word not in SPECIAL_TOKENS},
    )

  @classmethod
  def build(
      cls, sentences: Iterable[Sequence[str]], min_count: int
  ) -> 'Vocabulary':
    """Keeps words seen at least `min_count` times, most frequent first;
    special-token strings are not words (see the class docstring)."""
    if min_count < 1:
      raise InputError(f'min_word_count must be >= 1, got {min_count}')
    counts = collections.Counter(w for s in sentences for w in s)
    kept = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in SPECIAL_TOKENS),
        key=lambda w: (-counts[w], w),
    )
    return cls(SPECIAL_TOKENS + tuple(kept), min_count)

  def __len__(self) -> int:
    return len(self.words)

  def encode(self, tokens: Sequence[str]) -> list[int]:
    """Token ids without <bos>/<eos>; unknown words become <unk>, and so do
    the special-token strings ('a <eos> b' -> [a, <unk>, b])."""
    return [self._ids.get(t, UNK_ID) for t in tokens]

  def decode(self, ids: Iterable[int]) -> list[str]:
    """Words up to the first <eos>, skipping <pad> and <bos>."""
    words = []
    for i in ids:
      i = int(i)
      if i == EOS_ID:
        break
      if i not in (PAD_ID, BOS_ID):
        words.append(self.words[i])
    return words

  def to_json(self) -> dict:
    return {'min_count': self.min_count, 'words': list(self.words)}

  def save(self, path: str) -> None:
    write_json(path, self.to_json())

  @classmethod
  def load(cls, path: str) -> 'Vocabulary':
    try:
      with epath.Path(path).open() as f:
        data = json.load(f)
    except FileNotFoundError:
      raise InputError(f'{path}: vocabulary file not found') from None
    except io_errors() as e:
      raise InputError(f'{path}: cannot read ({reason(e)})') from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
      raise InputError(f'{path}: not valid JSON ({e})') from None
    words = data.get('words') if isinstance(data, dict) else None
    if (
        not isinstance(words, list)
        or not all(isinstance(w, str) for w in words)
        or tuple(words[:4]) != SPECIAL_TOKENS
        or not isinstance(data.get('min_count'), int)
    ):
      raise InputError(
          f'{path}: expected {{"min_count": int, "words": [...]}} starting'
          f' with {list(SPECIAL_TOKENS)}'
      )
    return cls(tuple(words), data['min_count'])


def random_captions(
    rng: np.random.Generator, batch: int, steps: int, num_words: int
) -> dict[str, np.ndarray]:
  """Captions of 7 to `steps` - 1 random words and <eos> (word ids after the
  special tokens, `num_words` of them) laid out as the pipeline lays them
  out: inputs [<bos>, w_1, ...], targets [w_1, ..., <eos>], <pad> after; for
  benchmarks."""
  lengths = rng.integers(8, steps + 1, batch)
  words = rng.integers(len(SPECIAL_TOKENS), num_words + len(SPECIAL_TOKENS), (batch, steps))
  inputs = np.where(np.arange(steps) < lengths[:, None], words, PAD_ID).astype(np.int32)
  inputs[:, 0] = BOS_ID
  targets = np.where(np.arange(steps) < lengths[:, None] - 1, np.roll(inputs, -1, 1), PAD_ID)
  targets[np.arange(batch), lengths - 1] = EOS_ID
  return {'inputs': inputs, 'targets': targets.astype(np.int32)}
