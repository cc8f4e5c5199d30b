"""Losses of the target, and whether the target's own motion explains each, a metric family of
the report (`FAMILY`, in `metric_families.FAMILIES`): what limits a tracker that, as Re3,
regresses the next box from a window around the last one.

* A **loss** is a frame whose IoU with the true box falls under `lost_metrics.LOST_IOU` (0.1)
  after a frame at or above it, both frames with a true box: a lost frame of
  `lost_metrics.lost_frames` after one that is not (a target that leaves the view and
  comes back is not a loss of the tracker's). A tracker that finds the target again and loses
  it later has lost it twice.
* At a loss the target **jumped** when its true centre moved from the previous frame's true
  centre by more than the previous true box's width across or its height down: out of a window
  `CONTEXT` (2) times that box around it, the crop Re3 regresses from
  (`boxes.context_window`). A jump takes the target out of the crop even around a perfect
  previous box; a loss without one happened with the target within reach of a tracker that
  was on it, so the box went to something else (a distractor, the background) or drifted off.
* The video's own jumps (every frame with a true box whose centre jumped so from the previous
  frame's, whatever the tracker did) are counted beside them: the same for every tracker.

Columns ``losses`` and ``jumped`` (the losses at a jump); ``results.json`` holds all three
counts per sequence and summed over sequences.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import metric_family
from re3_jax.evaluation import metrics

# The search window as a multiple of the previous box: Re3's crop window (twice the box).
CONTEXT = boxes_lib.CONTEXT_SCALE


class LossCauses(NamedTuple):
  """One sequence's losses, or their sums over sequences.

  Attributes:
    losses: frames at which the tracker lost the target (see the module docstring).
    jumped: the losses at which the target jumped beyond the window.
    video_jumps: the frames at which the target jumped, tracked or not.
    sequences: sequences summed (1 for one sequence).
  """
  losses: int
  jumped: int
  video_jumps: int
  sequences: int


def jumps(truth, context: float = CONTEXT) -> np.ndarray:
  """(T,) bool: frame t's true centre lies outside the window `context` times frame t-1's
  true box around that box's centre (False at frame 0 and where either frame has no box)."""
  truth = np.asarray(truth, np.float64)
  present = ~lost_metrics.absent(truth)
  out = np.zeros(len(truth), bool)
  if len(truth) < 2:
    return out
  both = present[1:] & present[:-1]
  with np.errstate(invalid='ignore'):
    move = np.abs(boxes_lib.centers(truth[1:]) - boxes_lib.centers(truth[:-1]))
    half_window = context / 2 * boxes_lib.width_height(truth[:-1])
    out[1:] = both & np.any(move > half_window, axis=-1)
  return out


def loss_frames(pred, truth) -> np.ndarray:
  """(T,) bool: the tracker lost the target at frame t (IoU under 0.1 after one at or above
  0.1 at frame t-1, both with a true box)."""
  absent = lost_metrics.absent(truth)
  lost = lost_metrics.lost_frames(metrics.iou(pred, truth), absent)
  out = np.zeros(len(lost), bool)
  out[1:] = lost[1:] & ~absent[1:] & ~lost[:-1]  # not lost at t-1: a true box there too
  return out


def loss_causes(pred, truth, context: float = CONTEXT) -> LossCauses:
  """The losses of one sequence: (T, 4) xyxy predicted and true boxes."""
  pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
  if pred.shape != truth.shape or pred.ndim != 2 or pred.shape[-1] != 4:
    raise ValueError(f'pred and truth must both be (T, 4) xyxy, got {pred.shape} and '
                     f'{truth.shape}')
  lost, jumped = loss_frames(pred, truth), jumps(truth, context)
  return LossCauses(int(lost.sum()), int((lost & jumped).sum()), int(jumped.sum()), 1)


def total(results: Sequence[LossCauses]) -> LossCauses:
  """The counts summed over sequences."""
  return LossCauses(*(int(sum(values)) for values in zip(*results))) if results else (
      LossCauses(0, 0, 0, 0))


FAMILY = metric_family.MetricFamily(
    name='losses', protocol='ope',
    sequence=lambda run, truth, options: loss_causes(run.boxes, truth),
    overall=lambda scored, options: total([value for _, _, value in scored]),
    columns=(metric_family.Column('losses', lambda r: r.losses, 'd'),
             metric_family.Column('jumped', lambda r: r.jumped, 'd')),
    summary=lambda r: f'{r.losses} losses ({r.jumped} at a jump)',
    to_json=lambda r: r._asdict())
