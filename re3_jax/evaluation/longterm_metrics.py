"""The long-term tracking measures of VOT-LT (VOT2018-2020 long-term challenges): tracking
precision, recall and F-score over confidence thresholds, with frames where the target is
absent. Pure NumPy.

Definitions (A. Lukezic, L. Cehovin Zajc, T. Vojir, J. Matas, M. Kristan, "Now you see me:
evaluating performance in long-term visual tracking", arXiv:1804.07056, 2018, and
"Performance Evaluation Methodology for Long-Term Visual Object Tracking",
arXiv:1906.08675, 2019; as the VOT toolkit computes them, votchallenge/toolkit
``vot/analysis/tpr.py``): a tracker reports, at each frame t, a box A_t and a confidence
s_t; at a threshold tau it *reports* the frames with ``s_t >= tau``. With Omega_t the IoU of
A_t with the true box G_t, 0 where the target is absent (G_t empty: a box reported there is
wrong), N_p(tau) the frames reported and N_g the frames where the target is present:

* tracking precision ``Pr(tau) = sum_{t: s_t >= tau} Omega_t / N_p(tau)`` (1 when no frame is
  reported, the toolkit's convention);
* tracking recall ``Re(tau) = sum_{t: s_t >= tau, G_t present} Omega_t / N_g``;
* ``F(tau) = 2 Pr(tau) Re(tau) / (Pr(tau) + Re(tau))`` (0 where both are 0).

Over a dataset, Pr(tau) and Re(tau) are averaged over sequences (each sequence weighing the
same) at each tau, F(tau) is computed from the averages, and the reported F-score is its
maximum over tau, with Pr and Re at that tau (the first maximum in the thresholds' order,
highest tau first, as the toolkit's ``index(max)``). A tracker that gives a constant
score (or a binary one, reported or not) has a single operating point besides "report
nothing".

Thresholds: every distinct score of the dataset, highest first, after ``+inf`` (report
nothing) - so the maximum is exact. The toolkit subsamples the sorted scores to 100
thresholds (its ``resolution``), which can only miss the maximum, never exceed it.

Frames: the frames the tracker updated (the start frame returns the given box and is not a
prediction), in sequences whose truth is not withheld (`lost_metrics.truth_withheld`); a
sequence without a present frame among them has no recall and is left out of the average. A
tracker with no score (NaN) has no long-term measures ("no score").
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class LongTermResult(NamedTuple):
  """VOT-LT measures of one sequence or a dataset.

  Attributes:
    has_score: whether the tracker reported a score (False: "no score", NaN measures).
    f_score: the maximum of F(tau) over the thresholds.
    precision: Pr at the best tau.
    recall: Re at the best tau.
    threshold: the best tau.
    thresholds: (M,) the thresholds, ``inf`` then the distinct scores descending.
    precision_curve: (M,) Pr(tau).
    recall_curve: (M,) Re(tau).
    f_curve: (M,) F(tau).
    frames: frames scored.
    sequences: sequences averaged (those with a present frame).
  """
  has_score: bool
  f_score: float
  precision: float
  recall: float
  threshold: float
  thresholds: np.ndarray
  precision_curve: np.ndarray
  recall_curve: np.ndarray
  f_curve: np.ndarray
  frames: int
  sequences: int


class LongTermFrames(NamedTuple):
  """One sequence's frames as the long-term measures see them (`longterm_frames`).

  Attributes:
    overlaps: (N,) Omega_t: IoU with the truth, 0 where the target is absent.
    present: (N,) bool, the target present.
    scores: (N,) the tracker's confidences.
  """
  overlaps: np.ndarray
  present: np.ndarray
  scores: np.ndarray


def longterm_frames(ious, absent_mask, scores, tracked) -> LongTermFrames:
  """A run's `tracked` frames as `LongTermFrames`.

  Args:
    ious: (T,) IoU with the truth (NaN where the target is absent).
    absent_mask: (T,) bool, the target absent (`lost_metrics.absent`).
    scores: (T,) confidences (NaN where none).
    tracked: (T,) bool, the frames the tracker updated.
  """
  tracked = np.asarray(tracked, bool)
  present = ~np.asarray(absent_mask, bool)
  ious = np.asarray(ious, np.float64)
  overlaps = np.where(present, np.nan_to_num(ious, nan=0.0), 0.0)
  return LongTermFrames(overlaps[tracked], present[tracked],
                        np.asarray(scores, np.float64)[tracked])


def thresholds_of(scores) -> np.ndarray:
  """``inf`` then the distinct finite `scores` descending."""
  scores = np.asarray(scores, np.float64).reshape(-1)
  return np.concatenate([[np.inf], np.unique(scores[np.isfinite(scores)])[::-1]])


def pr_re_curves(frames: LongTermFrames, thresholds) -> tuple[np.ndarray, np.ndarray]:
  """Pr(tau) and Re(tau) of one sequence at each of `thresholds` (see the module docstring).

  Raises:
    ValueError: arrays of different lengths, a non-finite score, or no present frame
      (recall undefined).
  """
  overlaps = np.asarray(frames.overlaps, np.float64).reshape(-1)
  present = np.asarray(frames.present, bool).reshape(-1)
  scores = np.asarray(frames.scores, np.float64).reshape(-1)
  if not overlaps.shape == present.shape == scores.shape:
    raise ValueError(f'{len(overlaps)} overlaps, {len(present)} presence flags and '
                     f'{len(scores)} scores: one of each per frame')
  if not np.isfinite(scores).all():
    bad = int(np.flatnonzero(~np.isfinite(scores))[0])
    raise ValueError(f'score {bad} is {scores[bad]}: scores must be finite numbers')
  n_g = int(present.sum())
  if n_g == 0:
    raise ValueError('no frame with the target present: recall is undefined')
  thresholds = np.asarray(thresholds, np.float64)
  order = np.argsort(-scores, kind='stable')
  desc = scores[order]
  cum = np.concatenate([[0.0], np.cumsum(overlaps[order])])
  # Frames reported at tau: the scores >= tau, a prefix of the descending order.
  reported = np.searchsorted(-desc, -thresholds, side='right')
  with np.errstate(invalid='ignore', divide='ignore'):
    precision = np.where(reported > 0, cum[reported] / reported, 1.0)
  recall = cum[reported] / n_g  # overlaps are 0 where absent: the sum is over present frames
  return precision, recall


def f_curve(precision, recall) -> np.ndarray:
  """F = 2 Pr Re / (Pr + Re), 0 where Pr + Re is 0."""
  precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
  total = precision + recall
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1.0), 0.0)


def _no_score(frames: int) -> LongTermResult:
  empty = np.zeros(0)
  nan = float('nan')
  return LongTermResult(False, nan, nan, nan, nan, empty, empty, empty, empty, frames, 0)


def longterm_average(runs: Sequence[LongTermFrames]) -> LongTermResult:
  """The VOT-LT measures over sequences (one sequence: its own): thresholds from every score,
  Pr and Re averaged over the sequences with a present frame, F from the averages, its
  maximum reported.

  Args:
    runs: per sequence, its `LongTermFrames` (`longterm_frames`).

  Returns:
    The `LongTermResult`; ``has_score=False`` with NaN measures when no frame has a score.

  Raises:
    ValueError: a sequence whose scores are finite on some frames and NaN on others.
  """
  frames = sum(len(r.scores) for r in runs)
  all_scores = (np.concatenate([np.asarray(r.scores, np.float64).reshape(-1) for r in runs])
                if runs else np.zeros(0))
  if not np.isfinite(all_scores).any():
    return _no_score(frames)
  kept = [r for r in runs if np.asarray(r.present, bool).any()]
  if not kept:
    nan = float('nan')
    thresholds = thresholds_of(all_scores)
    return LongTermResult(True, nan, nan, nan, nan, thresholds, np.full(len(thresholds), nan),
                          np.full(len(thresholds), nan), np.full(len(thresholds), nan), frames, 0)
  thresholds = thresholds_of(all_scores)
  curves = [pr_re_curves(r, thresholds) for r in kept]
  precision = np.mean([c[0] for c in curves], axis=0)
  recall = np.mean([c[1] for c in curves], axis=0)
  f = f_curve(precision, recall)
  best = int(np.argmax(f))  # the first maximum: the highest tau among equal F
  return LongTermResult(True, float(f[best]), float(precision[best]), float(recall[best]),
                        float(thresholds[best]), thresholds, precision, recall, f, frames,
                        len(kept))


def longterm(frames: LongTermFrames | None) -> LongTermResult:
  """One sequence's VOT-LT measures (None: truth withheld, nothing scored)."""
  return longterm_average([] if frames is None else [frames])
