"""Tests of `re3_jax.training.unroll`: window placement, labels, self-training, the scan rule."""

import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops
from re3_jax.input import batch as batch_lib
from re3_jax.input import pipeline
from re3_jax.training import jitter
from re3_jax.training import train_step
from re3_jax.training import unroll as unroll_lib

TINY = model.get_config('tiny')
OPTIM = train_step.OptimConfig(learning_rate=1e-3)


def _unroll(params, batch, prob, optim=OPTIM, key=0):
  fn = jax.jit(lambda p, b, k: unroll_lib.unroll(p, b, k, prob, model_config=TINY, optim=optim))
  return fn(params, batch, jax.random.key(key))


def test_first_step_crops_frame_zero_at_its_true_box(params, batch):
  outputs, labels, _, windows = _unroll(params, batch, 0.5)
  assert outputs.shape == labels.shape == windows.shape == (2, 4, 4)
  np.testing.assert_allclose(windows[:, 0], batch.boxes[:, 0])
  np.testing.assert_allclose(labels[:, 0], np.broadcast_to(boxes_lib.CENTERED_BOX, (2, 4)),
                             atol=1e-5)


def test_outputs_equal_the_network_on_the_recorded_crops(params, batch):
  # Recompute independently: crop (frame t-1, frame t) at each recorded window, run apply.
  outputs, labels, _, windows = _unroll(params, batch, 0.5)
  prev = jnp.concatenate([batch.frames[:, :1], batch.frames[:, :-1]], axis=1)
  prev_valid = jnp.concatenate([batch.valid_sizes[:, :1], batch.valid_sizes[:, :-1]], axis=1)
  flat = lambda x: x.reshape(-1, *x.shape[2:])
  regions = flat(boxes_lib.context_window(windows))
  pairs = jnp.stack([crops.crop_batch(flat(prev), regions, flat(prev_valid)),
                     crops.crop_batch(flat(batch.frames), regions,
                                      flat(batch.valid_sizes))], axis=1)
  pairs = pairs.reshape(2, 4, *pairs.shape[1:])
  expected, _ = model.apply(params, pairs, model.initial_state(2, TINY), TINY)
  np.testing.assert_allclose(outputs, expected, atol=1e-4)
  np.testing.assert_allclose(
      labels, boxes_lib.to_crop_frame(batch.boxes, boxes_lib.context_window(windows)), atol=1e-4)


def test_ground_truth_windows_cover_the_truth(params, batch):
  _, _, _, windows = _unroll(params, batch, 0.0)
  cover = np.asarray(jitter.coverage(windows, batch.boxes))
  assert (cover >= OPTIM.min_coverage - 1e-4).all()
  # Jittered: later windows are not simply the true boxes.
  assert not np.allclose(windows[:, 1:], batch.boxes[:, 1:])


def test_self_training_places_windows_at_own_predictions(params, batch):
  optim = train_step.OptimConfig(min_coverage=0.0)  # no repair: windows are the predictions
  _, _, preds, windows = _unroll(params, batch, 1.0, optim)
  np.testing.assert_allclose(windows[:, 1:], preds[:, :-1], rtol=1e-5, atol=1e-3)


def test_self_training_probability_is_per_sequence(params, data_config):
  with pipeline.Pipeline(data_config, seq_len=3, batch_size=64, seed=1, process_index=0,
                         process_count=1) as inputs:
    b = next(inputs)
  big = batch_lib.Batch(jnp.asarray(b.frames), jnp.asarray(b.valid_sizes), jnp.asarray(b.boxes))
  optim = train_step.OptimConfig(min_coverage=0.0)
  _, _, preds, windows = _unroll(params, big, 0.5, optim, key=3)
  own = np.all(np.isclose(windows[:, 1:], preds[:, :-1], rtol=1e-5, atol=1e-3), axis=(1, 2))
  assert 16 < own.sum() < 48, own.sum()


def test_self_training_windows_follow_an_independent_tracking_loop(params, batch):
  # Every sequence self-trains: step t's window is its 2x context of the box predicted at
  # t - 1 (moved to cover min_coverage of the truth). Recomputed here in a Python loop over
  # time, one model.apply per step, as a tracker would run it.
  optim = train_step.OptimConfig(min_coverage=0.5)
  boxes = unroll_lib.place_windows(params, batch, jax.random.key(5), 1.0, model_config=TINY,
                                   optim=optim)
  b, t = batch.boxes.shape[:2]
  state = model.initial_state(b, TINY)
  box, pred = batch.boxes[:, 0], None
  expected = []
  for step in range(t):
    if step > 0:
      box = jitter.cover_truth(pred, batch.boxes[:, step], min_coverage=optim.min_coverage)
    expected.append(box)
    window = boxes_lib.context_window(box)
    prev = max(step - 1, 0)
    pair = jnp.stack([crops.crop_batch(batch.frames[:, prev], window, batch.valid_sizes[:, prev]),
                      crops.crop_batch(batch.frames[:, step], window,
                                       batch.valid_sizes[:, step])], axis=1)
    out, state = model.apply(params, pair[:, None], state, TINY)
    pred = boxes_lib.from_crop_frame(out[:, 0], window)
  # Predictions differ by the rounding of the network's sums, jitted or not (~1e-6 px; see
  # _compare_steps); 1e-3 px is far below anything a crop resolves.
  np.testing.assert_allclose(boxes, np.stack(expected, axis=1), rtol=0, atol=1e-3)
  # And they are not the ground-truth-placed windows: the network's predictions moved them.
  placed = unroll_lib.place_windows(params, batch, jax.random.key(5), 0.0, model_config=TINY,
                                    optim=optim)
  assert not np.allclose(boxes[:, 1:], placed[:, 1:], atol=1.0)


def test_default_scan_unroll_rule():
  mb = 1 << 20
  assert unroll_lib.default_scan_unroll(16, 2 * mb, 'cpu') is True
  # The small model (343 MB) at 32 unrolls: 5 steps' gradients fit in 2 GiB.
  assert unroll_lib.default_scan_unroll(32, 343 * mb, 'cpu') == 5
  assert unroll_lib.default_scan_unroll(4, 4096 * mb, 'cpu') == 1
  assert unroll_lib.default_scan_unroll(16, 2 * mb, 'gpu') == 1
