"""The IAPR TC-12 release as distributed, the m-RNN paper's first benchmark.

  iaprtc12/annotations_complete_eng/<dir>/<id>.eng   one SGML-like file per image
  iaprtc12/images/<dir>/<id>.jpg

Each `.eng` file (ISO-8859-1) holds one `<DOC>` whose `<DESCRIPTION>` is the
image's description: phrases and sentences separated by ';', each of which
becomes one reference sentence (m-RNN: 1.7 sentences per image). The
release has no split: the paper's (17,665 training and 1,962 test images,
from Kiros et al. 2014) comes as two lists the user points to, one image per
line as `<dir>/<id>` (`images/<dir>/<id>.jpg` and `annotations_complete_eng/
<dir>/<id>.eng` are read the same way). Images in neither list are left out.

`imgid`, the image's row in the features file, numbers the images in the
order of the training list, then the test list. The results-file id is the
image's number (`<id>`), which the release keeps unique across directories.
"""

import os
import re

from etils import epath

from mmcap.data.sources import Image, text_lines, tokenize
from mmcap.errors import InputError
from mmcap.files import io_errors, reason

ANNOTATIONS = 'annotations_complete_eng'
_KEY = re.compile(r'(?:images/|annotations_complete_eng/)?(\d+)/(\d+)(?:\.jpg|\.eng)?')
_DESCRIPTION = re.compile(r'<DESCRIPTION>(.*?)</DESCRIPTION>', re.DOTALL)


def read_split_list(path: str) -> list[tuple[str, str]]:
  """The (directory, id) of every image a split list names, in its order."""
  keys = []
  for line_no, line in text_lines(path, 'IAPR TC-12 split list'):
    match = _KEY.fullmatch(line.strip())
    if not match:
      raise InputError(
          f'{path}:{line_no}: {line.strip()!r}: expected an image as DIR/ID'
          ' (e.g. 00/25, or images/00/25.jpg)'
      )
    keys.append((match.group(1), match.group(2)))
  if not keys:
    raise InputError(f'{path}: the split list names no image')
  return keys


def read_description(path: str) -> tuple[tuple[str, ...], ...]:
  """The sentences of one annotation file: its DESCRIPTION split at ';'."""
  try:
    text = epath.Path(path).read_bytes().decode('iso-8859-1')
  except FileNotFoundError:
    raise InputError(f'{path}: annotation file not found') from None
  except io_errors() as e:
    raise InputError(f'{path}: cannot read the annotation file ({reason(e)})') from None
  found = _DESCRIPTION.findall(text)
  if len(found) != 1:
    raise InputError(f'{path}: expected one <DESCRIPTION>...</DESCRIPTION>, found {len(found)}')
  sentences = tuple(t for t in (tokenize(s) for s in found[0].split(';')) if t)
  if not sentences:
    raise InputError(f'{path}: the DESCRIPTION has no words')
  return sentences


def read_iaprtc12(directory: str, train_list: str, test_list: str) -> list[Image]:
  """The images of the two split lists, with their sentences (module
  docstring); an image listed twice or in both lists is an error."""
  if not epath.Path(directory, ANNOTATIONS).is_dir():
    raise InputError(
        f'{directory}: no {ANNOTATIONS}/ directory; expected the IAPR TC-12'
        ' release as distributed (iaprtc12/)'
    )
  images, seen, sentid = [], {}, 0
  for split, path in (('train', train_list), ('test', test_list)):
    for folder, number in read_split_list(path):
      if number in seen:
        raise InputError(f'{path}: image {folder}/{number} already listed in {seen[number]}')
      seen[number] = path
      sentences = read_description(
          os.path.join(directory, ANNOTATIONS, folder, f'{number}.eng')
      )
      ids = tuple(range(sentid, sentid + len(sentences)))
      sentid += len(sentences)
      images.append(Image(len(images), f'images/{folder}/{number}.jpg', split, sentences,
                          ids, int(number)))
  return images
