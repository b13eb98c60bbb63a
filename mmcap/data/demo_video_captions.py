"""The built-in demo video-caption set: an object does two things in turn,
and the sentence says them in that order. Generated at run time,
deterministic, no download.

Each video shows one of 5 objects in one of 4 colours doing two different
actions of 5 (rolls left, rolls right, jumps, spins, falls), each for 3 to 8
frames. Its per-frame features are a fixed random ReLU map of [object,
colour, current action] one-hot codes plus noise; its 5 captions come from
templates that always name the first action first ("a red ball jumps and
then spins"). The frames' mean tells the object, the colour and which two
actions, but not their order (the segment lengths are random): a mean-pool
model can only guess it, while one that reads the frames in order (S2VT)
can tell.
"""

import ml_collections
import numpy as np

from mmcap.data import video_captions
from mmcap.data.video_captions import VideoCaptions
from mmcap.data.vocab import Vocabulary

OBJECTS = ('ball', 'cup', 'car', 'dog', 'box')
COLOURS = ('red', 'blue', 'green', 'yellow')
ACTIONS = (('rolls', 'left'), ('rolls', 'right'), ('jumps',), ('spins',), ('falls',))
TEMPLATES = (
    'a {colour} {object} {first} and then {second}',
    'the {colour} {object} {first} then {second}',
    'a {object} {first} and then {second}',
    'first the {colour} {object} {first} and then it {second}',
    'the {object} that is {colour} {first} before it {second}',
)
FRAMES_PER_ACTION = (3, 8)  # inclusive range


def default_settings() -> ml_collections.ConfigDict:
  """The demo's settings (config.dataset.demo of the video task)."""
  settings = ml_collections.ConfigDict()
  settings.seed = 0
  settings.feature_dim = 32
  settings.noise = 0.3
  settings.num_train_videos = 1200
  settings.num_val_videos = 100
  settings.num_test_videos = 200
  return settings


def _captions(obj: str, colour: str, first: tuple, second: tuple) -> tuple:
  return tuple(
      tuple(t.format(object=obj, colour=colour, first=' '.join(first),
                     second=' '.join(second)).split())
      for t in TEMPLATES
  )


def make_videos(
    settings: ml_collections.ConfigDict,
) -> tuple[list[VideoCaptions], dict[str, np.ndarray]]:
  """The videos and, by name, their frame features [T, D]."""
  rng = np.random.default_rng(settings.seed)
  code_dim = len(OBJECTS) + len(COLOURS) + len(ACTIONS)
  projection = rng.normal(size=(code_dim, settings.feature_dim))
  bias = rng.normal(size=settings.feature_dim) * 0.1
  videos, frames = [], {}
  sizes = (('train', settings.num_train_videos), ('val', settings.num_val_videos),
           ('test', settings.num_test_videos))
  for split, size in sizes:
    for _ in range(size):
      obj, colour = rng.integers(len(OBJECTS)), rng.integers(len(COLOURS))
      first, second = rng.choice(len(ACTIONS), size=2, replace=False)
      lengths = rng.integers(FRAMES_PER_ACTION[0], FRAMES_PER_ACTION[1] + 1, size=2)
      code = np.zeros((int(lengths.sum()), code_dim))
      code[:, obj] = 1.0
      code[:, len(OBJECTS) + colour] = 1.0
      action_column = len(OBJECTS) + len(COLOURS)
      code[: lengths[0], action_column + first] = 1.0
      code[lengths[0]:, action_column + second] = 1.0
      clean = np.maximum(code @ projection + bias, 0.0)
      number = len(videos) + 1
      name = f'vid{number}'
      frames[name] = (clean + settings.noise * rng.normal(size=clean.shape)).astype(np.float32)
      sentences = _captions(OBJECTS[obj], COLOURS[colour], ACTIONS[first], ACTIONS[second])
      sentids = tuple(range(len(videos) * len(TEMPLATES), (len(videos) + 1) * len(TEMPLATES)))
      videos.append(VideoCaptions(name, split, sentences, sentids, number))
  return videos, frames


def prepare(settings: ml_collections.ConfigDict, output_dir: str) -> None:
  """Generates the demo videos and writes them as a prepared directory."""
  videos, frames = make_videos(settings)
  vocab = Vocabulary.build(
      (s for v in videos if v.split == 'train' for s in v.sentences), min_count=1
  )
  video_captions.write_dataset(
      videos, lambda video: frames[video.name], vocab, output_dir,
      source={'videos': 'mmcap demo', 'demo_config': settings.to_dict()},
      videos_per_shard=250,
  )
