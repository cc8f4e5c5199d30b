"""Tests of `re3_jax.evaluation.lost_metrics`: lost frames, ROC AUC with ties, the ROC curve
and the lost flag's precision and recall, on cases computed by hand in the comments, and
against scipy's Mann-Whitney U (an independent rank-sum implementation; scipy is in the test
environment) and scikit-learn's `roc_auc_score` where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from re3_jax.evaluation import lost_metrics

# Six frames: scores and whether each is lost.
SCORES = np.array([0.9, 0.8, 0.8, 0.3, 0.3, 0.1])
LOST = np.array([False, False, True, False, True, True])
# Kept frames score 0.9, 0.8, 0.3; lost frames 0.8, 0.3, 0.1. Pairs (kept, lost) where the
# kept frame scores higher count 1, ties 1/2:
#   kept 0.9: above 0.8, 0.3, 0.1                -> 3
#   kept 0.8: ties 0.8, above 0.3, 0.1           -> 2.5
#   kept 0.3: below 0.8, ties 0.3, above 0.1     -> 1.5
# U = 7 of 3 x 3 = 9 pairs: AUC = 7/9.
# By midranks: ascending 0.1 (1), 0.3 0.3 (2.5 each), 0.8 0.8 (4.5 each), 0.9 (6); the kept
# frames' ranks sum to 6 + 4.5 + 2.5 = 13, U = 13 - 3 * 4 / 2 = 7.
HAND_AUC = 7 / 9


def test_midranks_share_tied_ranks():
  np.testing.assert_array_equal(lost_metrics.midranks(SCORES), [6, 4.5, 4.5, 2.5, 2.5, 1])


def test_roc_auc_hand_case():
  # Exact up to float64 rounding of (13 - 6) / 9: one division, error < 1 ulp of 0.78.
  assert lost_metrics.roc_auc(SCORES, LOST) == pytest.approx(HAND_AUC, abs=1e-15)
  assert lost_metrics.roc_auc(SCORES, ~LOST) == pytest.approx(1 - HAND_AUC, abs=1e-15)
  # Perfect, reversed and all-tied scores.
  assert lost_metrics.roc_auc([3, 2, 1], [False, False, True]) == 1.0
  assert lost_metrics.roc_auc([1, 2, 3], [False, False, True]) == 0.0
  assert lost_metrics.roc_auc([5, 5, 5, 5], [False, True, False, True]) == 0.5


def test_roc_auc_needs_both_classes_and_finite_scores():
  assert np.isnan(lost_metrics.roc_auc([1, 2], [False, False]))
  assert np.isnan(lost_metrics.roc_auc([1, 2], [True, True]))
  with pytest.raises(ValueError, match='score 1 is nan'):
    lost_metrics.roc_auc([1, np.nan], [False, True])
  with pytest.raises(ValueError, match='3 scores for 2 lost flags'):
    lost_metrics.roc_auc([1, 2, 3], [False, True])


def _random_cases():
  rng = np.random.default_rng(0)
  for n in (2, 7, 50, 400):
    scores = np.round(rng.random(n), 1)  # one decimal: many ties
    lost = rng.random(n) < 0.3
    lost[0], lost[-1] = True, False
    yield scores, lost


def test_roc_auc_matches_scipy_mann_whitney():
  scipy_stats = pytest.importorskip('scipy.stats')
  for scores, lost in _random_cases():
    u = scipy_stats.mannwhitneyu(scores[~lost], scores[lost]).statistic
    # Both sum ranks in float64 over at most 400 values: agreement to 1e-12.
    assert lost_metrics.roc_auc(scores, lost) == pytest.approx(
        u / ((~lost).sum() * lost.sum()), abs=1e-12)


def test_roc_auc_matches_sklearn():
  sklearn_metrics = pytest.importorskip('sklearn.metrics')
  for scores, lost in [(SCORES, LOST)] + list(_random_cases()):
    # Lost is the positive class and a low score flags it: sklearn ranks by -score.
    assert lost_metrics.roc_auc(scores, lost) == pytest.approx(
        sklearn_metrics.roc_auc_score(lost, -scores), abs=1e-12)


def test_roc_curve_hand_case_and_its_area():
  curve = lost_metrics.roc_curve(SCORES, LOST)
  # Thresholds 0.1, 0.3, 0.8, 0.9, inf; flagged = score < threshold:
  #   0.1: none;  0.3: {0.1} lost;  0.8: + two 0.3 (one kept, one lost);
  #   0.9: + two 0.8 (one each);  inf: + 0.9 (kept).
  np.testing.assert_array_equal(curve.thresholds, [0.1, 0.3, 0.8, 0.9, np.inf])
  np.testing.assert_allclose(curve.true_positive_rate, [0, 1 / 3, 2 / 3, 1, 1], atol=1e-15)
  np.testing.assert_allclose(curve.false_positive_rate, [0, 0, 1 / 3, 2 / 3, 1], atol=1e-15)
  # The trapezoids: 0 + (1/3)(1/3 + 2/3)/2 + (1/3)(2/3 + 1)/2 + (1/3)(1 + 1)/2 = 7/9.
  area = np.trapezoid(curve.true_positive_rate, curve.false_positive_rate)
  assert area == pytest.approx(HAND_AUC, abs=1e-15)
  for scores, lost in _random_cases():
    c = lost_metrics.roc_curve(scores, lost)
    assert np.trapezoid(c.true_positive_rate, c.false_positive_rate) == pytest.approx(
        lost_metrics.roc_auc(scores, lost), abs=1e-12)


def test_flag_precision_recall_hand_case():
  # score < 0.5 flags the 0.3, 0.3, 0.1 frames: two of them lost -> precision 2/3; of the
  # three lost frames two are flagged -> recall 2/3.
  p, r = lost_metrics.flag_precision_recall(SCORES, LOST, 0.5)
  assert (p, r) == pytest.approx((2 / 3, 2 / 3), abs=1e-15)
  # score < 0.85 adds both 0.8 frames: 3 of 5 lost, all 3 lost flagged.
  assert lost_metrics.flag_precision_recall(SCORES, LOST, 0.85) == pytest.approx((0.6, 1.0))
  p, r = lost_metrics.flag_precision_recall(SCORES, LOST, 0.1)  # nothing flagged
  assert np.isnan(p) and r == 0.0


def test_lost_frames_absent_and_withheld_truth():
  truth = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 10, 10], [5, 5, 5, 9]], np.float32)
  absent = lost_metrics.absent(truth)
  np.testing.assert_array_equal(absent, [False, True, False, True])  # NaN row, zero width
  ious = np.array([1.0, np.nan, 0.09, np.nan])
  np.testing.assert_array_equal(lost_metrics.lost_frames(ious, absent), [False, True, True, True])
  np.testing.assert_array_equal(lost_metrics.lost_frames([0.1], [False]), [False])  # not below
  assert not lost_metrics.truth_withheld(truth)
  assert lost_metrics.truth_withheld(np.concatenate([truth[:1], np.full((3, 4), np.nan)]))


def test_lost_detection_with_and_without_a_score():
  tracked = np.array([False, True, True, True, True])
  ious = np.array([1.0, 0.8, np.nan, 0.05, 0.5])
  absent = np.array([False, False, True, False, False])
  frames = lost_metrics.scored_frames(ious, absent, [np.nan, 0.9, 0.2, 0.4, 0.6], tracked)
  r = lost_metrics.lost_detection(frames, threshold=0.5)
  # Tracked: 0.9 kept, 0.2 absent (lost), 0.4 lost (IoU 0.05), 0.6 kept: perfectly separated.
  assert r.has_score and (r.frames, r.lost, r.absent, r.sequences) == (4, 2, 1, 1)
  assert (r.auc, r.precision, r.recall) == (1.0, 1.0, 1.0)
  none = lost_metrics.scored_frames(ious, absent, np.full(5, np.nan), tracked)
  r = lost_metrics.lost_detection(none)
  assert not r.has_score and (r.frames, r.lost) == (4, 2) and np.isnan(r.auc)
  assert lost_metrics.roc_curve_pooled([none]) is None
  pooled = lost_metrics.lost_detection_pooled([frames, None, frames])
  assert pooled.sequences == 2 and pooled.frames == 8 and pooled.auc == 1.0
