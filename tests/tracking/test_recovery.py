"""Tests of recovery (issue 26): a lost track searches for its first-frame target again."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.core import noise
from re3_jax.evaluation import metrics
from re3_jax.media import synthetic_clips
from re3_jax.tracking import functional
from re3_jax.tracking import recovery as recovery_lib
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.tracking import tracker_config

BOX = 40      # the target's side, pixels
JUMP_AT = 6   # the first frame with the target at its new place
SHIFT = 100   # how far it jumps: 2.5 boxes, beyond the crop (the box +- 1 box)


@pytest.fixture(scope='module')
def shipped():
  tr = tracker_lib.Re3Tracker.pretrained()
  return tr.params, tr.config


def _jump_clip(n=16):
  """A textured 40x40 target creeping right over a smooth background, then, from frame
  JUMP_AT, 2.5 boxes further right: outside the window Re3 searches (twice the box)."""
  rng = np.random.default_rng(0)
  h, w = 240, 360
  background = (noise.smooth_noise(rng, (h, w, 3), 8) * 60 + 100).astype(np.uint8)
  texture = (np.clip(noise.smooth_noise(rng, (BOX, BOX, 3), 3), 0, 1) * 255).astype(np.uint8)
  frames, boxes = [], []
  for t in range(n):
    x, y = 60 + t + (SHIFT if t >= JUMP_AT else 0), 100
    frame = background.copy()
    frame[y:y + BOX, x:x + BOX] = texture
    frames.append(frame)
    boxes.append([x, y, x + BOX, y + BOX])
  return np.stack(frames), np.asarray(boxes, np.float32)


def _run(params, config, frames, box, recovery):
  tr = tracker_lib.Re3Tracker(params, config, recovery=recovery, pack=False)
  out, scores = [tr.track(0, frames[0], box)], [1.0]
  for frame in frames[1:]:
    b, s = tr.track(0, frame, with_score=True)
    out.append(b)
    scores.append(s)
  return np.stack(out), np.asarray(scores)


def test_ncc_is_the_cosine_at_every_offset():
  """Against NumPy's cosine of the flattened template and each window, written out."""
  rng = np.random.default_rng(1)
  maps = rng.normal(size=(2, 8, 8, 5)).astype(np.float32)
  template = maps[:, 1:5, 2:6].copy()        # the first map's window at offset (1, 2)
  template[1] = rng.normal(size=(4, 4, 5))
  got = np.asarray(recovery_lib.ncc(jnp.asarray(template), jnp.asarray(maps)))
  assert got.shape == (2, 5, 5)
  for n in range(2):
    t = template[n].ravel()
    for i in range(5):
      for j in range(5):
        win = maps[n, i:i + 4, j:j + 4].ravel()
        # float32 sums of 80 products of unit-scale normals: relative error ~1e-6.
        assert got[n, i, j] == pytest.approx(
            t @ win / np.linalg.norm(t) / np.linalg.norm(win), abs=1e-5)
  assert got[0, 1, 2] == pytest.approx(1.0, abs=1e-5)


def test_lattice_is_centred_and_odd():
  offsets = recovery_lib._lattice(3)  # pylint: disable=protected-access
  assert offsets.shape == (9, 2)
  np.testing.assert_array_equal(offsets[0], [0, 0])
  assert {tuple(o) for o in offsets} == {(x, y) for x in (-1, 0, 1) for y in (-1, 0, 1)}


def test_a_jumping_target_is_found_again(shipped):
  """Without recovery the box stays where the target was (IoU 0 from the jump on); with it,
  the search finds the texture within patience + 3 frames of the jump and the track holds it.

  Why patience + 3: the jump is 2.5 boxes; the lattice's step is 1 box on the first frame
  searched, 1.5 on the second, 2 on the third, 2.5 on the fourth, and a candidate's map
  reaches +-0.5 box past its centre (quarter-box cells), so 2.5 is in reach at the edge of a
  candidate's map on the third frame searched (frame JUMP_AT + patience + 1; measured: found
  there with the default layout) and at a candidate's centre on the fourth (JUMP_AT +
  patience + 2). IoU 0.5: on the target (the box's size is kept and its place is within an
  eighth of a box: IoU >= 0.6 for a 40 px box 5 px off in both axes).
  """
  params, config = shipped
  frames, truth = _jump_clip()
  rec = recovery_lib.DEFAULT
  off, off_scores = _run(params, config, frames, truth[0], None)
  on, _ = _run(params, config, frames, truth[0], rec)
  off_iou, on_iou = metrics.iou(off, truth), metrics.iou(on, truth)
  assert np.all(off_iou[:JUMP_AT] > 0.5) and np.all(on_iou[:JUMP_AT] > 0.5)
  assert np.all(off_iou[JUMP_AT:] < 0.1), off_iou       # lost for good without
  assert np.all(off_scores[JUMP_AT:] < rec.threshold)   # ... and the score says so
  found = JUMP_AT + rec.patience + 2
  assert np.all(on_iou[found:] > 0.5), on_iou           # found, and held to the end


def test_recovery_never_triggered_changes_nothing(shipped):
  """A clip the tracker follows with every score above the threshold: boxes and scores
  bit for bit those of tracking without recovery (the search sits in an untaken branch)."""
  params, config = shipped
  clip = synthetic_clips.synthetic_clip(12, seed=3, size=(240, 360))
  rec = recovery_lib.DEFAULT
  off, off_scores = _run(params, config, clip.frames, clip.boxes[0], None)
  on, on_scores = _run(params, config, clip.frames, clip.boxes[0], rec)
  assert np.all(off_scores >= rec.threshold), off_scores   # the premise: never low
  np.testing.assert_array_equal(on, off)
  np.testing.assert_array_equal(on_scores, off_scores)


def test_never_nan_while_searching(shipped):
  """Degenerate frames (black: zero features, a zero norm in every comparison), a tiny box in
  a corner and a searching lattice pushed outside the image: boxes and scores stay finite,
  ordered, at least a pixel wide."""
  params, config = shipped
  frames, truth = _jump_clip(8)
  frames[3:] = 0
  rec = recovery_lib.Recovery(threshold=2.0, patience=1, resume=-2.0)  # search, resume always
  for box in (truth[0], np.array([0, 0, 2, 2], np.float32)):
    state = functional.init(params, frames[0], [box], config=config)
    for frame in frames[1:]:
      boxes, state = functional.step(params, state, frame, config=config, recovery=rec)
      b = np.asarray(boxes)
      assert np.all(np.isfinite(b)) and np.all(np.isfinite(np.asarray(state.score)))
      assert np.all(b[:, 2:] - b[:, :2] >= functional.MIN_BOX_SIZE)
      assert int(state.low[0]) >= 1   # it did search (every score is below 2)


def test_track_video_takes_recovery(shipped):
  """The scan runs the same step: its boxes are the per-frame API's (jit of a scan vs of a
  step: float rounding may differ, but a found target is found by both)."""
  params, config = shipped
  frames, truth = _jump_clip()
  out = functional.track_video(params, frames, truth[0], config=config, recovery=True)
  iou = metrics.iou(np.asarray(out), truth)
  assert np.all(iou[JUMP_AT + recovery_lib.DEFAULT.patience + 2:] > 0.5), iou


def test_bad_recovery_settings_are_named(tiny):
  params, config = tiny
  with pytest.raises(ValueError, match='patience'):
    recovery_lib.Recovery(patience=0)
  with pytest.raises(ValueError, match='grid'):
    recovery_lib.Recovery(grid=4)
  with pytest.raises(ValueError, match='recovery must be'):
    tracker_lib.Re3Tracker(params, config, recovery='on')
  assert not model.CONFIGS[config.name].correlation
  with pytest.raises(ValueError, match='needs a confidence'):
    tracker_lib.Re3Tracker(params, config, recovery=True)


def test_tracker_config_carries_recovery(tiny):
  """`--tracker.recovery` reaches the tracker; a model without a score tracks without."""
  del tiny
  fields = {f.name: f for f in dataclasses.fields(tracker_config.TrackerConfig)}
  assert 'recovery' in fields
  tr = tracker_config.build_tracker(tracker_config.TrackerConfig(random_model='tiny',
                                                                 recovery=True))
  assert tr.recovery is None
