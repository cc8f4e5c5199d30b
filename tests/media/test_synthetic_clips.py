"""Tests of the clips made from nothing (re3_jax.media.synthetic_clips)."""

import numpy as np

from re3_jax.media import synthetic_clips


def test_synthetic_clip_is_deterministic_and_draws_its_box():
  clip = synthetic_clips.synthetic_clip(20, seed=4, size=(72, 96))
  again = synthetic_clips.synthetic_clip(20, seed=4, size=(72, 96))
  np.testing.assert_array_equal(clip.frames, again.frames)
  np.testing.assert_array_equal(clip.boxes, again.boxes)
  assert clip.name == 'synthetic_4'
  assert clip.frames.shape == (20, 72, 96, 3) and clip.frames.dtype == np.uint8
  assert clip.boxes.shape == (20, 4) and clip.boxes.dtype == np.float32
  x1, y1, x2, y2 = clip.boxes.T
  assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 96).all() and (y2 <= 72).all()
  assert (x2 > x1).all() and (y2 > y1).all()
  assert len({tuple(b) for b in clip.boxes}) > 10  # it moves
  # Outside the two boxes, two frames show the same (still) background.
  (a1, b1, a2, b2), (c1, d1, c2, d2) = clip.boxes[[0, -1]].astype(int)
  outside = np.ones((72, 96), bool)
  outside[b1:b2, a1:a2] = outside[d1:d2, c1:c2] = False
  np.testing.assert_array_equal(clip.frames[0][outside], clip.frames[-1][outside])
  assert not np.array_equal(clip.frames[0][~outside], clip.frames[-1][~outside])
  other = synthetic_clips.synthetic_clip(20, seed=5, size=(72, 96))
  assert not np.array_equal(other.frames, clip.frames)


def test_draw_boxes_skips_empty_boxes():
  frame = np.zeros((20, 30, 3), np.uint8)
  texture = np.full((8, 8, 3), 200, np.uint8)
  synthetic_clips.draw_boxes(frame, [texture, texture], np.array([[2, 3, 12, 9], [5, 5, 5, 9]]))
  assert (frame[3:9, 2:12] == 200).all() and frame.sum() == 200 * 3 * 60
