"""Tests of `re3_jax.training.jitter`: crop-window jitter and coverage repair for training.

Distributions are checked on 20k samples with tolerances of about 4 standard
errors (fixed seeds, so the tests are deterministic). Coverage is checked
against an independent float64 NumPy computation, and `cover_truth` against a
NumPy loop written like the released ``fix_bbox_intersection``.

Expected medians: for X ~ Laplace(0, b), |X| is exponential with scale b, so
median |X| = b ln 2. A chosen candidate's centre must lie inside the box, i.e.
|X| <= 1/2 (in box widths) on both axes; x and y are independent, so the
chosen shift is |X| conditioned on |X| <= 1/2, with median
-b ln(1 - (1 - exp(-1 / (2 b))) / 2).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax.training import jitter

N = 20_000
IMAGE_SIZE = (4000.0, 6000.0)  # (height, width): large enough to accept nearly every centre.


def random_boxes(rng, n, lo=1000.0, hi=3000.0, min_size=5.0, max_size=300.0):
  """(n, 4) float32 xyxy boxes with corners in [lo, hi) and sizes in [min_size, max_size)."""
  x1y1 = rng.uniform(lo, hi, (n, 2))
  wh = rng.uniform(min_size, max_size, (n, 2))
  return np.concatenate([x1y1, x1y1 + wh], axis=-1).astype(np.float32)


def np_coverage(box, truth):
  """float64 fraction of truth's area inside the 2x window of box, (..., 4) -> (...)."""
  box, truth = np.asarray(box, np.float64), np.asarray(truth, np.float64)
  c = (box[..., :2] + box[..., 2:]) / 2
  wh = box[..., 2:] - box[..., :2]
  lo = np.maximum(c - wh, truth[..., :2])
  hi = np.minimum(c + wh, truth[..., 2:])
  inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
  return inter / np.prod(truth[..., 2:] - truth[..., :2], axis=-1)


def np_cover_truth(box, truth, min_coverage, step=0.1, max_steps=64):
  """The released loop (bounded): move towards truth until covered; truth if never."""
  box, truth = np.asarray(box, np.float64), np.asarray(truth, np.float64)
  for _ in range(max_steps + 1):
    if np_coverage(box, truth) >= min_coverage:
      return box
    box = box * (1 - step) + truth * step
  return truth


def centers_sizes(b):
  b = np.asarray(b, np.float64)
  return (b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]


def assert_valid(out):
  out = np.asarray(out)
  assert out.dtype == np.float32
  assert np.all(np.isfinite(out))
  assert np.all(out[..., 2] > out[..., 0]) and np.all(out[..., 3] > out[..., 1])


# ---------------------------------------------------------------------------
# jitter_candidates / jitter_box: distributions.
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def jittered():
  """(boxes, candidates, acceptable, chosen) for N boxes well inside the image."""
  box = random_boxes(np.random.default_rng(0), N)
  key = jax.random.key(1)
  # The scales are passed explicitly (as test_jitter_scales_are_parameters
  # does), so that both tests share one compilation. (Traced and default
  # scales compile to programs that may round differently, by an ulp.)
  scales = dict(center_scale=jitter.CENTER_SCALE, size_scale=jitter.SIZE_SCALE)
  cands, ok = jitter.jitter_candidates(key, box, IMAGE_SIZE, **scales)
  chosen = jitter.jitter_box(key, box, IMAGE_SIZE, **scales)
  return box, np.asarray(cands), np.asarray(ok), np.asarray(chosen)


def test_candidate_centre_shift_is_laplace(jittered):
  box, cands, _, _ = jittered
  c0, wh0 = centers_sizes(box)
  c, _ = centers_sizes(cands)
  rel = np.abs(c - c0[:, None]) / wh0[:, None]  # (N, tries, 2)
  expected = jitter.CENTER_SCALE * math.log(2)
  for axis in range(2):
    assert abs(np.median(rel[..., axis]) - expected) < 0.004, np.median(rel[..., axis])
  # Signed shifts are symmetric about 0.
  signed = (c - c0[:, None]) / wh0[:, None]
  assert abs(np.median(signed)) < 0.004


def test_candidate_sizes_are_clipped_laplace(jittered):
  box, cands, _, _ = jittered
  _, wh0 = centers_sizes(box)
  _, wh = centers_sizes(cands)
  ratio = wh / wh0[:, None]
  assert ratio.min() >= 0.6 - 5e-4 and ratio.max() <= 1.4 + 5e-4
  assert abs(np.median(ratio) - 1) < 0.002
  assert abs(np.median(np.abs(ratio - 1)) - jitter.SIZE_SCALE * math.log(2)) < 0.002


def test_chosen_shift_is_truncated_laplace(jittered):
  box, _, ok, chosen = jittered
  assert ok.any(-1).all()  # boxes well inside the image: some try always passes
  c0, wh0 = centers_sizes(box)
  c, wh = centers_sizes(chosen)
  rel = (c - c0) / wh0
  assert np.all(np.abs(rel) <= 0.5 + 1e-5)  # the centre stays inside the box
  b = jitter.CENTER_SCALE
  expected = -b * math.log(1 - (1 - math.exp(-0.5 / b)) / 2)
  for axis in range(2):
    assert abs(np.median(np.abs(rel[:, axis])) - expected) < 0.005
  ratio = wh / wh0
  assert ratio.min() >= 0.6 - 5e-4 and ratio.max() <= 1.4 + 5e-4
  assert abs(np.median(ratio) - 1) < 0.003


def test_jitter_scales_are_parameters():
  box = random_boxes(np.random.default_rng(2), N)
  cands, _ = jitter.jitter_candidates(
      jax.random.key(3), box, IMAGE_SIZE, center_scale=0.05, size_scale=0.0)
  c0, wh0 = centers_sizes(box)
  c, wh = centers_sizes(cands)
  np.testing.assert_allclose(wh / wh0[:, None], 1.0, rtol=1e-4)
  assert abs(np.median(np.abs(c - c0[:, None]) / wh0[:, None]) - 0.05 * math.log(2)) < 0.002


# ---------------------------------------------------------------------------
# jitter_box: first acceptable try.
# ---------------------------------------------------------------------------


def test_first_acceptable_candidate_is_chosen():
  rng = np.random.default_rng(4)
  height, width = 300.0, 400.0
  # Boxes near and across the image borders (some entirely outside), so that
  # many candidates fail and some boxes have no acceptable candidate at all.
  box = random_boxes(rng, N, lo=-150.0, hi=450.0, min_size=2.0, max_size=200.0)
  key = jax.random.key(5)
  cands, ok = jitter.jitter_candidates(key, box, (height, width))
  chosen = np.asarray(jitter.jitter_box(key, box, (height, width)))
  cands, ok = np.asarray(cands), np.asarray(ok)

  # Independent acceptance from the candidates' centres, with a margin for
  # float32 rounding: `strict` is surely acceptable, `loose` possibly.
  c, _ = centers_sizes(cands)
  region_lo = np.maximum(box[:, None, :2], 0.0)
  region_hi = np.minimum(box[:, None, 2:], [width, height])
  eps = 1e-3
  strict = np.all((c > region_lo + eps) & (c < region_hi - eps), axis=-1)
  loose = np.all((c >= region_lo - eps) & (c <= region_hi + eps), axis=-1)
  assert np.all(ok[strict]) and not np.any(ok[~loose])
  assert 0.05 < (~ok.any(-1)).mean() < 0.95  # both cases are exercised
  assert ok.any(-1).mean() > 0.3

  idx = np.argmax(np.all(cands == chosen[:, None], axis=-1), axis=-1)
  np.testing.assert_array_equal(cands[np.arange(N), idx], chosen)
  any_ok = loose.any(-1)
  # No clearly acceptable candidate precedes the chosen one...
  before = np.arange(jitter.TRIES)[None] < idx[:, None]
  assert not np.any(strict & before)
  # ...the chosen one is acceptable whenever any is...
  assert np.all(loose[np.arange(N), idx][strict.any(-1)])
  # ...and the last one is taken when none is.
  assert np.all(idx[~any_ok] == jitter.TRIES - 1)
  # Centre inside the box and the image for every box with an acceptable try.
  cc, _ = centers_sizes(chosen)
  sel = strict.any(-1)
  assert np.all(cc[sel] >= region_lo[sel, 0] - eps) and np.all(cc[sel] <= region_hi[sel, 0] + eps)


def test_jitter_box_matches_candidates_and_tries(jittered):
  box, cands, ok, chosen = jittered
  assert cands.shape == (N, jitter.TRIES, 4) and ok.shape == (N, jitter.TRIES)
  np.testing.assert_array_equal(chosen, jitter.first_acceptable(cands, ok))
  # With a single try, that try is taken whether acceptable or not.
  one_c, one_ok = jitter.jitter_candidates(jax.random.key(7), box, (10.0, 10.0), tries=1)
  assert one_c.shape == (N, 1, 4) and not np.any(one_ok)
  np.testing.assert_array_equal(jitter.first_acceptable(one_c, one_ok), one_c[:, 0])


# ---------------------------------------------------------------------------
# cover_truth.
# ---------------------------------------------------------------------------


def pairs(rng, n):
  """(box, truth) pairs from near-identical to far apart, of varied sizes."""
  truth = random_boxes(rng, n, lo=0.0, hi=500.0, min_size=1.0, max_size=200.0)
  tc, twh = centers_sizes(truth)
  shift = rng.laplace(0, 1, (n, 2)) * twh * rng.choice([0.1, 1, 5], (n, 1))
  scale = np.exp(rng.uniform(-2, 2, (n, 2)))
  box = np.concatenate([tc + shift - twh * scale / 2, tc + shift + twh * scale / 2], -1)
  return box.astype(np.float32), truth


@pytest.mark.parametrize('min_coverage', [jitter.MIN_COVERAGE_PAPER, jitter.MIN_COVERAGE_RELEASED])
def test_cover_truth_reaches_coverage_and_matches_loop(min_coverage):
  rng = np.random.default_rng(8)
  n = 2000
  box, truth = pairs(rng, n)
  out = np.asarray(jitter.cover_truth(box, truth, min_coverage=min_coverage))
  assert_valid(out)
  assert np.all(np_coverage(out, truth) >= min_coverage - 1e-5)
  before = np_coverage(box, truth)
  assert 0.2 < (before < min_coverage).mean() < 0.9  # both cases are exercised
  ref = np.stack([np_cover_truth(b, t, min_coverage) for b, t in zip(box, truth)])
  close = np.all(np.abs(out - ref) <= 1e-4 * (1 + np.abs(ref)), axis=-1)
  # The closed form rounds differently from the loop: a mismatch is allowed
  # only where the loop's stopping step is within rounding of the threshold.
  for i in np.flatnonzero(~close):
    assert abs(np_coverage(ref[i], truth[i]) - min_coverage) < 1e-4 or abs(
        np_coverage(out[i], truth[i]) - min_coverage) < 1e-4, (box[i], truth[i], out[i], ref[i])
  assert close.mean() > 0.99


def test_cover_truth_keeps_covering_box_unchanged():
  rng = np.random.default_rng(9)
  box, truth = pairs(rng, 2000)
  covered = np_coverage(box, truth) >= 0.7 + 1e-4
  assert covered.sum() > 100
  out = np.asarray(jitter.cover_truth(box, truth))
  np.testing.assert_array_equal(out[covered], box[covered])
  assert np.all(np.any(out[~covered] != box[~covered], axis=-1))
  # The truth itself always covers itself.
  np.testing.assert_array_equal(jitter.cover_truth(truth, truth), truth)


def test_cover_truth_returns_truth_when_far():
  truth = np.array([[10, 20, 30, 60], [100, 100, 101, 101]], np.float32)
  box = np.array([[1e5, 1e5, 1e5 + 20, 1e5 + 40], [-9e5, 5e5, -9e5 + 1, 5e5 + 1]], np.float32)
  for b, t in zip(box, truth):
    np.testing.assert_array_equal(jitter.cover_truth(b, t), t)
  # With enough steps the far box does get there without jumping to the truth.
  out = np.asarray(jitter.cover_truth(box[0], truth[0], max_steps=200))
  assert np.all(out != truth[0]) and np_coverage(out, truth[0]) >= 0.7 - 1e-5


def test_cover_truth_moves_by_steps():
  # A box 100 px right of a 10x10 truth: after k steps it is 100 * 0.9^k px
  # right; its 20x20 window then covers (15 - offset) / 10 of the truth, >= 70%
  # once the offset is <= 8 px, i.e. k = ceil(log(0.08) / log(0.9)) = 24.
  truth = np.array([0, 0, 10, 10], np.float32)
  box = truth + np.array([100, 0, 100, 0], np.float32)
  out = np.asarray(jitter.cover_truth(box, truth))
  k = math.ceil(math.log(0.08) / math.log(0.9))
  assert k == 24
  np.testing.assert_allclose(out, truth + 100 * 0.9**k * np.array([1, 0, 1, 0]), atol=1e-4)


# ---------------------------------------------------------------------------
# place_window.
# ---------------------------------------------------------------------------


def test_place_window_keep_fraction_and_coverage():
  truth = random_boxes(np.random.default_rng(10), N)
  prev = truth + np.float32(1.0)  # distinguishable from any jittered box, covers the truth
  out = np.asarray(jitter.place_window(jax.random.key(11), prev, truth, IMAGE_SIZE))
  assert_valid(out)
  kept = np.all(out == prev, axis=-1)
  assert abs(kept.mean() - 1 / 8) < 0.01, kept.mean()
  assert np.all(np_coverage(out, truth) >= jitter.MIN_COVERAGE_PAPER - 1e-5)
  # The jittered ones are centred inside the current truth.
  c, _ = centers_sizes(out[~kept])
  assert np.all(c >= truth[~kept, :2] - 1e-3) and np.all(c <= truth[~kept, 2:] + 1e-3)


def test_place_window_keep_prob_extremes():
  rng = np.random.default_rng(12)
  box, truth = pairs(rng, N)
  key = jax.random.key(13)
  always = jitter.place_window(key, box, truth, IMAGE_SIZE, keep_prob=1.0, min_coverage=0.25)
  np.testing.assert_array_equal(always, jitter.cover_truth(box, truth, min_coverage=0.25))
  never = np.asarray(jitter.place_window(key, box, truth, IMAGE_SIZE, keep_prob=0.0,
                                         min_coverage=0.7))
  assert not np.any(np.all(never == box, axis=-1))
  assert np.all(np_coverage(never, truth) >= 0.7 - 1e-5)


# ---------------------------------------------------------------------------
# jit, vmap, shapes, determinism, degenerate inputs.
# ---------------------------------------------------------------------------


def test_vmap_and_jit_match_unbatched_calls():
  # The library functions are jit-wrapped, so the unbatched calls are jitted;
  # under jax.disable_jit they agree with these to float32 rounding (a few
  # ulps; not run here: op-by-op execution takes seconds).
  rng = np.random.default_rng(14)
  n = 4
  box, truth = pairs(rng, n)
  keys = jax.random.split(jax.random.key(15), n)
  image_size = (300.0, 500.0)

  fns = {
      'jitter_box': (jitter.jitter_box, (keys, truth, image_size), (0, 0, None)),
      'cover_truth': (lambda _, b, t: jitter.cover_truth(b, t), (keys, box, truth), (0, 0, 0)),
      'place_window': (lambda k, b, t: jitter.place_window(k, b, t, image_size),
                       (keys, box, truth), (0, 0, 0)),
  }
  for name, (fn, args, in_axes) in fns.items():
    loop = np.stack([np.asarray(fn(*[a if ax is None else a[i] for a, ax in zip(args, in_axes)]))
                     for i in range(n)])
    batched = np.asarray(jax.jit(jax.vmap(fn, in_axes=in_axes))(*args))
    np.testing.assert_allclose(batched, loop, rtol=1e-6, atol=1e-5, err_msg=name)


def test_leading_shapes_and_traced_image_size():
  rng = np.random.default_rng(16)
  box, truth = pairs(rng, 15)
  box, truth = box.reshape(3, 5, 4), truth.reshape(3, 5, 4)
  sizes = jnp.broadcast_to(jnp.asarray([[200.0, 300.0]]), (3, 5, 2))
  # One previous box broadcast against (3, 5) truths and image sizes (traced:
  # the library functions are jitted).
  out = jitter.place_window(jax.random.key(17), box[0, 0], truth, sizes)
  assert out.shape == (3, 5, 4)
  assert_valid(out)
  assert jitter.jitter_box(jax.random.key(0), box[0, 0], (20.0, 30.0)).shape == (4,)


def test_deterministic_given_key_and_raw_keys_work():
  truth = random_boxes(np.random.default_rng(18), N)
  prev = truth + np.float32(1.0)
  a = jitter.place_window(jax.random.key(19), prev, truth, IMAGE_SIZE)
  b = jitter.place_window(jax.random.key(19), prev, truth, IMAGE_SIZE)
  c = jitter.place_window(jax.random.key(20), prev, truth, IMAGE_SIZE)
  np.testing.assert_array_equal(a, b)
  assert np.any(np.asarray(a) != np.asarray(c))
  raw = jitter.place_window(jax.random.PRNGKey(19), prev, truth, IMAGE_SIZE)
  np.testing.assert_array_equal(raw, jitter.place_window(jax.random.PRNGKey(19), prev, truth,
                                                         IMAGE_SIZE))


def test_degenerate_inputs_give_valid_boxes():
  nan, inf = float('nan'), float('inf')
  bad = np.array([
      [10, 10, 10, 10],  # zero size
      [50, 50, 40, 30],  # inverted
      [nan, 5, 20, 20],  # NaN
      [0, 0, inf, 10],  # infinite
      [-inf, -inf, inf, inf],
      [1e9, 1e9, 1e9, 1e9],  # huge and empty
      [9e5, 9e5, 9e5 + 1e-6, 9e5 + 1e-6],  # below float32 resolution
      [-500, -500, -400, -450],  # entirely outside the image
      [250, 150, 400, 260],  # partly outside the image
      [0, 0, 1e-9, 1e-9],
  ], np.float32)
  # Tiled to N rows so that the functions compiled for N are reused.
  bad = np.resize(bad, (N, 4))
  good = np.tile(np.array([[20, 30, 60, 90]], np.float32), (N, 1))
  key = jax.random.key(21)
  for image_size in [(240.0, 320.0), (0.0, 0.0), (nan, nan)]:
    for prev, truth in [(bad, bad), (good, bad), (bad, good)]:
      assert_valid(jitter.place_window(key, prev, truth, image_size))
      assert_valid(jitter.jitter_box(key, truth, image_size))
      assert_valid(jitter.cover_truth(prev, truth))
  cov = jitter.coverage(jitter.sanitize(bad[:10]), jitter.sanitize(bad[:10]))
  assert np.all(np.isfinite(np.asarray(cov)))
  # A zero-size truth far away is widened to MIN_SIZE, and then covered.
  point = np.array([500, 500, 500, 500], np.float32)
  out = np.asarray(jitter.cover_truth(good[0], point))
  assert np_coverage(out, jitter.sanitize(point)) >= 0.7 - 1e-3
  assert np.all(np.abs(out - point) < 100)


def test_sanitize_leaves_valid_boxes_unchanged():
  box = random_boxes(np.random.default_rng(22), 100)
  np.testing.assert_array_equal(jitter.sanitize(box), box)
  np.testing.assert_array_equal(jitter.sanitize([[5, 6, 1, 2]]), [[1, 2, 5, 6]])
