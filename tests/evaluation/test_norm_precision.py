"""Tests of `re3_jax.evaluation.norm_precision`: LaSOT's normalised precision on cases computed
by hand, with pytracking's conventions (the module docstring: the first frame, replaced
predictions, absent frames in the denominator, the score at 0.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from re3_jax.evaluation import norm_precision as npr

NAN = [math.nan] * 4
# Sequence A, xyxy boxes (centre, width x height of the truth):
TRUTH_A = np.array([
    [0, 0, 10, 20],    # 0: c (5, 10), 10x20
    [10, 10, 30, 20],  # 1: c (20, 15), 20x10
    NAN,               # 2: absent
    [0, 0, 40, 40],    # 3: c (20, 20), 40x40
    [0, 0, 10, 10],    # 4: c (5, 5), 10x10
])
PRED_A = np.array([
    [0.5, 0, 10.5, 20],      # 0: replaced by the truth: d = 0
    [10.5, 10.5, 30.5, 20.5],  # 1: c (20.5, 15.5): d = |(0.5/20, 0.5/10)| = 0.0559
    [5, 5, 15, 15],          # 2: absent: never counts
    [3, 3, 3, 40],           # 3: zero width -> frame 2's box, c (10, 10):
                             #    d = |(-10/40, -10/40)| = 0.3536
    [4, 4, 14, 14],          # 4: c (9, 9): d = |(0.4, 0.4)| = 0.566 > 0.5: never counts
])
# d = 0, 0.0559, inf, 0.3536, 0.566 over T = 5 frames (the absent one included):
#   t = 0.00 .. 0.05 (6 thresholds): 1 of 5 = 0.2
#   t = 0.06 .. 0.35 (30 thresholds): 2 of 5 = 0.4
#   t = 0.36 .. 0.50 (15 thresholds): 3 of 5 = 0.6
CURVE_A = np.array([0.2] * 6 + [0.4] * 30 + [0.6] * 15)
SCORE_A = 0.4  # at t = 0.2
AUC_A = (6 * 0.2 + 30 * 0.4 + 15 * 0.6) / 51  # 22.2 / 51 = 0.43529...
# Sequence B: two frames, 10x10 truth; frame 1 is 1.25 px to the right: d = 0.125.
TRUTH_B = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float64)
PRED_B = np.array([[0, 0, 10, 10], [1.25, 0, 11.25, 10]])
#   t = 0.00 .. 0.12 (13 thresholds): 1 of 2; t = 0.13 .. 0.50 (38): 2 of 2.
CURVE_B = np.array([0.5] * 13 + [1.0] * 38)
TOL = 1e-12


def test_thresholds_are_pytrackings():
  np.testing.assert_allclose(npr.THRESHOLDS, np.arange(51) / 100.0, atol=0)
  assert npr.THRESHOLDS[npr.SCORE_INDEX] == 0.2 and len(npr.THRESHOLDS) == 51


def test_errors_of_a_hand_computed_sequence():
  d = npr.normalized_errors(PRED_A, TRUTH_A)
  np.testing.assert_allclose(d, [0, math.hypot(0.025, 0.05), np.inf, math.hypot(0.25, 0.25),
                                 math.hypot(0.4, 0.4)], rtol=1e-12)


def test_a_hand_computed_sequence():
  r = npr.norm_precision(PRED_A, TRUTH_A)
  np.testing.assert_allclose(r.curve, CURVE_A, atol=TOL)
  assert r.score == pytest.approx(SCORE_A, abs=TOL)
  assert r.auc == pytest.approx(AUC_A, abs=TOL)
  assert (r.frames, r.sequences) == (5, 1)  # the absent frame is in the denominator


def test_the_average_is_over_sequences_curves():
  a, b = npr.norm_precision(PRED_A, TRUTH_A), npr.norm_precision(PRED_B, TRUTH_B)
  np.testing.assert_allclose(b.curve, CURVE_B, atol=TOL)
  mean = npr.average([a, b])
  np.testing.assert_allclose(mean.curve, (CURVE_A + CURVE_B) / 2, atol=TOL)
  assert mean.score == pytest.approx((0.4 + 1.0) / 2, abs=TOL)  # 0.7
  assert mean.auc == pytest.approx((22.2 + 13 * 0.5 + 38) / 51 / 2, abs=TOL)  # 0.65392...
  assert (mean.frames, mean.sequences) == (7, 2)


def test_a_prediction_chain_of_bad_boxes_takes_the_last_good_one():
  truth = np.array([[0, 0, 10, 10]] * 4, np.float64)
  pred = np.array([[0, 0, 10, 10], [1, 0, 11, 10], NAN, [5, 5, 5, 5]])
  # Frames 2 and 3 take frame 1's box (d = 0.1 each): at t = 0.1 all four frames count.
  d = npr.normalized_errors(pred, truth)
  np.testing.assert_allclose(d, [0, 0.1, 0.1, 0.1], rtol=1e-12)


def test_withheld_truth_and_empty_sequences_have_nothing_to_score():
  withheld = np.array([[0, 0, 10, 10]] + [NAN] * 3)
  r = npr.norm_precision(np.zeros((4, 4)), withheld)
  assert r.sequences == 0 and np.isnan(r.score) and np.isnan(r.curve).all()
  assert np.isnan(npr.norm_precision(np.zeros((0, 4)), np.zeros((0, 4))).score)
  a = npr.norm_precision(PRED_A, TRUTH_A)
  assert npr.average([a, r]).score == pytest.approx(SCORE_A, abs=TOL)  # left out
  assert np.isnan(npr.average([]).auc)
  with pytest.raises(ValueError, match=r'\(T, 4\)'):
    npr.norm_precision(PRED_A[:3], TRUTH_A)


def _pytracking_lasot_curve(pred_xywh, anno_xywh):
  """pytracking's ``calc_seq_err_robust`` and ``extract_results`` for ``dataset == 'lasot'``,
  transcribed to NumPy on its own 1-based ``x, y, w, h`` boxes (NaN rows: not visible)."""
  pred, anno = pred_xywh.copy(), anno_xywh
  visible = ~np.isnan(anno).any(axis=1)
  for i in range(1, len(pred)):
    if (pred[i, 2:] == 0.0).any() and visible[i]:
      pred[i] = pred[i - 1]
  pred[0] = anno[0]
  with np.errstate(invalid='ignore'):
    valid = ((anno[:, 2:] > 0.0).sum(1) == 2) & visible
    pred_c = (pred[:, :2] + 0.5 * (pred[:, 2:] - 1.0)) / anno[:, 2:]
    anno_c = (anno[:, :2] + 0.5 * (anno[:, 2:] - 1.0)) / anno[:, 2:]
    err = np.sqrt(((pred_c - anno_c) ** 2).sum(1))
  err[~valid] = -1.0
  err[~visible] = np.inf
  thresholds = np.arange(0, 51, dtype=np.float64) / 100.0
  return (err[:, None] <= thresholds[None, :]).sum(0) / anno.shape[0]


def test_matches_a_transcription_of_pytracking_on_random_boxes():
  rng = np.random.default_rng(0)
  for _ in range(20):
    n = int(rng.integers(2, 40))
    xy = rng.uniform(0, 200, (n, 2))
    truth = np.concatenate([xy, xy + rng.uniform(5, 80, (n, 2))], axis=1)
    pred = truth + rng.normal(0, 8, (n, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
    truth[rng.random(n) < 0.2] = np.nan  # absent frames
    truth[1] = [10, 10, 50, 50]  # something to score after the first frame
    zero = rng.random(n) < 0.1  # zero-width predictions
    pred[zero, 2] = pred[zero, 0]
    ours = npr.norm_precision(pred, truth).curve
    # 1-based x, y, w, h as the benchmarks' files hold them (`boxes.to_otb`).
    to_xywh = lambda b: np.concatenate([b[:, :2] + 1, b[:, 2:] - b[:, :2]], axis=1)
    np.testing.assert_allclose(ours, _pytracking_lasot_curve(to_xywh(pred), to_xywh(truth)),
                               atol=1e-12)
