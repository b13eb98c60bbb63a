"""A pure-Python stand-in for the coco-caption toolkit's PTB tokenizer.

pycocoevalcap tokenizes every sentence with Stanford CoreNLP 3.4.1's
PTBTokenizer (a Java program, run with `-preserveLines -lowerCase`) and then
drops the punctuation tokens in its `PUNCTUATIONS` list. Where Java is missing,
`tokenize` gives the same output in Python so that BLEU, ROUGE-L and CIDEr-D
stay comparable. It follows PTBTokenizer's rules for what captions contain:
words, numbers, hyphens, contractions and possessives, abbreviations and
acronyms, quotes, brackets and sentence punctuation, checked token for token
against the Java program in tests/test_metrics.py. What PTBTokenizer
special-cases but captions hardly contain (URLs, e-mail addresses, emoticons,
SGML tags, HTML entities, non-ASCII punctuation, dialect spellings such as
y'all or 'tis, abbreviations beyond those listed below) is not modelled and
may tokenize differently.
"""

from collections.abc import Hashable, Mapping, Sequence
import re
from typing import TypeVar

from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

_Key = TypeVar('_Key', bound=Hashable)

# Abbreviations that keep their period (compared lower-cased), found by
# running PTBTokenizer on common English abbreviations.
_ABBREVIATIONS = frozenset("""
    adm al apr ariz assn aug ave bldg blvd bros calif capt cf co col colo conn
    corp cpl dec dept dr est etc feb fla fri ft ga gen gov hon inc ind intl jan
    jr jul jun kan ky lt ltd maj mar md mich minn mo mon mont mr mrs ms mt natl
    neb nev nov oct okla ph.d pres prof rd rep rev sen sep sept sgt sq sr st tel
    tenn thu thurs tue tues univ va vs vt wed wis wyo
""".split())
# Abbreviations that keep their period only before a number (`no. 5`).
_NUMBER_ABBREVIATIONS = frozenset('ca fig no nos op pp'.split())
# Words that make PTBTokenizer read a single letter's period as a sentence end
# (`plan b. The`), capitalized or in capitals; found as the abbreviations were.
_SENTENCE_STARTS = frozenset(
    form
    for word in """
        A About After An As At But He Her Here However If In It Many More Mr.
        Ms. Now Once One Other Our She Since So Some Such That The Their Then
        There These They This We What When While Yet You
    """.split()
    for form in (word, word.upper())
)
# Words PTBTokenizer splits after their third letter (`can not`, `gon na`).
_SPLIT_WORDS = frozenset('cannot gimme gonna gotta lemme wanna'.split())
_BRACKETS = {'(': '-LRB-', ')': '-RRB-', '[': '-LSB-', ']': '-RSB-',
             '{': '-LCB-', '}': '-RCB-'}

# A word: parts joined by single hyphens, slashes or underscores. A part is a
# name with an apostrophe (one letter, not I or Y, then 2+ letters: o'clock),
# capitals joined by `&` (AT&T), a number with separators (1,000.5, 10:30, .5;
# letters after it start a new word: `1.5m` is `1.5 m`), or a run of letters
# and digits, which if led by a letter may hold dotted letter runs (u.s, ab.cd).
# A sign before a digit goes with the word (-5).
_PART = (r"(?:[dlnoA-HJ-XZ]'[A-Za-z]{2,}|[A-Z]+&[A-Z]+"
         r'|[0-9]+(?:[.,:][0-9]+)+|\.[0-9]+'
         r'|[^\W\d_][^\W_]*(?:\.[^\W\d_][^\W_]*)*|[0-9][^\W_]*)')
_WORD = rf'(?:[-+](?=\.?[0-9]))?{_PART}(?:[-/_]{_PART})*'
# A number other than plain digits, which never keeps a period (-5, 1/2, 3.5).
_NUMBER = re.compile(r'[-+][0-9]+|[-+]?[0-9]*(?:[.,:/][0-9]+)+')
_TOKEN = re.compile(
    '|'.join([
        r"(?P<clitic>'(?i:s|m|d|re|ve|ll)|(?i:n't))(?![^\W_])",
        # '60s, '85 (alone), rock 'n' roll, 'em, 'cause, 'til.
        r"(?P<apostrophe>'[2-9]0[sS]|'[0-9]{2}(?!\S)|'(?i:em|cause|till?)"
        r"|'(?i:n'?)(?![^\W_]))",
        rf'(?P<word>{_WORD})',
        r'(?P<open_double>"(?=[A-Za-z0-9$])|``)',
        r"(?P<close_double>\"|'')",
        r"(?P<open_single>'(?=[A-Za-z]\S)|`)",
        r'(?P<tag>[#@][A-Za-z]+)',
        r'(?P<run>\.\.\.|[?!]+|_+)',
        r'(?P<dashes>-{2,})',
        r'(?P<other>.)',
    ])
)
_NORMALIZED = {'open_double': '``', 'close_double': "''", 'open_single': '`',
               'dashes': '--'}


def _keeps_period(word: str, after: str, next_word: str) -> bool:
  """Whether PTBTokenizer keeps the period after `word` (`st.`, `u.s.`).

  `after` is what follows the period in the same chunk, `next_word` the chunk
  after the next whitespace ('' if `after` is not empty).
  """
  if after[:1] in (',', ';', ':'):
    return _NUMBER.fullmatch(word) is None
  lower = word.lower()
  if len(word) == 1 and word.isalpha():
    return next_word not in _SENTENCE_STARTS
  return (
      re.fullmatch(r'[^\W\d_](?:\.[^\W\d_])+', lower) is not None
      or lower in _ABBREVIATIONS
      or (lower in _NUMBER_ABBREVIATIONS and next_word[:1].isdigit())
  )


def _word_tokens(word: str, chunk: str, end: int, next_chunk: str) -> list[str]:
  """A word as PTB tokens; `chunk[end:]` follows it, then `next_chunk`."""
  if chunk[end:end + 1] == '.':
    after = chunk[end + 1:]
    if _keeps_period(word, after, '' if after else next_chunk):
      return [word + '.']
  if word.lower() in _SPLIT_WORDS:
    return [word[:3], word[3:]]
  if word[-1:] in 'nN' and re.match(r"(?i:'t)(?![^\W_])", chunk[end:]):
    return [word[:-1]]
  return [word]


def ptb_tokens(sentence: str, following: str = '') -> list[str]:
  """PTBTokenizer's lower-cased tokens of one sentence, punctuation included.

  `following` is the text after the sentence: PTBTokenizer reads on across the
  line end to decide on a final period.
  """
  tokens = []
  chunks = sentence.split()
  next_chunks = chunks[1:] + following.split()[:1] + ['']
  for chunk, next_chunk in zip(chunks, next_chunks):
    position = 0
    while position < len(chunk):
      match = _TOKEN.match(chunk, position)
      kind, text, position = match.lastgroup, match.group(), match.end()
      if kind == 'word':
        words = _word_tokens(text, chunk, position, next_chunk)
        # A kept period, or the `n` of `n't`, moves where the next token starts.
        position += sum(map(len, words)) - len(text)
        tokens.extend(words)
      else:
        tokens.append(_BRACKETS.get(text, _NORMALIZED.get(kind, text)))
  return [token.lower() for token in tokens]


def tokenize(
    captions_for_image: Mapping[_Key, Sequence[Mapping[str, str]]],
) -> dict[_Key, list[str]]:
  """PTBTokenizer().tokenize without Java: same input, same output.

  Like PTBTokenizer, it reads all the captions as one text, a line each, so
  each caption's last period may depend on the next caption.
  """
  sentences = [
      caption['caption']
      for captions in captions_for_image.values()
      for caption in captions
  ]
  lines = iter([
      ' '.join(t for t in ptb_tokens(s, following) if t not in PUNCTUATIONS)
      for s, following in zip(sentences, sentences[1:] + [''])
  ])
  return {
      key: [next(lines) for _ in captions]
      for key, captions in captions_for_image.items()
  }
