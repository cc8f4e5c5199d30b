"""Tests of the Re3 simulator (re3_jax.input.synthetic); the images are in test_procedural.py."""

from __future__ import annotations

import numpy as np
import pytest

from re3_jax.input import motion
from re3_jax.input import synthetic

# A plain grey image with one magenta rectangle: the colour tells where the target is drawn.
GREY = np.array([90, 90, 90])
MAGENTA = np.array([250, 30, 200])
RECT = np.array([[150, 110, 250, 190]], np.float32)


def _rect_image() -> np.ndarray:
  image = np.full((300, 400, 3), GREY, np.uint8)
  image[110:190, 150:250] = MAGENTA
  return image


def _magenta(frames: np.ndarray) -> np.ndarray:
  """(..., H, W) mask of the pixels closer to the rectangle's colour than to the grey."""
  f = frames.astype(np.int32)
  return np.abs(f - MAGENTA).sum(-1) < np.abs(f - GREY).sum(-1)


def _rect_sequence(seed: int, length: int, **kwargs):
  return synthetic.simulate(np.random.default_rng(seed), _rect_image(), RECT, length, **kwargs)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  lo, hi = np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:], b[..., 2:])
  inter = np.prod(np.clip(hi - lo, 0, None), -1)
  area = lambda x: np.prod(x[..., 2:] - x[..., :2], -1)
  return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope='module')
def procedural():
  """Eight procedural sequences of 24 frames, seeds 0-7."""
  return [synthetic.procedural_sequence(np.random.default_rng(s), 24) for s in range(8)]


def test_shapes_and_dtypes(procedural):
  for frames, boxes in procedural:
    assert frames.shape == (24, 400, 400, 3) and frames.dtype == np.uint8
    assert boxes.shape == (24, 4) and boxes.dtype == np.float32
  frames, boxes = synthetic.simulate(np.random.default_rng(0), _rect_image(), RECT, 3,
                                     size=(120, 200), num_distractors=3)
  assert frames.shape == (3, 120, 200, 3) and boxes.shape == (3, 4)


def test_deterministic_for_a_seed_and_different_across_seeds():
  a = synthetic.procedural_sequence(np.random.default_rng(5), 6)
  b = synthetic.procedural_sequence(np.random.default_rng(5), 6)
  c = synthetic.procedural_sequence(np.random.default_rng(6), 6)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


def test_boxes_stay_inside_the_frame(procedural):
  # Textures (object + context) bounce off the borders, so the box never leaves the frame.
  sequences = procedural + [_rect_sequence(s, 60, speed=4.0, num_distractors=0) for s in range(3)]
  for _, boxes in sequences:
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2:] <= 400)
    assert np.all(boxes[:, 2:] > boxes[:, :2])


def test_box_matches_the_drawn_object():
  for seed in range(6):
    frames, boxes = _rect_sequence(seed, 12, num_distractors=0, speed=2.0)
    for t, (x1, y1, x2, y2) in enumerate(boxes):
      # Inside the 2x window only the target's texture is drawn: its magenta part is the box.
      w, h = x2 - x1, y2 - y1
      wx1, wy1 = int(max(x1 - w / 2, 0)), int(max(y1 - h / 2, 0))
      wx2, wy2 = int(min(x2 + w / 2, 400)), int(min(y2 + h / 2, 400))
      window = _magenta(frames[t, wy1:wy2, wx1:wx2])
      cols, rows = np.flatnonzero(window.any(0)), np.flatnonzero(window.any(1))
      found = [wx1 + cols[0], wy1 + rows[0], wx1 + cols[-1] + 1, wy1 + rows[-1] + 1]
      np.testing.assert_allclose(found, boxes[t], atol=1.0, err_msg=f'seed {seed} frame {t}')
      # Solid magenta inside (1.5 px in from the edges).
      inner = window[int(np.ceil(y1 + 1.5)) - wy1:int(y2 - 1.5) - wy1,
                     int(np.ceil(x1 + 1.5)) - wx1:int(x2 - 1.5) - wx1]
      assert inner.all(), f'seed {seed} frame {t}'


def test_motion_is_smooth(procedural):
  ious = np.concatenate([_iou(b[1:], b[:-1]) for _, b in procedural])
  assert np.median(ious) > 0.75
  assert np.mean(ious > 0.4) > 0.95
  assert np.all(ious > 0.1)


def test_bounces_keep_the_target_visible():
  frames, boxes = _rect_sequence(0, 80, num_distractors=0, speed=4.0)
  centres = (boxes[:, :2] + boxes[:, 2:]) / 2
  assert np.ptp(centres, axis=0).max() > 50  # it did move
  for t, b in enumerate(boxes.round().astype(int)):
    inside = _magenta(frames[t, b[1] + 2:b[3] - 2, b[0] + 2:b[2] - 2])
    assert inside.mean() > 0.99, t


def test_size_and_aspect_limits():
  native = (RECT[0, 2] - RECT[0, 0]) / (RECT[0, 3] - RECT[0, 1])
  for seed in range(6):
    _, boxes = _rect_sequence(seed, 60, num_distractors=0, speed=3.0)
    wh = boxes[:, 2:] - boxes[:, :2]
    assert wh.min() >= synthetic.TARGET_MIN_SIDE * 400 - 1e-3
    assert wh.max() <= synthetic.TARGET_MAX_SIDE * 400 + 1e-3
    ratio = wh[:, 0] / wh[:, 1] / native
    assert ratio.min() >= 1 / motion.MAX_ASPECT_CHANGE - 1e-3
    assert ratio.max() <= motion.MAX_ASPECT_CHANGE + 1e-3
    assert np.ptp(wh[:, 0]) > 0  # the size does change


def test_distractors_above_occlude_the_target():
  occluded = 0
  for seed in range(10):
    frames, boxes = _rect_sequence(seed, 24, num_distractors=20, speed=2.0)
    fractions = []
    for t, b in enumerate(boxes):
      x1, y1 = int(np.ceil(b[0] + 1.5)), int(np.ceil(b[1] + 1.5))
      fractions.append(_magenta(frames[t, y1:int(b[3] - 1.5), x1:int(b[2] - 1.5)]).mean())
    # The warm-up starts every sequence with the target (nearly) in full view.
    assert fractions[0] > 0.9, seed
    occluded += min(fractions) < 0.8
  assert occluded >= 2


def test_distractors_are_drawn():
  frames, _ = _rect_sequence(1, 1, num_distractors=0)
  with_distractors, _ = _rect_sequence(1, 1, num_distractors=20)
  # Distractor patches are mostly grey here, but their feathered edges and any
  # magenta in them change pixels of the background.
  assert not np.array_equal(frames, with_distractors)


def test_target_choice_and_small_boxes():
  image = _rect_image()
  tiny = np.array([10, 10, 20, 20], np.float32)  # 0.08% of the image: never a target
  boxes = np.stack([tiny, RECT[0]])
  for seed in range(5):
    _, out = synthetic.simulate(np.random.default_rng(seed), image, boxes, 1)
    wh = out[0, 2:] - out[0, :2]
    np.testing.assert_allclose(wh[0] / wh[1], 1.25, rtol=0.5)  # the rectangle, not the square
  with pytest.raises(ValueError, match='1%'):
    synthetic.simulate(np.random.default_rng(0), image, tiny[None], 4)
  with pytest.raises(ValueError, match='under 1%'):
    synthetic.simulate(np.random.default_rng(0), image, boxes, 4, target=0)
  with pytest.raises(ValueError, match='out of range'):
    synthetic.simulate(np.random.default_rng(0), image, boxes, 4, target=2)


@pytest.mark.parametrize('image, boxes, length, kwargs, match', [
    (np.zeros((50, 60, 3), np.float32), RECT / 5, 4, {}, 'uint8'),
    (np.zeros((50, 60, 2), np.uint8), RECT / 5, 4, {}, 'shape'),
    (np.zeros((50, 60, 3), np.uint8), np.zeros((0, 4)), 4, {}, r'\(N, 4\)'),
    (np.zeros((50, 60, 3), np.uint8), np.ones((2, 3)), 4, {}, r'\(N, 4\)'),
    (np.zeros((50, 60, 3), np.uint8), [[30, 10, 20, 40]], 4, {}, 'width'),
    (np.zeros((50, 60, 3), np.uint8), [[0, 0, np.nan, 40]], 4, {}, 'NaN'),
    (np.zeros((50, 60, 3), np.uint8), [[70, 10, 90, 40]], 4, {}, 'outside'),
    (np.zeros((50, 60, 3), np.uint8), [[10, 10, 40, 40]], 0, {}, 'length'),
    (np.zeros((50, 60, 3), np.uint8), [[10, 10, 40, 40]], 4, {'size': (8, 8)}, 'size'),
    (np.zeros((50, 60, 3), np.uint8), [[10, 10, 40, 40]], 4, {'num_distractors': -1}, 'num_distractors'),
    (np.zeros((50, 60, 3), np.uint8), [[10, 10, 40, 40]], 4, {'speed': -1.0}, 'speed'),
])
def test_input_validation(image, boxes, length, kwargs, match):
  with pytest.raises(ValueError, match=match):
    synthetic.simulate(np.random.default_rng(0), image, boxes, length, **kwargs)


def test_grayscale_and_rgba_images_are_accepted():
  grey = _rect_image()[..., 0]
  rgba = np.concatenate([_rect_image(), np.full((300, 400, 1), 255, np.uint8)], -1)
  for image in (grey, rgba):
    frames, _ = synthetic.simulate(np.random.default_rng(0), image, RECT, 2, num_distractors=2)
    assert frames.shape == (2, 400, 400, 3)
