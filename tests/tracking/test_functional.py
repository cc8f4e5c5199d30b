"""Tests of the pure tracker (`re3_jax.tracking.functional`): the reset schedule, input
checks, determinism. Its agreement with `Re3Tracker` is tested in test_tracker.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.media import synthetic_clips
from re3_jax.tracking import functional


def _clip(n=12, seed=0):
  return synthetic_clips.synthetic_clip(n, seed=seed, size=(96, 128))


def test_reset_schedule_frames_32_and_64(steady):
  params, config = steady
  clip = _clip(70, seed=1)
  box = clip.boxes[0]
  with_reset = functional.track_video(params, clip.frames, box, config=config)
  no_reset = functional.track_video(params, clip.frames, box, config=config,
                                    reset_interval=10**6)
  late_reset = functional.track_video(params, clip.frames, box, config=config,
                                      reset_interval=64)
  diff = np.abs(np.asarray(with_reset) - np.asarray(no_reset)).max(axis=1)
  # The first reset follows the prediction of frame 32: frames 0..32 agree, 33 differs.
  assert np.all(diff[:33] == 0)
  assert diff[33] > 0
  late = np.abs(np.asarray(late_reset) - np.asarray(no_reset)).max(axis=1)
  assert np.all(late[:65] == 0) and late[65:].max() > 0


def test_track_video_scores_nan_without_a_score(tiny):
  params, config = tiny  # no correlation: its features lack the tower's last activation
  clip = _clip(4, seed=4)
  boxes, scores = functional.track_video(params, clip.frames, clip.boxes[0], config=config,
                                         with_scores=True)
  assert boxes.shape == (4, 4) and scores.shape == (4,) and np.isnan(scores).all()


def test_pure_init_and_step_check_their_inputs(tiny):
  """The functional API refuses what `Re3Tracker` refuses (issue 16: a NaN box gave NaN
  boxes forever, a (4,) box became 4 tracks, float images were accepted)."""
  params, config = tiny
  image = np.full((96, 128, 3), 90, np.uint8)
  for boxes, match in [([[np.nan, 1, 20, 20]], r'starting boxes\[0\].*NaN'),
                       ([1, 1, 20, 20], r'\(N, 4\).*one box: give \[box\]'),
                       (np.zeros((0, 4)), 'N >= 1'),
                       ([[1, 1, 20, 20], [200, 1, 220, 20]], r'\[1\].*entirely outside')]:
    with pytest.raises(ValueError, match=match):
      functional.init(params, image, boxes, config=config)
  with pytest.raises(ValueError, match='float32.*ambiguous'):
    functional.init(params, image.astype(np.float32), [[1, 1, 20, 20]], config=config)
  state = functional.init(params, image, [[1, 1, 20, 20]], config=config)
  with pytest.raises(ValueError, match='float64.*ambiguous'):
    functional.step(params, state, image / 255.0, config=config)  # float64
  with pytest.raises(ValueError, match='reset_interval'):
    functional.step(params, state, image, config=config, reset_interval=0)
  with pytest.raises(ValueError, match='TrackState'):
    functional.step(params, state._asdict(), image, config=config)
  # Grayscale and RGBA frames are converted, as Re3Tracker converts them.
  rgb_box, _ = functional.step(params, state, image, config=config)
  for frame in (image[..., 0], np.concatenate([image, image[..., :1]], axis=-1)):
    box, _ = functional.step(params, state, frame, config=config)
    np.testing.assert_array_equal(box, rgb_box)
  # Inside another jitted function the values are traced: shapes are still checked.
  boxes_in_jit = jax.jit(lambda b: functional.init(params, image, b, config=config).box)
  np.testing.assert_array_equal(boxes_in_jit(jnp.float32([[1, 1, 20, 20]])), [[1, 1, 20, 20]])
  with pytest.raises(ValueError, match=r'\(N, 4\)'):
    boxes_in_jit(jnp.float32([1, 1, 20, 20]))


def test_track_video_shape_holes(tiny):
  """Issue 16: one (H, W, 3) frame was read as H grayscale frames; T = 0, no boxes and
  reset_interval=0 gave internal errors or were accepted."""
  params, config = tiny
  frame = np.zeros((48, 64, 3), np.uint8)
  for frames, boxes, kwargs, match in [
      (frame, [0, 0, 2, 2], {}, r'\(T, H, W, C\).*frames\[None\]'),
      (frame[None, ..., 0], [0, 0, 2, 2], {}, r'\(T, H, W, C\)'),
      (frame[:0][None][:0], [0, 0, 2, 2], {}, 'no frames'),
      (frame[None], np.zeros((0, 4)), {}, 'N >= 1'),
      (frame[None], [0, 0, 2, 2], {'reset_interval': 0}, 'reset_interval'),
      (frame[None], [0, 0, 2, 2], {'reset_interval': 2.5}, 'reset_interval')]:
    with pytest.raises(ValueError, match=match):
      functional.track_video(params, frames, boxes, config=config, **kwargs)
  assert functional.track_video(params, frame[None, ..., :1], [0, 0, 2, 2],
                                config=config).shape == (1, 4)


def test_deterministic(tiny):
  params, config = tiny
  clip = _clip(6, seed=10)
  again = model.init(jax.random.key(0), config)
  a = functional.track_video(params, clip.frames, clip.boxes[0], config=config)
  b = functional.track_video(again, clip.frames, clip.boxes[0], config=config)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
