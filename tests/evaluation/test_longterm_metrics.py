"""Tests of `re3_jax.evaluation.longterm_metrics` (VOT-LT tracking precision, recall and
F-score) on small cases computed by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from re3_jax.evaluation import longterm_metrics as lt

# Sequence A, five tracked frames (frame 2: target absent, the tracker's box there counts 0).
A = lt.LongTermFrames(overlaps=np.array([0.8, 0.6, 0.0, 0.2, 0.0]),
                      present=np.array([True, True, False, True, True]),
                      scores=np.array([0.9, 0.7, 0.5, 0.3, 0.1]))
# N_g = 4 present frames. Reported at tau: the frames with score >= tau.
#   tau   reported     Pr                 Re                F = 2 Pr Re / (Pr + Re)
#   inf   none         1 (convention)     0                 0
#   0.9   {0}          0.8                0.8/4 = 0.2       0.32 / 1.0  = 0.32
#   0.7   {0,1}        1.4/2 = 0.7        1.4/4 = 0.35      0.49 / 1.05 = 0.466667
#   0.5   {0,1,2}      1.4/3 = 0.466667   0.35              0.326667 / 0.816667 = 0.4
#   0.3   {0..3}       1.6/4 = 0.4        1.6/4 = 0.4       0.4
#   0.1   all          1.6/5 = 0.32       0.4               0.256 / 0.72 = 0.355556
# Best: F 0.466667 at tau 0.7, Pr 0.7, Re 0.35.
A_TAUS = [np.inf, 0.9, 0.7, 0.5, 0.3, 0.1]
A_PR = [1.0, 0.8, 0.7, 1.4 / 3, 0.4, 0.32]
A_RE = [0.0, 0.2, 0.35, 0.35, 0.4, 0.4]
A_F = [0.0, 0.32, 0.49 / 1.05, (2 * 1.4 / 3 * 0.35) / (1.4 / 3 + 0.35), 0.4, 0.256 / 0.72]
# Float64 sums of a few values below 2: errors below 1e-15; 1e-12 leaves room.
TOL = 1e-12


def test_one_sequence_hand_case():
  r = lt.longterm(A)
  assert r.has_score and r.frames == 5 and r.sequences == 1
  np.testing.assert_array_equal(r.thresholds, A_TAUS)
  np.testing.assert_allclose(r.precision_curve, A_PR, atol=TOL)
  np.testing.assert_allclose(r.recall_curve, A_RE, atol=TOL)
  np.testing.assert_allclose(r.f_curve, A_F, atol=TOL)
  assert (r.f_score, r.precision, r.recall, r.threshold) == pytest.approx(
      (0.49 / 1.05, 0.7, 0.35, 0.7), abs=TOL)


# Sequence B, three tracked frames, all present, a binary score (reported or not):
# overlaps 0.9, 0.5, 0.1 with scores 1, 1, 0.
B = lt.LongTermFrames(np.array([0.9, 0.5, 0.1]), np.ones(3, bool), np.array([1.0, 1.0, 0.0]))
# Over A and B the thresholds are every distinct score: inf, 1, 0.9, 0.7, 0.5, 0.3, 0.1, 0.
# B at tau: inf: none (Pr 1, Re 0); 1 .. 0.1: {0, 1} (Pr 0.7, Re 1.4/3); 0: all (Pr 0.5,
# Re 0.5). A at tau = 1: none (Pr 1, Re 0); at 0: all (as at 0.1).
# Averages (A + B) / 2 and F:
#   inf: Pr 1,                 Re 0                         F 0
#   1:   (1 + 0.7)/2 = 0.85    (0 + 0.466667)/2 = 0.233333  2*.85*.233333/1.083333 = 0.366154
#   0.9: (0.8 + 0.7)/2 = 0.75  (0.2 + 0.466667)/2 = 0.333333  0.5/1.083333 = 0.461538
#   0.7: (0.7 + 0.7)/2 = 0.7   (0.35 + 0.466667)/2 = 0.408333 2*.7*.408333/1.108333 = 0.515789
#   0.5: (0.466667+0.7)/2 = 0.583333  0.408333          0.476389/0.991667 = 0.480392
#   0.3: (0.4 + 0.7)/2 = 0.55  (0.4 + 0.466667)/2 = 0.433333  0.476667/0.983333 = 0.484746
#   0.1: (0.32 + 0.7)/2 = 0.51  0.433333                0.442/0.943333 = 0.468551
#   0:   (0.32 + 0.5)/2 = 0.41  (0.4 + 0.5)/2 = 0.45     0.369/0.86 = 0.429070
# Best: F 0.515789 at tau 0.7 (Pr 0.7, Re 0.408333).


def test_dataset_average_hand_case():
  r = lt.longterm_average([A, B])
  assert r.sequences == 2 and r.frames == 8
  np.testing.assert_array_equal(r.thresholds, [np.inf, 1, 0.9, 0.7, 0.5, 0.3, 0.1, 0])
  re_b = 1.4 / 3
  np.testing.assert_allclose(
      r.precision_curve, [1, 0.85, 0.75, 0.7, (1.4 / 3 + 0.7) / 2, 0.55, 0.51, 0.41], atol=TOL)
  np.testing.assert_allclose(
      r.recall_curve, [0, re_b / 2, (0.2 + re_b) / 2, (0.35 + re_b) / 2, (0.35 + re_b) / 2,
                       (0.4 + re_b) / 2, (0.4 + re_b) / 2, 0.45], atol=TOL)
  recall = (0.35 + re_b) / 2
  assert (r.f_score, r.precision, r.recall, r.threshold) == pytest.approx(
      (2 * 0.7 * recall / (0.7 + recall), 0.7, recall, 0.7), abs=TOL)
  assert r.f_score == pytest.approx(0.515789, abs=1e-6)  # the table's rounded figure


def test_ties_choose_the_highest_threshold_and_constant_scores_give_one_point():
  # A constant score: reported everywhere or nowhere; F at the score is the only non-zero one.
  c = lt.LongTermFrames(np.array([0.5, 0.5]), np.ones(2, bool), np.array([0.3, 0.3]))
  r = lt.longterm(c)
  np.testing.assert_array_equal(r.thresholds, [np.inf, 0.3])
  assert (r.f_score, r.precision, r.recall, r.threshold) == (0.5, 0.5, 0.5, 0.3)
  # Equal F at two thresholds: tau 0.9 reports f0 (Pr 1, Re 1/2, F 2/3); tau 0.8 all four
  # (Pr 2/4, Re 1, F 2/3, the same float: 2 Pr Re is 1.0 and Pr + Re 1.5 in both). The first,
  # highest tau, wins, as the toolkit's index(max).
  tie = lt.LongTermFrames(np.array([1.0, 1.0, 0.0, 0.0]), np.array([True, True, False, False]),
                          np.array([0.9, 0.8, 0.8, 0.8]))
  r = lt.longterm(tie)
  np.testing.assert_array_equal(r.f_curve[1:], [2 / 3, 2 / 3])
  assert (r.threshold, r.precision, r.recall) == (0.9, 1.0, 0.5)


def test_no_score_no_present_frame_and_bad_input():
  none = lt.LongTermFrames(np.array([0.5]), np.array([True]), np.array([np.nan]))
  r = lt.longterm(none)
  assert not r.has_score and np.isnan(r.f_score) and r.frames == 1
  assert not lt.longterm(None).has_score
  gone = lt.LongTermFrames(np.array([0.0]), np.array([False]), np.array([0.5]))
  r = lt.longterm(gone)
  assert r.has_score and r.sequences == 0 and np.isnan(r.f_score)
  assert lt.longterm_average([A, gone]).f_score == lt.longterm(A).f_score  # left out
  with pytest.raises(ValueError, match='score 1 is nan'):
    lt.pr_re_curves(lt.LongTermFrames(np.ones(2), np.ones(2, bool), np.array([1, np.nan])),
                    [np.inf])
  with pytest.raises(ValueError, match='one of each per frame'):
    lt.pr_re_curves(lt.LongTermFrames(np.ones(2), np.ones(3, bool), np.ones(2)), [np.inf])


def test_longterm_frames_zero_absent_frames_and_drop_the_start():
  f = lt.longterm_frames(ious=[1.0, 0.7, np.nan, 0.2], absent_mask=[False, False, True, False],
                         scores=[np.nan, 0.9, 0.1, 0.5], tracked=[False, True, True, True])
  np.testing.assert_array_equal(f.overlaps, [0.7, 0.0, 0.2])
  np.testing.assert_array_equal(f.present, [True, False, True])
  np.testing.assert_array_equal(f.scores, [0.9, 0.1, 0.5])
