"""Tests of Re3's reset-based VOT metrics (`re3_jax.evaluation.vot_metrics`), by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from re3_jax.evaluation import vot_metrics

K = vot_metrics.FrameKind


def test_vot_scored_burn_in():
  kinds = [K.START] + [K.TRACKED] * 12 + [K.SKIPPED] * 5 + [K.START] + [K.TRACKED] * 11
  scored = vot_metrics.vot_scored(kinds, burn_in=10)
  assert np.flatnonzero(scored).tolist() == [10, 11, 12, 28, 29]
  scored = vot_metrics.vot_scored(kinds, burn_in=10, burn_in_at_start=False)
  assert np.flatnonzero(scored).tolist() == list(range(13)) + [28, 29]
  with pytest.raises(ValueError, match='before any start'):
    vot_metrics.vot_scored([K.TRACKED, K.START])
  with pytest.raises(ValueError, match='frame 1 is 7'):
    vot_metrics.vot_scored([1, 7])


def test_vot_by_hand():
  # Start at 0; burn-in 0..9; 10..12 scored; failure at 12; restart at 18; 28, 29 scored.
  kinds = [K.START] + [K.TRACKED] * 12 + [K.SKIPPED] * 5 + [K.START] + [K.TRACKED] * 11
  ious = np.full(len(kinds), 0.9)
  ious[[10, 11, 12, 28, 29]] = [0.6, 0.4, 0.0, 0.8, np.nan]  # 29 has no truth
  ious[13:18] = 0.3  # skipped frames are ignored whatever they hold
  r = vot_metrics.vot(ious, kinds)
  assert (r.frames, r.failures) == (4, 1)
  assert r.accuracy == pytest.approx((0.6 + 0.4 + 0.0 + 0.8) / 4)
  assert r.robustness == pytest.approx(math.exp(-30 * 1 / 4))
  assert r.average == pytest.approx((r.accuracy + r.robustness) / 2)
  original = vot_metrics.vot(ious, kinds, burn_in_at_start=False)  # Re3's script: 0..12 scored
  assert (original.frames, original.failures) == (14, 1)
  pooled = vot_metrics.vot_pooled([r, original])
  assert pooled.frames == 18 and pooled.failures == 2
  assert pooled.accuracy == pytest.approx((r.iou_sum + original.iou_sum) / 18)
  assert pooled.robustness == pytest.approx(math.exp(-30 * 2 / 18))
  none = vot_metrics.vot([np.nan, 0.5], [K.START, K.TRACKED])
  assert none.frames == 0 and math.isnan(none.accuracy) and math.isnan(none.robustness)
  with pytest.raises(ValueError, match='differ in length'):
    vot_metrics.vot([0.5], [K.START, K.TRACKED])
