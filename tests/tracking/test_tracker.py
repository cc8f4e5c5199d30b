"""Tests of `Re3Tracker`: the test-time procedure, batching, bad inputs, real clips; the pure
functions (`functional`) against it."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops
from re3_jax.datasets import sequences
from re3_jax.media import synthetic_clips
from re3_jax.model import checkpoints
from re3_jax.tracking import functional
from re3_jax.tracking import tracker as tracker_lib


def _clip(n=12, seed=0):
  return synthetic_clips.synthetic_clip(n, seed=seed, size=(96, 128))


def reference_track(params, config, frames, box, reset_interval):
  """The original tracker's loop (reference section 7), written with model.apply on the host."""
  def run(pair_images, window_box, state):
    window = boxes_lib.context_window(np.asarray(window_box, np.float32))
    c = [crops.crop(im, window, size=config.crop_size) for im in pair_images]
    out, state = model.apply(params, jnp.stack(c)[None, None], state, config)
    return boxes_lib.from_crop_frame(np.asarray(out[0, 0]), window), state

  zero = model.initial_state(1, config)
  _, state = run([frames[0], frames[0]], box, zero)
  initial = state
  result, prev_image, prev_box, count = [np.asarray(box)], frames[0], np.asarray(box), 1
  for frame in frames[1:]:
    new_box, state = run([prev_image, frame], prev_box, state)
    if count % reset_interval == 0:
      _, state = run([frame, frame], new_box, initial)
    result.append(new_box)
    prev_image, prev_box, count = frame, new_box, count + 1
  return np.stack(result)


@pytest.mark.parametrize('reset_interval', [3, 32])
def test_matches_reference_procedure(steady, reset_interval):
  params, config = steady
  # Large boxes keep the random network's predictions away from the guards.
  clip = _clip(10)
  box = np.array([20, 15, 100, 80], np.float32)
  expected = reference_track(params, config, clip.frames, box, reset_interval)
  tr = tracker_lib.Re3Tracker(params, config, reset_interval=reset_interval)
  got = [tr.track('a', clip.frames[0], box)] + [tr.track('a', f) for f in clip.frames[1:]]
  # The guards must not have fired for this comparison to be meaningful.
  assert np.all(boxes_lib.width_height(expected) > 1)
  np.testing.assert_allclose(np.stack(got), expected, atol=2e-3)


def test_squeeze_tower_matches_reference_procedure():
  """The squeezenet tower at its own crop size (63 here) through the same procedure."""
  config = model.get_config('squeeze', crop_size=63, skip_channels=(2, 2, 2), fc6_units=16,
                            lstm_units=8)
  params = model.init(jax.random.key(0), config)
  params['fc_output'] = {'w': params['fc_output']['w'] * 0.3,
                         'b': jnp.asarray(boxes_lib.CENTERED_BOX, jnp.float32)}
  clip = _clip(6)
  box = np.array([20, 15, 100, 80], np.float32)
  expected = reference_track(params, config, clip.frames, box, 3)
  tr = tracker_lib.Re3Tracker(params, config, reset_interval=3)
  got = [tr.track('a', clip.frames[0], box)] + [tr.track('a', f) for f in clip.frames[1:]]
  assert tr._state.prev_features.shape[1:] == (tr.config.features_per_crop,)  # pylint: disable=protected-access
  assert np.all(boxes_lib.width_height(expected) > 1)
  np.testing.assert_allclose(np.stack(got), expected, atol=2e-3)


def test_track_video_equals_per_frame_api(tiny):
  params, config = tiny
  clip = _clip(40, seed=2)
  video = np.asarray(functional.track_video(params, clip.frames, clip.boxes[0], config=config))
  tr = tracker_lib.Re3Tracker(params, config)
  per_frame = [tr.track(7, clip.frames[0], clip.boxes[0])]
  per_frame += [tr.track(7, f) for f in clip.frames[1:]]
  np.testing.assert_allclose(video, np.stack(per_frame), atol=1e-3)


@pytest.mark.parametrize('n', [None, 2])
def test_track_video_scores_equal_the_per_frame_api(scored, n):
  params, config = scored
  clip = _clip(12, seed=4)
  starts = clip.boxes[0] if n is None else np.stack([clip.boxes[0], [10, 10, 60, 50]])
  boxes, scores = functional.track_video(params, clip.frames, starts, config=config,
                                         with_scores=True)
  np.testing.assert_array_equal(boxes, functional.track_video(params, clip.frames, starts,
                                                              config=config))
  assert scores.shape == ((12,) if n is None else (12, n))
  ids = [0] if n is None else list(range(n))
  tr = tracker_lib.Re3Tracker(params, config)
  per_frame = [tr.multi_track(ids, clip.frames[0], dict(zip(ids, np.reshape(starts, (-1, 4)))),
                              with_scores=True)[1]]
  per_frame += [tr.multi_track(ids, f, with_scores=True)[1] for f in clip.frames[1:]]
  per_frame = np.stack(per_frame)
  np.testing.assert_allclose(scores, per_frame[:, 0] if n is None else per_frame, atol=1e-4)
  np.testing.assert_allclose(scores[0], 1.0, atol=1e-5)  # the start: the target itself
  assert np.all(np.abs(scores) <= 1 + 1e-5) and np.ptp(scores) > 1e-3


def test_pure_init_step_match_tracker(tiny):
  params, config = tiny
  clip = _clip(5, seed=3)
  state = functional.init(params, jnp.asarray(clip.frames[0]), clip.boxes[:1], config=config)
  tr = tracker_lib.Re3Tracker(params, config)
  tr.track('x', clip.frames[0], clip.boxes[0])
  for frame in clip.frames[1:]:
    box, state = functional.step(params, state, jnp.asarray(frame), config=config)
    np.testing.assert_allclose(np.asarray(box)[0], tr.track('x', frame), atol=1e-4)


def test_multi_track_equals_one_by_one(tiny):
  params, config = tiny
  clip = _clip(8, seed=4)
  starts = {'a': [10, 10, 60, 50], 'b': [40, 30, 100, 90], 'c': [5, 40, 45, 95]}
  multi = tracker_lib.Re3Tracker(params, config)
  single = {k: tracker_lib.Re3Tracker(params, config) for k in starts}
  out = multi.multi_track(list(starts), clip.frames[0], starts)
  np.testing.assert_array_equal(out, np.array(list(starts.values()), np.float32))
  for k, b in starts.items():
    single[k].track(k, clip.frames[0], b)
  for frame in clip.frames[1:]:
    out = multi.multi_track(['c', 'a', 'b'], frame)
    expected = [single[k].track(k, frame) for k in ['c', 'a', 'b']]
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-4)


def test_new_tracks_start_in_the_same_call_and_removal(tiny):
  params, config = tiny
  clip = _clip(6, seed=5)
  tr = tracker_lib.Re3Tracker(params, config)
  ref = tracker_lib.Re3Tracker(params, config)
  tr.track('a', clip.frames[0], [10, 10, 60, 50])
  ref.track('a', clip.frames[0], [10, 10, 60, 50])
  out = tr.multi_track(['a', 'b'], clip.frames[1], [None, [30, 30, 90, 80]])
  np.testing.assert_allclose(out[0], ref.track('a', clip.frames[1]), atol=1e-4)
  np.testing.assert_array_equal(out[1], [30, 30, 90, 80])
  tr.remove('a')
  assert tr.track_ids == ['b']
  with pytest.raises(ValueError, match="track 'a' is not being tracked"):
    tr.track('a', clip.frames[2])
  with pytest.raises(KeyError):
    tr.remove('a')
  # Slots are reused: capacity stays 2 after a removal and a new track.
  tr.track('c', clip.frames[2], [1, 1, 30, 30])
  assert tr._capacity() == 2


def test_restart_with_a_new_box(tiny):
  params, config = tiny
  clip = _clip(4, seed=6)
  tr = tracker_lib.Re3Tracker(params, config)
  tr.track('a', clip.frames[0], [10, 10, 60, 50])
  tr.track('a', clip.frames[1])
  restarted = tr.track('a', clip.frames[2], [20, 20, 70, 60])
  np.testing.assert_array_equal(restarted, [20, 20, 70, 60])
  fresh = tracker_lib.Re3Tracker(params, config)
  fresh.track('a', clip.frames[2], [20, 20, 70, 60])
  np.testing.assert_allclose(tr.track('a', clip.frames[3]), fresh.track('a', clip.frames[3]),
                             atol=1e-4)


@pytest.mark.parametrize('box, match', [
    ([np.nan, 1, 5, 5], 'NaN'),
    ([1, 1, np.inf, 5], 'NaN or infinite'),
    ([5, 5, 5, 9], 'width 0'),
    ([5, 9, 9, 5], 'height -4'),
    ([1, 2, 3], '4 values'),
    ([200, 10, 260, 50], 'entirely outside'),
    ([-50, -50, -1, -1], 'entirely outside'),
    ('abcd', '4 values|not 4 numbers'),
])
def test_bad_boxes_are_named(tiny, box, match):
  params, config = tiny
  tr = tracker_lib.Re3Tracker(params, config)
  image = np.zeros((96, 128, 3), np.uint8)
  with pytest.raises(ValueError, match=match) as e:
    tr.track('obj', image, box)
  assert "starting box of track 'obj'" in str(e.value)
  assert tr.track_ids == []
  with pytest.raises(ValueError, match=match):
    functional.track_video(params, image[None], box, config=config)


def test_box_partly_outside_is_accepted(tiny):
  params, config = tiny
  tr = tracker_lib.Re3Tracker(params, config)
  image = np.full((96, 128, 3), 128, np.uint8)
  tr.track('obj', image, [-20, -20, 10, 10])
  assert np.all(np.isfinite(tr.track('obj', image)))


def test_image_conversions(tiny):
  params, config = tiny
  rgb = _clip(3, seed=7).frames
  gray = rgb[..., 0]
  box = [20, 15, 100, 80]

  def run(frames):
    tr = tracker_lib.Re3Tracker(params, config)
    tr.track(0, frames[0], box)
    return np.stack([tr.track(0, f) for f in frames[1:]])

  as_rgb = run(np.repeat(gray[..., None], 3, axis=-1))
  np.testing.assert_array_equal(run(gray), as_rgb)
  np.testing.assert_array_equal(run(gray[..., None]), as_rgb)
  rgba = np.concatenate([rgb, np.full(rgb.shape[:-1] + (1,), 7, np.uint8)], axis=-1)
  np.testing.assert_array_equal(run(rgba), run(rgb))
  np.testing.assert_array_equal(run(jnp.asarray(rgb)), run(rgb))


@pytest.mark.parametrize('image, match', [
    (np.zeros((96, 128, 3), np.float32), 'float32.*ambiguous'),
    (np.zeros((96, 128, 3), np.uint16), 'uint16'),
    (np.zeros((96, 128, 2), np.uint8), 'shape'),
    (np.zeros((4, 96, 128, 3), np.uint8), 'shape'),
    (np.zeros((0, 128, 3), np.uint8), 'empty'),
])
def test_bad_images(tiny, image, match):
  params, config = tiny
  tr = tracker_lib.Re3Tracker(params, config)
  with pytest.raises(ValueError, match=match):
    tr.track(0, image, [1, 1, 20, 20])


def test_bad_calls(tiny):
  params, config = tiny
  tr = tracker_lib.Re3Tracker(params, config)
  image = np.zeros((96, 128, 3), np.uint8)
  with pytest.raises(ValueError, match='repeat'):
    tr.multi_track(['a', 'a'], image, {'a': [1, 1, 9, 9]})
  with pytest.raises(ValueError, match='not in track_ids'):
    tr.multi_track(['a'], image, {'b': [1, 1, 9, 9]})
  with pytest.raises(ValueError, match='2 boxes for 1'):
    tr.multi_track(['a'], image, [[1, 1, 9, 9], None])
  with pytest.raises(ValueError, match='at least one'):
    tr.multi_track([], image)
  with pytest.raises(ValueError, match='reset_interval'):
    tracker_lib.Re3Tracker(params, config, reset_interval=0)


def test_never_nan_nor_inverted(tiny):
  params, config = tiny
  clip = _clip(6, seed=8)
  for bias in (jnp.full((4,), jnp.nan), jnp.array([1e30, -1e30, -1e30, 1e30]),
               jnp.array([9.0, 9.0, 1.0, 1.0])):  # NaN, huge, inverted outputs
    broken = jax.tree_util.tree_map(lambda x: x, params)
    broken['fc_output'] = {'w': params['fc_output']['w'] * 0, 'b': bias}
    tr = tracker_lib.Re3Tracker(broken, config)
    tr.track(0, clip.frames[0], clip.boxes[0])
    for frame in clip.frames[1:]:
      b = tr.track(0, frame)
      assert np.all(np.isfinite(b)), b
      assert b[2] - b[0] >= functional.MIN_BOX_SIZE and b[3] - b[1] >= functional.MIN_BOX_SIZE


@pytest.mark.parametrize('name', ['otb_crossing', 'vot15_bag'])
def test_real_sequences_end_to_end_without_recompiling(tiny, sequences_dir, name, monkeypatch):
  params, config = tiny
  seq = sequences.load_sequence(sequences_dir / name)
  # Every jitted tracker function calls _init or _advance while it is traced, never when
  # it runs compiled: counting their calls counts traces.
  traces = []
  for fn in ('_init', '_advance'):
    real = getattr(functional, fn)
    monkeypatch.setattr(functional, fn,
                        lambda *a, _real=real, _fn=fn, **k: traces.append(_fn) or _real(*a, **k))
  tr = tracker_lib.Re3Tracker(params, config)
  out = [tr.track(name, seq.frames[0], seq.boxes[0]), tr.track(name, seq.frames[1])]
  before = len(traces)
  out += [tr.track(name, f) for f in seq.frames[2:]]
  assert traces[before:] == [], 'recompiled after the first frame'
  out = np.stack(out)
  assert out.shape == (len(seq.frames), 4)
  assert np.all(np.isfinite(out))
  assert np.all(out[:, 2:] > out[:, :2])


class _Compiles(logging.Handler):
  """Counts JAX's "Compiling jit(NAME)" log records (`jax.log_compiles`), cache hits too."""

  def __init__(self, name):
    super().__init__(logging.DEBUG)
    self.name, self.count = name, 0

  def emit(self, record):
    self.count += f'Compiling jit({self.name})' in record.getMessage()


@pytest.mark.parametrize('restored', [False, True])
def test_the_first_two_frames_compile_the_step_once(tiny, tmp_path, restored):
  # The tracks' first state was uncommitted and the step's output committed: frame 1
  # compiled the step again (twice the warm-up, and in track's frames/s). Parameters
  # restored from a checkpoint are committed, model.init's are not: both ways.
  params, config = tiny
  if restored:
    checkpoints.save_params(tmp_path / 'ckpt', params, config)
    tr = tracker_lib.Re3Tracker.from_checkpoint(tmp_path / 'ckpt')
  else:
    tr = tracker_lib.Re3Tracker(params, config)
  clip = _clip(4, seed=11)
  jax.clear_caches()  # earlier tests compiled these shapes: compile them afresh here
  counter = _Compiles('advance_slots')
  logger = logging.getLogger('jax')
  logger.addHandler(counter)
  try:
    with jax.log_compiles():
      tr.multi_track(['a', 'b'], clip.frames[0], {'a': clip.boxes[0], 'b': clip.boxes[0] + 4})
      for frame in clip.frames[1:]:
        tr.multi_track(['a', 'b'], frame)
  finally:
    logger.removeHandler(counter)
  assert counter.count == 1


def test_checkpoint_round_trip(tiny, tmp_path):
  params, config = tiny
  clip = _clip(4, seed=9)
  checkpoints.save_params(tmp_path / 'ckpt', params, config)
  restored = tracker_lib.Re3Tracker.from_checkpoint(tmp_path / 'ckpt')
  direct = tracker_lib.Re3Tracker(params, config)
  for tr in (restored, direct):
    tr.track(0, clip.frames[0], clip.boxes[0])
  for frame in clip.frames[1:]:
    np.testing.assert_array_equal(restored.track(0, frame), direct.track(0, frame))
