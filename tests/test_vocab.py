import pytest

from mmcap.data.vocab import EOS_ID, SPECIAL_TOKENS, UNK_ID, Vocabulary
from mmcap.errors import InputError


def test_build_keeps_words_at_threshold_most_frequent_first():
  sentences = [['a', 'dog'], ['a', 'cat'], ['a', 'dog', 'runs']]
  vocab = Vocabulary.build(sentences, min_count=2)
  assert vocab.words == SPECIAL_TOKENS + ('a', 'dog')
  assert vocab.encode(['a', 'cat', 'dog']) == [4, UNK_ID, 5]


def test_decode_stops_at_end_and_skips_padding():
  vocab = Vocabulary.build([['a', 'dog']], min_count=1)
  assert vocab.decode([1, 4, 0, 5, EOS_ID, 4]) == ['a', 'dog']


def test_save_load_round_trip(tmp_path):
  vocab = Vocabulary.build([['x', 'y', 'x']], min_count=1)
  vocab.save(str(tmp_path / 'v.json'))
  assert Vocabulary.load(str(tmp_path / 'v.json')) == vocab


def test_load_rejects_other_json(tmp_path):
  path = tmp_path / 'v.json'
  path.write_text('{"words": ["a"]}')
  with pytest.raises(InputError, match='v.json: expected'):
    Vocabulary.load(str(path))


def test_min_count_must_be_positive():
  with pytest.raises(InputError, match='min_word_count'):
    Vocabulary.build([['a']], min_count=0)


def test_special_token_strings_are_unknown_words():
  # '<eos>' in a caption is text: never a vocabulary word, never the control id.
  vocab = Vocabulary.build([['a', '<eos>', 'b'], ['<eos>', '<pad>', '<unk>', '<bos>']], 1)
  assert vocab.words == SPECIAL_TOKENS + ('a', 'b')
  assert vocab.encode(['a', '<eos>', 'b']) == [4, UNK_ID, 5]
  assert vocab.encode(list(SPECIAL_TOKENS)) == [UNK_ID] * 4
  # Even a vocabulary file that lists one again as a word.
  listed = Vocabulary(SPECIAL_TOKENS + ('a', '<pad>'), 1)
  assert listed.encode(['<pad>', 'a']) == [UNK_ID, 4]
