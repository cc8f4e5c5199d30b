"""How well a tracker's per-frame confidence score tells lost frames from the rest.

A frame is *lost* (`lost_frames`) when the target is absent (no true box: see `absent`) or
the tracker's box overlaps the truth by less than `LOST_IOU` (IoU < 0.1). A good score is
low on lost frames and high on the others; this module measures that separation, pure NumPy:

* `roc_auc`: the area under the ROC curve of "low score means lost", i.e. the probability
  that a random frame that is not lost scores higher than a random lost frame, ties counting
  one half (the Mann-Whitney statistic; derivation at `roc_auc`). 0.5 is chance, 1 perfect.
* `roc_curve`: the curve itself (false-positive rate, true-positive rate of the lost flag
  ``score < threshold`` as the threshold rises).
* `flag_precision_recall`: at one threshold, the precision and recall of the flag
  ``score < threshold`` as a detector of lost frames (``--score_threshold`` of
  ``python -m re3_jax.evaluate``).

Which frames: those the tracker updated (`vot_metrics.FrameKind.TRACKED`; the start frame
returns the given box and has no score) in a sequence whose truth is not withheld
(`truth_withheld`: a GOT-10k test sequence, whose only true box is the first, is not
scored). Over a dataset the frames are pooled (`lost_detection_pooled`): one AUC over all of
them, not a mean of per-sequence AUCs, which are undefined for a sequence without lost
frames. A tracker that reports no score (NaN everywhere) gets NaN metrics and
``has_score=False`` ("no score"), never an error.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from re3_jax.evaluation import metrics
from re3_jax.tracking import confidence

# A frame whose box overlaps the truth less than this (IoU <) is lost.
LOST_IOU = 0.1
# The default --score_threshold: a frame is flagged lost when its score is below it: Re3's
# (`confidence.LOST_THRESHOLD`, chosen on val). Any value in (0, 1] splits a binary score
# (OpenCV CSRT's ok flag: 1 or 0) the same way.
DEFAULT_SCORE_THRESHOLD = confidence.LOST_THRESHOLD


def absent(truth) -> np.ndarray:
  """(T,) bool: the frames whose target is absent: no true box (a NaN row, as OTB-layout
  and UAV123 files write an out-of-view frame, or a box of zero size; `metrics.valid_truth`).

  Readers turn every benchmark's absence labels into NaN rows (`re3_jax.datasets.dataset_roots`:
  GOT-10k ``absence.label`` and ``cover.label``, LaSOT ``full_occlusion.txt`` and
  ``out_of_view.txt``), so this is the one mask for all of them.
  """
  return ~metrics.valid_truth(truth)


def truth_withheld(truth) -> bool:
  """Whether a sequence's truth is withheld rather than absent: no true box after the first
  frame (the GOT-10k test split). Such a sequence has nothing to score here."""
  return not bool(metrics.valid_truth(np.asarray(truth)[1:]).any())


def lost_frames(ious, absent_mask) -> np.ndarray:
  """(T,) bool: absent, or IoU with the truth below `LOST_IOU` (a missing box has IoU 0)."""
  ious = np.asarray(ious, np.float64)
  with np.errstate(invalid='ignore'):
    return np.asarray(absent_mask, bool) | (np.nan_to_num(ious, nan=1.0) < LOST_IOU)


def _checked(scores, lost) -> tuple[np.ndarray, np.ndarray]:
  scores = np.asarray(scores, np.float64).reshape(-1)
  lost = np.asarray(lost, bool).reshape(-1)
  if scores.shape != lost.shape:
    raise ValueError(f'{len(scores)} scores for {len(lost)} lost flags')
  if not np.isfinite(scores).all():
    bad = int(np.flatnonzero(~np.isfinite(scores))[0])
    raise ValueError(f'score {bad} is {scores[bad]}: scores must be finite numbers')
  return scores, lost


def midranks(values) -> np.ndarray:
  """Ranks 1..n of `values` ascending, tied values sharing the mean of their ranks."""
  values = np.asarray(values, np.float64).reshape(-1)
  _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
  below = np.concatenate([[0], np.cumsum(counts)[:-1]])  # values smaller than each group
  return (below + (counts + 1) / 2.0)[inverse]


def roc_auc(scores, lost) -> float:
  """The ROC AUC of the score as a detector of lost frames (low score = lost).

  Derivation (ties as the Mann-Whitney statistic). Let K be the n_k frames that are not lost
  and L the n_l lost ones. The ROC curve of the flag ``score < theta`` goes from (0, 0) to
  (1, 1) as theta rises; its area is
  ``AUC = P(s_k > s_l) + 1/2 P(s_k = s_l)`` for k from K and l from L drawn at random
  (the trapezoid over a group of tied scores is the half), that is
  ``AUC = U / (n_k n_l)`` with ``U = #{(k, l): s_k > s_l} + 1/2 #{(k, l): s_k = s_l}``.
  Rank all n_k + n_l scores ascending, ties sharing their mean rank (`midranks`), and let
  R_K be the sum of the ranks of K. A frame k of rank r_k has r_k - 1 frames below it
  (a tied frame counting one half), of which those in K contribute, summed over k,
  ``n_k (n_k - 1) / 2`` (each pair within K once, a tie within K split as two halves);
  the rest are its wins over L. So ``U = R_K - n_k - n_k (n_k - 1) / 2 = R_K - n_k (n_k + 1) / 2``,
  the Mann-Whitney U of K over L, and ``AUC = (R_K - n_k (n_k + 1) / 2) / (n_k n_l)``:
  O(n log n) instead of the n_k n_l pairs, with ties handled exactly.

  Args:
    scores: (N,) finite scores, higher = more confident.
    lost: (N,) bool, the frames that are lost.

  Returns:
    The AUC in [0, 1]; NaN when every frame is lost or none is (one class empty).

  Raises:
    ValueError: scores and flags of different lengths, or a non-finite score.
  """
  scores, lost = _checked(scores, lost)
  n_l = int(lost.sum())
  n_k = len(lost) - n_l
  if n_k == 0 or n_l == 0:
    return float('nan')
  r_k = float(midranks(scores)[~lost].sum())
  return (r_k - n_k * (n_k + 1) / 2.0) / (n_k * n_l)


class RocCurve(NamedTuple):
  """The ROC curve of the flag ``score < threshold`` as a detector of lost frames.

  Attributes:
    false_positive_rate: (M,) the fraction of frames not lost that are flagged, rising from 0
      to 1.
    true_positive_rate: (M,) the fraction of lost frames flagged, rising from 0 to 1.
    thresholds: (M,) the thresholds: the distinct scores ascending, then ``inf``.
  """
  false_positive_rate: np.ndarray
  true_positive_rate: np.ndarray
  thresholds: np.ndarray


def roc_curve(scores, lost) -> RocCurve:
  """The ROC curve (see `RocCurve`; NaN rates for an empty class). Its trapezoid area is
  `roc_auc`."""
  scores, lost = _checked(scores, lost)
  thresholds = np.concatenate([np.unique(scores), [np.inf]])
  order = np.sort(scores[lost]), np.sort(scores[~lost])
  flagged_lost = np.searchsorted(order[0], thresholds, side='left')  # scores < threshold
  flagged_kept = np.searchsorted(order[1], thresholds, side='left')
  with np.errstate(invalid='ignore', divide='ignore'):
    tpr = flagged_lost / np.float64(len(order[0]))
    fpr = flagged_kept / np.float64(len(order[1]))
  return RocCurve(fpr, tpr, thresholds)


def flag_precision_recall(scores, lost, threshold: float) -> tuple[float, float]:
  """Precision and recall of the flag ``score < threshold`` as a detector of lost frames.

  Returns:
    (precision, recall): flagged frames that are lost over flagged frames (NaN if none is
    flagged), flagged lost frames over lost frames (NaN if none is lost).
  """
  scores, lost = _checked(scores, lost)
  flagged = scores < threshold
  hits = float(np.sum(flagged & lost))
  precision = hits / flagged.sum() if flagged.any() else float('nan')
  recall = hits / lost.sum() if lost.any() else float('nan')
  return precision, recall


class LostResult(NamedTuple):
  """Lost-frame detection of one sequence, or pooled over sequences.

  Attributes:
    has_score: whether the tracker reported a score (False: "no score", the rest NaN/0).
    frames: the frames scored (tracked frames of sequences whose truth is not withheld).
    lost: how many of them are lost (absent or IoU < `LOST_IOU`).
    absent: how many of them have the target absent.
    auc: `roc_auc` (NaN without a score, or when no frame or every frame is lost).
    threshold: the flag's threshold (``score < threshold`` flags a frame as lost).
    precision: `flag_precision_recall`'s precision at `threshold`.
    recall: its recall.
    sequences: sequences pooled (1 for one sequence; 0 if its truth is withheld).
  """
  has_score: bool
  frames: int
  lost: int
  absent: int
  auc: float
  threshold: float
  precision: float
  recall: float
  sequences: int


class ScoredFrames(NamedTuple):
  """What lost-frame detection scores in one run: per scored frame, its score, whether it
  is lost and whether the target is absent (`scored_frames`)."""
  scores: np.ndarray
  lost: np.ndarray
  absent: np.ndarray


def scored_frames(ious, absent_mask, scores, tracked) -> ScoredFrames | None:
  """The frames lost-frame detection scores: the `tracked` ones; None if there are none.

  Args:
    ious: (T,) IoU with the truth (NaN where it is absent).
    absent_mask: (T,) bool, `absent`.
    scores: (T,) the tracker's scores (NaN where it gave none).
    tracked: (T,) bool, the frames the tracker updated.
  """
  tracked = np.asarray(tracked, bool)
  lost = lost_frames(ious, absent_mask)
  return ScoredFrames(np.asarray(scores, np.float64)[tracked], lost[tracked],
                      np.asarray(absent_mask, bool)[tracked])


def _result(frames: Sequence[ScoredFrames], threshold: float) -> LostResult:
  scores = np.concatenate([f.scores for f in frames]) if frames else np.zeros(0)
  lost = np.concatenate([f.lost for f in frames]) if frames else np.zeros(0, bool)
  absent_n = int(sum(f.absent.sum() for f in frames))
  has_score = bool(len(scores)) and bool(np.isfinite(scores).any())
  if not has_score:
    return LostResult(False, len(scores), int(lost.sum()), absent_n, float('nan'),
                      float(threshold), float('nan'), float('nan'), len(frames))
  precision, recall = flag_precision_recall(scores, lost, threshold)
  return LostResult(True, len(scores), int(lost.sum()), absent_n, roc_auc(scores, lost),
                    float(threshold), precision, recall, len(frames))


def lost_detection(frames: ScoredFrames | None,
                   threshold: float = DEFAULT_SCORE_THRESHOLD) -> LostResult:
  """One sequence's `LostResult` from its `scored_frames` (None: truth withheld, nothing
  scored)."""
  return _result([] if frames is None else [frames], threshold)


def lost_detection_pooled(frames: Sequence[ScoredFrames | None],
                          threshold: float = DEFAULT_SCORE_THRESHOLD) -> LostResult:
  """The dataset's `LostResult`: every sequence's scored frames pooled."""
  return _result([f for f in frames if f is not None], threshold)


def roc_curve_pooled(frames: Sequence[ScoredFrames | None]) -> RocCurve | None:
  """The ROC curve over every sequence's scored frames pooled (None without a score)."""
  kept = [f for f in frames if f is not None]
  if not kept:
    return None
  scores = np.concatenate([f.scores for f in kept])
  if not len(scores) or not np.isfinite(scores).any():
    return None
  return roc_curve(scores, np.concatenate([f.lost for f in kept]))
