"""The built-in demo video set: objects moving along a track, where time
matters. Generated at run time, deterministic, no download.

Each video shows one of 5 objects for 12 to 40 frames, moving left, moving
right or staying still (with a jitter) on a circular track: 15 classes. The
object starts anywhere and each object moves at its own speed, so every
position is equally likely in every class.

  rgb   per-frame features of what is where: a fixed random ReLU map of the
        object and its position, plus noise. One frame tells the object, but
        not whether it moves left, right or not at all: the classes of one
        object differ only in the order of the frames.
  flow  per-frame features of how things move: a fixed random ReLU map of
        the displacement since the last frame (jittered), plus noise. It tells
        direction and speed (hence which object, among the movers), but not
        which object stays still.

So a single RGB frame is right about a third of the time, a sequence of them
almost always; flow knows the motion but not what is still; the two fused
know both.
"""

import ml_collections
import numpy as np

from mmcap.data import video_records
from mmcap.data.video_records import Video

OBJECTS = ('ball', 'cup', 'car', 'dog', 'box')
MOTIONS = ('left', 'right', 'still')
CLASSES = tuple(f'{o}_moving_{m}' if m != 'still' else f'{o}_still'
                for o in OBJECTS for m in MOTIONS)
SPEEDS = (0.03, 0.045, 0.06, 0.075, 0.09)  # track lengths per frame, by object
_POSITION_BINS = 8
_VELOCITY_BINS = np.linspace(-0.1, 0.1, 9)


def _bumps(value: np.ndarray, centres: np.ndarray, width: float, circular: bool) -> np.ndarray:
  distance = value[:, None] - centres[None, :]
  if circular:
    distance = (distance + 0.5) % 1.0 - 0.5
  return np.exp(-0.5 * (distance / width) ** 2)


def _video(rng, label: int, config, maps) -> dict[str, np.ndarray]:
  obj, motion = divmod(label, len(MOTIONS))
  num_frames = int(rng.integers(12, 41))
  t = np.arange(num_frames + 1)
  velocity = {'left': -SPEEDS[obj], 'right': SPEEDS[obj], 'still': 0.0}[MOTIONS[motion]]
  jitter = rng.normal(scale=0.01, size=num_frames + 1) if velocity == 0 else 0.0
  position = (rng.uniform() + velocity * t + jitter) % 1.0
  # What is where: the object's one-hot times a soft position code.
  where = _bumps(position[1:], np.arange(_POSITION_BINS) / _POSITION_BINS, 0.06, True)
  what_where = (np.eye(len(OBJECTS))[obj][None, :, None] * where[:, None, :]).reshape(
      num_frames, -1)
  # How it moves: the displacement since the last frame, observed with noise.
  moved = (position[1:] - position[:-1] + 0.5) % 1.0 - 0.5
  moved = moved + rng.normal(scale=config.motion_noise, size=num_frames)
  motion_code = _bumps(moved, _VELOCITY_BINS, 0.015, False)
  streams = {}
  for stream, code in (('rgb', what_where), ('flow', motion_code)):
    projection, bias = maps[stream]
    clean = np.maximum(code @ projection + bias, 0.0)
    streams[stream] = clean + config.noise * rng.normal(size=clean.shape)
  return streams


def make_videos(config: ml_collections.ConfigDict) -> tuple[list[Video], dict]:
  """The videos and, by name, their 'rgb' and 'flow' features [T, D]."""
  rng = np.random.default_rng(config.seed)
  maps = {}
  for stream, code_dim in (('rgb', len(OBJECTS) * _POSITION_BINS), ('flow', len(_VELOCITY_BINS))):
    maps[stream] = (rng.normal(size=(code_dim, config.feature_dim)),
                    rng.normal(size=config.feature_dim) * 0.1)
  videos, features = [], {}
  for split, size in (('train', config.num_train_videos), ('val', config.num_val_videos),
                      ('test', config.num_test_videos)):
    for _ in range(size):
      label = int(rng.integers(len(CLASSES)))
      name = f'v_{CLASSES[label]}_{len(videos):05d}'
      videos.append(Video(name, label, split))
      features[name] = _video(rng, label, config, maps)
  return videos, features


def prepare(config: ml_collections.ConfigDict, output_dir: str, stream: str) -> None:
  """Generates the demo videos and writes one stream as a prepared directory."""
  videos, features = make_videos(config)
  video_records.write_videos(
      videos, lambda video: features[video.name][stream], CLASSES, stream, output_dir,
      source={'videos': 'mmcap demo', 'demo_config': config.to_dict()},
      videos_per_shard=200,
  )
