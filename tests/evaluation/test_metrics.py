"""Tests of `re3_jax.evaluation.metrics`: hand-computed cases, odd boxes, and the got10k toolkit.

Boxes are xyxy in continuous 0-based pixels; the got10k toolkit takes 1-based
``x, y, w, h`` (`boxes.to_otb`). Its VOT experiment is broken on NumPy 2, so the
cross-checks cover `rect_iou`, `center_error` and the OTB and GOT-10k
experiments' curve and AO/SR code, called without datasets.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import metrics


def _random_boxes(rng, n, scale=100.0):
  x1y1 = rng.uniform(-scale, scale, (n, 2))
  wh = rng.uniform(1, scale / 2, (n, 2))
  return np.concatenate([x1y1, x1y1 + wh], axis=-1)


def _near(rng, truth, jitter):
  """Predictions around `truth`: shifted and rescaled by up to `jitter` of the size."""
  wh = truth[:, 2:] - truth[:, :2]
  centre = (truth[:, :2] + truth[:, 2:]) / 2 + rng.uniform(-jitter, jitter, wh.shape) * wh
  wh = wh * np.exp(rng.uniform(-jitter, jitter, wh.shape))
  return np.concatenate([centre - wh / 2, centre + wh / 2], axis=-1)


def adversarial_pairs():
  """(pred, truth) rows: identical, disjoint, touching, nested, zero-size, huge, tiny."""
  t = [0.0, 0.0, 10.0, 10.0]
  rows = [
      ([0, 0, 10, 10], t),  # identical: 1
      ([20, 20, 30, 30], t),  # disjoint: 0
      ([10, 0, 20, 10], t),  # touching along an edge: 0
      ([10, 10, 20, 20], t),  # touching at a corner: 0
      ([5, 5, 5, 5], t),  # zero-size point inside: 0
      ([2, 2, 2, 8], t),  # zero-width line inside: 0
      ([0, 0, 10, 5], t),  # half: 0.5
      ([2.5, 2.5, 7.5, 7.5], t),  # nested quarter: 0.25
      ([-1e6, -1e6, 1e6, 1e6], t),  # huge around it
      ([0, 0, 1e7, 1e7], [5e6, 5e6, 1e7, 1e7]),  # huge both
      ([0, 0, 1e-3, 1e-3], [0, 0, 1e-3, 2e-3]),  # tiny: 0.5
      ([5, 0, 15, 10], t),  # a third
  ]
  pred, truth = zip(*rows)
  return np.asarray(pred, np.float64), np.asarray(truth, np.float64)


# ---------------------------------------------------------------------------
# IoU and centre error by hand.
# ---------------------------------------------------------------------------


def test_iou_by_hand():
  pred, truth = adversarial_pairs()
  expected = [1, 0, 0, 0, 0, 0, 0.5, 0.25, 100 / 4e12, 25e12 / 1e14, 0.5, 50 / 150]
  np.testing.assert_allclose(metrics.iou(pred, truth), expected, rtol=1e-12, atol=1e-15)


def test_iou_of_odd_boxes():
  t = np.array([0.0, 0.0, 10.0, 10.0])
  # A NaN or infinite prediction is a miss; an inverted one has zero area.
  for pred in ([np.nan, 0, 10, 10], [0, 0, np.inf, 10], [10, 10, 0, 0]):
    assert metrics.iou(pred, t) == 0
  # Missing truth (NaN, zero or negative size) leaves the frame out: NaN.
  for truth in ([np.nan] * 4, [0, 0, 0, 10], [5, 5, 5, 5], [10, 0, 0, 10]):
    assert math.isnan(metrics.iou(t, truth))
  assert math.isnan(metrics.iou([np.nan] * 4, [np.nan] * 4))
  assert metrics.iou([-1e300, -1e300, 1e300, 1e300], t) == 0  # an overflowing area: IoU 0
  assert metrics.iou([0, 0, 1e300, 1e300], [0, 0, 1e300, 1e300]) == 0
  np.testing.assert_array_equal(metrics.valid_truth([[0, 0, 1, 1], [0, 0, 0, 1], [np.nan] * 4]),
                                [True, False, False])
  with pytest.raises(ValueError, match=r'\(\.\.\., 4\)'):
    metrics.iou([1, 2, 3], t)


def test_iou_is_boxes_iou_on_proper_boxes():
  rng = np.random.default_rng(0)
  a, b = _random_boxes(rng, 500), _random_boxes(rng, 500)
  np.testing.assert_allclose(metrics.iou(a, b), boxes_lib.iou(a, b), atol=1e-12)


def test_center_error_uses_otb_centres():
  # OTB's centre of 1-based x, y, w, h is x + (w - 1) / 2; the half pixel cancels.
  pred, truth = np.array([2.0, 0, 12, 10]), np.array([0.0, 0, 10, 10])
  assert metrics.center_error(pred, truth) == pytest.approx(2.0)
  otb_centre = lambda b: boxes_lib.to_otb(b)[:2] + (boxes_lib.to_otb(b)[2:] - 1) / 2
  assert np.linalg.norm(otb_centre(pred) - otb_centre(truth)) == pytest.approx(2.0)
  assert metrics.center_error([3.0, 4, 3, 4], [0.0, 0, 0.5, 0.5]) == pytest.approx(
      math.hypot(2.75, 3.75))
  assert metrics.center_error([np.nan] * 4, truth) == np.inf
  assert math.isnan(metrics.center_error(pred, [0, 0, 0, 10]))
  # A degenerate prediction still has a centre.
  assert metrics.center_error([5, 5, 5, 5], truth) == 0


# ---------------------------------------------------------------------------
# OTB curves.
# ---------------------------------------------------------------------------


def test_success_curve_is_strict_and_has_21_thresholds():
  assert len(metrics.SUCCESS_THRESHOLDS) == 21 and metrics.SUCCESS_THRESHOLDS[1] == 0.05
  curve = metrics.success_curve([0.0, 0.5, 1.0, np.nan])
  assert curve[0] == pytest.approx(2 / 3)  # IoU 0 is not > 0
  assert curve[10] == pytest.approx(1 / 3)  # IoU 0.5 is not > 0.5
  assert curve[20] == 0  # nothing is > 1
  assert np.all(np.isnan(metrics.success_curve([np.nan, np.nan])))


def test_precision_curve_is_inclusive_to_50_pixels():
  assert metrics.PRECISION_THRESHOLDS.tolist() == list(range(51))
  curve = metrics.precision_curve([0.0, 20.0, 20.5, np.inf, np.nan])
  assert curve[0] == 0.25 and curve[20] == 0.5 and curve[21] == 0.75 and curve[50] == 0.75


def test_ope_by_hand():
  truth = np.array([[0.0, 0, 10, 10]] * 4)
  pred = np.array([[0.0, 0, 10, 10], [0, 0, 10, 5], [30, 30, 40, 40], [np.nan] * 4])
  truth[3] = np.nan  # frame 3 has no truth: not scored
  r = metrics.ope(pred, truth)
  assert r.frames == 3 and r.sequences == 1
  thresholds = metrics.SUCCESS_THRESHOLDS
  expected = np.array([int(1 > t) + int(0.5 > t) + int(0 > t) for t in thresholds]) / 3
  np.testing.assert_allclose(r.success_curve, expected)
  assert r.success_score == pytest.approx(expected.mean())
  # Centre errors 0, 2.5 and 42.43 px.
  assert r.precision_score == pytest.approx(2 / 3)
  assert r.precision_curve[2] == pytest.approx(1 / 3)
  assert r.precision_curve[50] == pytest.approx(1.0)


def test_ope_average_averages_curves_over_sequences():
  truth = np.array([[0.0, 0, 10, 10]] * 3)
  a = metrics.ope(truth, truth)
  b = metrics.ope(np.array([[50.0, 50, 60, 60]] * 3), truth)
  empty = metrics.ope(truth, np.full((3, 4), np.nan))
  assert math.isnan(empty.success_score) and empty.frames == 0
  avg = metrics.ope_average([a, b, empty])
  assert avg.sequences == 2 and avg.frames == 6
  np.testing.assert_allclose(avg.success_curve, (a.success_curve + b.success_curve) / 2)
  assert avg.success_score == pytest.approx(np.mean(avg.success_curve))
  assert avg.precision_score == avg.precision_curve[20] == 0.5
  assert math.isnan(metrics.ope_average([empty]).success_score)
  with pytest.raises(ValueError, match='both be'):
    metrics.ope(truth[:2], truth)


# ---------------------------------------------------------------------------
# GOT-10k.
# ---------------------------------------------------------------------------


def test_got10k_excludes_the_first_frame_and_pools_frames():
  t = np.array([[0.0, 0, 10, 10]] * 5)
  pred = np.array([[50.0, 50, 60, 60], [0, 0, 10, 10], [0, 0, 10, 7.5], [0, 0, 10, 5],
                   [0, 0, 10, 2]])
  r = metrics.got10k(pred, t)
  assert r.frames == 4  # frame 0 (IoU 0 here) is not scored
  assert r.ao == pytest.approx((1 + 0.75 + 0.5 + 0.2) / 4)
  assert r.sr50 == pytest.approx(2 / 4)  # 0.5 is not > 0.5
  assert r.sr75 == pytest.approx(1 / 4)  # 0.75 is not > 0.75
  # Pooling weighs frames, not sequences: (1 + 0 + 0 + 0) / 4, not (1 + 0) / 2.
  short = metrics.got10k(t[:2], t[:2])
  long_miss = np.array([[50.0, 50, 60, 60]] * 4)
  pooled = metrics.got10k_pooled([t[:2], long_miss], [t[:2], t[:4]])
  assert short.ao == 1 and pooled.frames == 4 and pooled.ao == pytest.approx(0.25)
  assert math.isnan(metrics.got10k(t[:1], t[:1]).ao)


# ---------------------------------------------------------------------------
# Cross-checks against the got10k toolkit.
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def got10k():
  try:
    from got10k.experiments.got10k import ExperimentGOT10k  # pylint: disable=g-import-not-at-top
    from got10k.experiments.otb import ExperimentOTB  # pylint: disable=g-import-not-at-top
    from got10k.utils import metrics as got_metrics  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    pytest.skip(f'the got10k toolkit is not importable ({e}); pip install got10k six')
  otb = types.SimpleNamespace(nbins_iou=21, nbins_ce=51)
  return types.SimpleNamespace(
      rect_iou=got_metrics.rect_iou, center_error=got_metrics.center_error,
      otb_curves=lambda ious, ces: ExperimentOTB._calc_curves(otb, ious, ces),
      got_evaluate=lambda ious: ExperimentGOT10k._evaluate(None, ious, np.ones(1)))


def _box_sets():
  rng = np.random.default_rng(1)
  truth = _random_boxes(rng, 400)
  near = _near(rng, truth, 0.3)
  far = _random_boxes(rng, 400)
  adv_pred, adv_truth = adversarial_pairs()
  return {'near': (near, truth), 'random': (far, truth), 'adversarial': (adv_pred, adv_truth)}


@pytest.mark.parametrize('name', ['near', 'random', 'adversarial'])
def test_iou_and_center_error_match_got10k(got10k, name):
  pred, truth = _box_sets()[name]
  ours = metrics.iou(pred, truth)
  theirs = got10k.rect_iou(boxes_lib.to_otb(pred), boxes_lib.to_otb(truth))
  np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(metrics.center_error(pred, truth),
                             got10k.center_error(boxes_lib.to_otb(pred), boxes_lib.to_otb(truth)),
                             rtol=1e-12, atol=1e-9)
  # Symmetric in its arguments wherever both boxes are proper.
  valid = metrics.valid_truth(pred)
  np.testing.assert_allclose(metrics.iou(truth[valid], pred[valid]), ours[valid], atol=1e-12)


def test_zero_size_boxes_match_got10k_as_predictions(got10k):
  truth = np.array([[0.0, 0, 10, 10]] * 3)
  pred = np.array([[5.0, 5, 5, 5], [0, 0, 0, 10], [0, 0, 10, 0]])
  theirs = got10k.rect_iou(boxes_lib.to_otb(pred), boxes_lib.to_otb(truth))
  np.testing.assert_array_equal(metrics.iou(pred, truth), theirs)
  # As truth they leave the frame out here; got10k scores them 0 (documented difference).
  assert np.all(np.isnan(metrics.iou(truth, pred)))


@pytest.mark.parametrize('jitter', [0.1, 0.3, 1.0])
def test_otb_curves_and_scores_match_got10k(got10k, jitter):
  rng = np.random.default_rng(int(jitter * 10))
  results, got_succ, got_prec = [], [], []
  for length in (30, 55, 80):
    truth = _random_boxes(rng, length)
    pred = _near(rng, truth, jitter)
    pred[0] = truth[0]  # the OTB toolkit sets the first box to the truth
    results.append(metrics.ope(pred, truth))
    s, p = got10k.otb_curves(got10k.rect_iou(boxes_lib.to_otb(pred), boxes_lib.to_otb(truth)),
                             got10k.center_error(boxes_lib.to_otb(pred),
                                                 boxes_lib.to_otb(truth)))
    np.testing.assert_allclose(results[-1].success_curve, s, atol=1e-12)
    np.testing.assert_allclose(results[-1].precision_curve, p, atol=1e-12)
    got_succ.append(s)
    got_prec.append(p)
  overall = metrics.ope_average(results)
  # ExperimentOTB.report: curves averaged over sequences, score = mean, precision at 20 px.
  succ, prec = np.mean(got_succ, axis=0), np.mean(got_prec, axis=0)
  np.testing.assert_allclose(overall.success_curve, succ, atol=1e-12)
  assert overall.success_score == pytest.approx(np.mean(succ), abs=1e-12)
  assert overall.precision_score == pytest.approx(prec[20], abs=1e-12)


def test_got10k_ao_and_sr_match_got10k(got10k):
  rng = np.random.default_rng(5)
  preds, truths, pooled = [], [], []
  for length in (20, 47, 90):
    truth = _random_boxes(rng, length)
    pred = _near(rng, truth, 0.4)
    preds.append(pred)
    truths.append(truth)
    # ExperimentGOT10k.report: rect_iou of frames 1.., concatenated over sequences.
    pooled.append(got10k.rect_iou(boxes_lib.to_otb(pred[1:]), boxes_lib.to_otb(truth[1:])))
    ao, sr, _, _ = got10k.got_evaluate(pooled[-1])
    ours = metrics.got10k(pred, truth)
    assert (ours.ao, ours.sr50) == pytest.approx((ao, sr), abs=1e-12)
  ious = np.concatenate(pooled)
  ao, sr, _, _ = got10k.got_evaluate(ious)
  ours = metrics.got10k_pooled(preds, truths)
  assert ours.frames == len(ious)
  assert (ours.ao, ours.sr50, ours.sr75) == pytest.approx((ao, sr, np.mean(ious > 0.75)), abs=1e-12)


def test_ope_scores_nothing_without_truth_after_the_first_frame():
  """A GOT-10k test sequence (only the given first box) is not a perfect score but none."""
  pred = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [9, 9, 19, 19]], np.float32)
  truth = np.full((3, 4), np.nan, np.float32)
  truth[0] = pred[0]
  result = metrics.ope(pred, truth)
  assert result.frames == 0 and np.isnan(result.success_score)
  # P@20 too: the first frame's given box alone is not a 1.000 (the harness line and JSON).
  assert np.isnan(result.precision_score) and np.isnan(result.precision_curve).all()
  assert np.isnan(metrics.got10k(pred, truth).ao)  # as AO
  assert metrics.ope_average([result, metrics.ope(pred, pred)]).sequences == 1
  truth[2] = pred[1]  # one more true box: both frames are scored, the first as IoU 1
  assert metrics.ope(pred, truth).frames == 2
