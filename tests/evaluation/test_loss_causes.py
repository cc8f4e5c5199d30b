"""Tests of `re3_jax.evaluation.loss_causes`: losses of the target and the target's jumps beyond
a window twice its size, on boxes laid out by hand (each frame's case written beside it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from re3_jax.evaluation import loss_causes

NAN = [math.nan] * 4
FAR = [100, 100, 110, 110]  # IoU 0 with every true box below


def _box(cx, cy, w=10, h=10):
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


# A 10x10 target; a move counts as a jump when its centre moves more than 10 px (the previous
# box's width) across or its height down: out of the 20x20 window around the previous box.
TRUTH = np.array([
    _box(5, 5),    # 0
    _box(5, 5),    # 1
    _box(15, 5),   # 2: moved 10 px: on the window's edge, not a jump
    _box(15, 5),   # 3
    _box(26, 5),   # 4: moved 11 px: a jump
    NAN,           # 5: absent
    _box(60, 5),   # 6: after an absent frame: not a jump (no previous box)
    _box(60, 5),   # 7
    _box(60, 16),  # 8: moved 11 px down: a jump, tracked through
])
PRED = np.array([
    _box(5, 5),    # 0: IoU 1
    _box(5, 5),    # 1: IoU 1
    FAR,           # 2: IoU 0 after 1: a loss, the target within the window (no jump)
    _box(15, 5),   # 3: found again
    _box(15, 5),   # 4: IoU 0 after 1: a loss at a jump
    FAR,           # 5: absent truth: nothing to lose
    FAR,           # 6: IoU 0, but frame 5 had no true box: not a loss
    _box(60, 5),   # 7: IoU 1
    _box(60, 16),  # 8: IoU 1: the jump followed
])


def test_a_sequence_laid_out_by_hand():
  assert loss_causes.loss_frames(PRED, TRUTH).nonzero()[0].tolist() == [2, 4]
  assert loss_causes.jumps(TRUTH).nonzero()[0].tolist() == [4, 8]
  assert loss_causes.loss_causes(PRED, TRUTH) == loss_causes.LossCauses(
      losses=2, jumped=1, video_jumps=2, sequences=1)


def test_the_window_is_the_previous_true_box_axis_by_axis():
  # A wide, flat box: 2 px down is beyond half a window of height 2 * 1.5; 14 px across is not
  # beyond half a window of width 2 * 20.
  wide = np.array([_box(50, 50, 20, 1.5), _box(64, 50, 20, 1.5), _box(64, 52, 20, 1.5)])
  assert loss_causes.jumps(wide).tolist() == [False, False, True]
  # A wider window (context 4) holds the move of 11 px at frame 4 of TRUTH.
  assert loss_causes.jumps(TRUTH, context=4).nonzero()[0].tolist() == []


def test_the_loss_threshold_is_iou_under_0_1():
  truth = np.array([_box(5, 5), _box(5, 5), _box(5, 5)])
  # IoU of two 10x10 boxes offset by dx across: (10 - dx) / (10 + dx), 0.1 at dx = 8.18.
  above = 8.0  # IoU 2 / 18 = 0.111: kept
  below = 8.5  # IoU 1.5 / 18.5 = 0.081: lost
  pred = np.array([_box(5, 5), _box(5 + above, 5), _box(5 + below, 5)])
  assert loss_causes.loss_frames(pred, truth).tolist() == [False, False, True]


def test_a_box_that_is_not_finite_is_a_miss():
  truth = np.array([_box(5, 5), _box(5, 5)])
  assert loss_causes.loss_causes(np.array([_box(5, 5), NAN]), truth).losses == 1


def test_sums_over_sequences_and_an_empty_list():
  one = loss_causes.loss_causes(PRED, TRUTH)
  assert loss_causes.total([one, one]) == loss_causes.LossCauses(4, 2, 4, 2)
  assert loss_causes.total([]) == loss_causes.LossCauses(0, 0, 0, 0)


def test_shapes_must_match():
  with pytest.raises(ValueError, match=r'\(T, 4\)'):
    loss_causes.loss_causes(PRED[:3], TRUTH)
