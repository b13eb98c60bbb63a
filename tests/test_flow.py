"""Optical flow images: a translating square gives LRCN's encoding of its
motion, and the command writes one image per frame pair, resumably."""

import os

import cv2
import numpy as np
import pytest

from mmcap.data import flow
from mmcap.errors import InputError

from conftest import run_command_lines, with_flags

SIZE, SQUARE = 96, 40


def texture(size: int, seed: int) -> np.ndarray:
  noise = np.random.default_rng(seed).uniform(0, 255, (size, size)).astype(np.float32)
  return cv2.GaussianBlur(noise, (0, 0), 1.5)


def frame(x: int, y: int) -> np.ndarray:
  """A textured SQUARE-pixel square at (x, y) on a flat grey ground."""
  image = np.full((SIZE, SIZE), 60, np.float32)
  image[y:y + SQUARE, x:x + SQUARE] = texture(SQUARE, 0)
  return image.astype(np.uint8)


@pytest.mark.parametrize('method', ['tvl1', 'farneback'])
@pytest.mark.parametrize('dx, dy', [(2, 1), (-1, 3)])
def test_a_translating_square_is_encoded_as_its_motion(method, dx, dy):
  encoded = flow.encode(flow.flow_function(method)(frame(20, 24), frame(20 + dx, 24 + dy)))
  inside = encoded[30:58, 28:56].astype(float)  # away from the square's edges
  want = (16 * dx + 128, 16 * dy + 128, 16 * np.hypot(dx, dy) + 128)
  assert np.abs(inside - want).max() <= 1


@pytest.mark.parametrize('method', ['tvl1', 'farneback'])
def test_a_still_scene_has_no_flow(method):
  # (A flat ground has no measurable flow: the methods fill it from the
  # nearest texture, so the still case is a textured one.)
  still = texture(SIZE, 1).astype(np.uint8)
  encoded = flow.encode(flow.flow_function(method)(still, still)).astype(float)
  assert np.abs(encoded - 128).max() <= 1


def test_encoding_clips_and_decodes():
  vectors = np.array([[[0.0, 0.0], [10.0, -10.0], [0.5, -0.25]]], np.float32)
  encoded = flow.encode(vectors)
  np.testing.assert_array_equal(encoded, [[[128, 128, 128], [255, 0, 255], [136, 124, 137]]])
  np.testing.assert_allclose(flow.decode(encoded)[0, 2], (0.5, -0.25))


def write_video(directory, positions, extension='.png'):
  os.makedirs(directory)
  for k, (x, y) in enumerate(positions):
    cv2.imwrite(os.path.join(directory, f'{k:05d}{extension}'), frame(x, y))


def test_command_writes_one_image_per_frame_pair_and_resumes(tmp_path, capsys):
  frames, output = tmp_path / 'frames', tmp_path / 'flow'
  write_video(frames / 'v_walk', [(10, 10), (12, 11), (14, 12), (16, 13)])
  write_video(frames / 'v_jump', [(30, 30), (30, 27)], extension='.jpg')
  flow.compute(str(frames), str(output), 'farneback')
  assert sorted(os.listdir(output)) == ['v_jump', 'v_walk']
  assert sorted(os.listdir(output / 'v_walk')) == [f'flow_{k:05d}.png' for k in (1, 2, 3)]
  image = cv2.imread(str(output / 'v_walk' / 'flow_00002.png'))[..., ::-1]  # RGB
  assert np.abs(image[22:42, 22:42].astype(float) - (160, 144, 16 * np.hypot(2, 1) + 128)).max() <= 1
  jump = cv2.imread(str(output / 'v_jump' / 'flow_00001.png'))[..., ::-1]
  assert np.abs(flow.decode(jump)[40:60, 40:60] - (0, -3)).max() < 0.1
  # A rerun skips the videos done; a new video is added.
  before = os.path.getmtime(output / 'v_walk' / 'flow_00001.png')
  write_video(frames / 'v_run', [(10, 10), (11, 10)])
  flow.compute(str(frames), str(output), 'farneback')
  assert os.path.getmtime(output / 'v_walk' / 'flow_00001.png') == before
  assert sorted(os.listdir(output)) == ['v_jump', 'v_run', 'v_walk']
  assert '3 videos (2 done before)' in capsys.readouterr().out


def test_a_bad_video_leaves_nothing_of_itself(tmp_path):
  frames, output = tmp_path / 'frames', tmp_path / 'flow'
  write_video(frames / 'a_good', [(10, 10), (11, 10)])
  write_video(frames / 'b_bad', [(10, 10), (11, 10)])
  (frames / 'b_bad' / '00002.png').write_text('not an image')
  with pytest.raises(InputError, match=r'b_bad/00002.png: not a readable JPEG or PNG image'):
    flow.compute(str(frames), str(output), 'tvl1')
  assert sorted(os.listdir(output)) == ['a_good']


BAD_FLAGS = [
    (['--frames={d}/none'], '--frames={d}/none: not a directory'),
    (['--frames={d}/empty'], 'no video directories in it'),
    (['--frames={d}/one_frame'], 'one_frame/v: 1 frame(s), a flow needs at least 2'),
    (['--frames={d}/sizes'], 'v/00001.png: 48x48 pixels, but the video\'s first frame is 96x96'),
    (['--output={d}/file/flow'], '--output={d}/file/flow: cannot create it'),
    (['--method=lucas'], "--method=lucas: value should be one of"),
]


@pytest.fixture(scope='module')
def bad_flag_results(tmp_path_factory):
  """Every case of BAD_FLAGS run in one process (tests/cli_driver.py)."""
  d = tmp_path_factory.mktemp('bad_flags')
  (d / 'empty').mkdir()
  write_video(d / 'one_frame' / 'v', [(10, 10)])
  write_video(d / 'sizes' / 'v', [(10, 10)])
  cv2.imwrite(str(d / 'sizes' / 'v' / '00001.png'), np.zeros((48, 48), np.uint8))
  write_video(d / 'good' / 'v', [(10, 10), (11, 10)])
  (d / 'file').write_text('')
  defaults = {'--frames': f'{d}/good', '--output': f'{d}/out'}
  cases = [with_flags(defaults, flags, d) for flags, _ in BAD_FLAGS]
  return d, run_command_lines('mmcap.flow', cases, d)


@pytest.mark.parametrize('index', range(len(BAD_FLAGS)), ids=[m for _, m in BAD_FLAGS])
def test_bad_flags_are_one_line(bad_flag_results, index):
  d, results = bad_flag_results
  result = results[index]
  assert result['traceback'] is None and result['status'] in (1, 2), result
  (line,) = result['stderr'].strip().splitlines()
  assert BAD_FLAGS[index][1].format(d=d) in line, line
  assert not os.path.exists(f'{d}/out/v') and not os.path.exists(f'{d}/out/v.tmp')
