"""The first-frame template (`ModelConfig.first_template`): the network, the train step's
unroll and the tracker carry each track's starting appearance, checked against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops as crops_lib
from re3_jax.input import batch as batch_lib
from re3_jax.model import towers
from re3_jax.tracking import functional
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.training import train_step
from re3_jax.training import unroll as unroll_lib

CONFIG = model.get_config('nano_template')


@pytest.fixture(scope='module')
def params():
  return model.init(jax.random.key(0), CONFIG)


def _crops(n, seed=0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.integers(0, 256, (n, CONFIG.crop_size, CONFIG.crop_size, 3), np.uint8))


def _xcorr_numpy(template, search):
  """Depthwise cross-correlation by its definition, (K, K, C) over (G, G, C) -> (O, O, C):
  out[y, x, c] = mean over (i, j) of template[i, j, c] * search[y + i, x + j, c]."""
  k, g = template.shape[0], search.shape[0]
  o = g - k + 1
  out = np.zeros((o, o, template.shape[2]), np.float64)
  for y in range(o):
    for x in range(o):
      out[y, x] = (template * search[y:y + k, x:x + k]).mean(axis=(0, 1))
  return out


def test_config_rules():
  with pytest.raises(ValueError, match='first_template needs correlation'):
    model.get_config('nano', correlation=False, first_template=True)
  c, g = towers.get('nanotrack').last(CONFIG)  # 48 channels, 8x8 at 127 px
  k = g // 2
  assert CONFIG.template_shape == (k, k, c) == (4, 4, 48)
  assert model.get_config("nano").template_shape == (4, 4, 48)  # kept for the confidence
  assert model.get_config("squeeze").template_shape == (0,)
  # One more correlation block than nano: 5x5x48.
  assert CONFIG.fc6_inputs - model.get_config('nano').fc6_inputs == c * (g - k + 1) ** 2 == 1200


def test_fc6_sees_both_correlations_as_numpy_computes_them(params):
  prev, cur, first = _crops(1, 1), _crops(1, 2), _crops(1, 3)
  feats = np.asarray(model.conv_features(params, jnp.concatenate([prev, cur, first]), CONFIG),
                     np.float64)
  c, g = towers.get('nanotrack').last(CONFIG)
  f = CONFIG.features_per_crop
  # The last activation, channel-major at the end of each crop's features.
  maps = feats[:, f - c * g * g:].reshape(3, c, g, g).transpose(0, 2, 3, 1)
  k, s = g // 2, (g - g // 2) // 2
  template = maps[2, s:s + k, s:s + k]
  np.testing.assert_allclose(np.asarray(model.template(params, first, CONFIG))[0], template,
                             rtol=1e-5, atol=1e-5)
  chw = lambda x: x.transpose(2, 0, 1).reshape(-1)
  x = np.concatenate([feats[0, :f - c * g * g], feats[1, :f - c * g * g],
                      chw(_xcorr_numpy(maps[0, s:s + k, s:s + k], maps[1])),
                      chw(_xcorr_numpy(template, maps[1]))])
  w, b = np.asarray(params['fc6']['w'], np.float64), np.asarray(params['fc6']['b'], np.float64)
  want = np.maximum(x @ w + b, 0)
  got = model.fc6_layer(params, jnp.asarray(feats[:2].reshape(1, -1), jnp.float32), CONFIG,
                        jnp.asarray(template[None], jnp.float32))
  # float32 rounding: the tower's features, the correlations' sums and fc6's dot product of
  # ~14,700 terms each carry relative errors of a few float32 epsilons (6e-8) times sqrt(n)
  # of the sum of |terms|; 1e-4 of that sum bounds them with a wide margin.
  scale = np.abs(x) @ np.abs(w) + np.abs(b)
  assert np.all(np.abs(np.asarray(got, np.float64)[0] - want) <= 1e-4 * scale + 1e-6)


def test_a_template_is_required_exactly_when_configured(params):
  pairs = jnp.stack([_crops(1, 1), _crops(1, 2)], axis=1)[:, None]
  state = model.initial_state(1, CONFIG)
  with pytest.raises(ValueError, match='give template'):
    model.apply(params, pairs, state, CONFIG)
  nano = model.get_config('nano')
  with pytest.raises(ValueError, match='template=None'):
    model.apply(model.init(jax.random.key(0), nano), pairs, model.initial_state(1, nano), nano,
                jnp.zeros((1, 4, 4, 48)))


def _batch():
  """Two sequences of four 120x160 frames of noise, the box moving 3 px a frame."""
  rng = np.random.default_rng(1)
  frames = rng.integers(0, 256, (2, 4, 120, 160, 3), np.uint8)
  boxes = np.array([[20 + 3 * t, 30, 70 + 3 * t, 90] for t in range(4)], np.float32)
  boxes = np.stack([boxes, boxes + [40, -10, 40, -10]])
  return batch_lib.Batch(jnp.asarray(frames), jnp.broadcast_to(jnp.array([120, 160], jnp.int32), (2, 4, 2)),
                         jnp.asarray(boxes))


def test_unroll_takes_the_template_from_frame_zero_at_its_true_box(params):
  batch = _batch()
  # The batched unroll (template from the features it computed) against the stepwise one
  # (template from its own tower pass over frame 0 at the true box): same draws, same windows.
  optim = train_step.OptimConfig(learning_rate=1e-3)
  key = jax.random.key(3)
  run = lambda f: jax.jit(lambda p, b, k: f(p, b, k, 0.5, model_config=CONFIG, optim=optim))(
      params, batch, key)
  batched, stepwise = run(unroll_lib.unroll), run(unroll_lib.unroll_stepwise)
  for a, b in zip(batched, stepwise):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-3)
  # And the template matters: another first frame changes the later outputs.
  frames = batch.frames.at[:, 0].set(255 - batch.frames[:, 0])
  changed = jax.jit(lambda p, b, k: unroll_lib.unroll(p, b, k, 0.0, model_config=CONFIG,
                                                      optim=optim))(
      params, batch._replace(frames=frames), key)
  base = jax.jit(lambda p, b, k: unroll_lib.unroll(p, b, k, 0.0, model_config=CONFIG,
                                                   optim=optim))(params, batch, key)
  assert np.abs(np.asarray(changed[0][:, 2:]) - np.asarray(base[0][:, 2:])).max() > 1e-3


def test_tracker_keeps_each_tracks_starting_template(params):
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (6, 120, 160, 3), np.uint8)
  box_a, box_b = np.array([20, 30, 70, 90.]), np.array([90, 20, 140, 60.])
  tracker = tracker_lib.Re3Tracker(params, CONFIG, pack=False)
  tracker.track('a', frames[0], box_a)
  crop = lambda f, b: crops_lib.crop_many(jnp.asarray(f), boxes_lib.context_window(
      jnp.asarray(b, jnp.float32)[None]), size=CONFIG.crop_size)
  want_a = np.asarray(model.template(params, crop(frames[0], box_a), CONFIG))[0]
  state = lambda: tracker._state  # pylint: disable=protected-access
  # The tracker's program and this one round differently (float32, values up to ~400 from
  # the random tower; measured differences up to 2e-4 of the largest): 1e-3 of it.
  tol = lambda want: dict(rtol=0, atol=1e-3 * np.abs(want).max())
  np.testing.assert_allclose(np.asarray(state().template[0]), want_a, **tol(want_a))
  first_a = state().template[0]
  boxes = [tracker.track('a', f) for f in frames[1:3]]
  # A second track started later: its own template; the first one's unchanged.
  tracker.multi_track(['a', 'b'], frames[3], {'b': box_b})
  want_b = np.asarray(model.template(params, crop(frames[3], box_b), CONFIG))[0]
  np.testing.assert_array_equal(np.asarray(state().template[0]), np.asarray(first_a))
  np.testing.assert_allclose(np.asarray(state().template[1]), want_b, **tol(want_b))
  # The per-frame calls and the whole-clip scan compute the same boxes.
  clip = functional.track_video(params, frames[:3], box_a, config=CONFIG)
  np.testing.assert_allclose(np.asarray(clip[1:]), np.stack(boxes), atol=1e-2)
