"""LaSOT's normalised precision (Fan et al., LaSOT, CVPR 2019; from TrackingNet), a metric
family of the report (`FAMILY`, registered in `metric_families.FAMILIES`).

The centre error of each frame normalised by the true box's size, axis by axis:
``d = ||((cx_p - cx_t) / w_t, (cy_p - cy_t) / h_t)||``; the curve is the fraction of frames
with ``d <= t`` at the 51 thresholds ``t = 0, 0.01, ..., 0.5``; sequences' curves are
averaged. Matched to pytracking (visionml/pytracking, ``pytracking/analysis/
extract_results.py``: ``calc_err_center(..., normalized=True)``, ``calc_seq_err_robust`` and
``extract_results`` with ``dataset == 'lasot'``; ``plot_results.py``: ``get_prec_curve``),
which agrees with the LaSOT authors' toolkit (HengLan/LaSOT_Evaluation_Toolkit:
``utils/calc_seq_err_robust.m``, ``utils/eval_tracker.m``, ``run_tracker_performance_
evaluation.m`` with ``norm_dst = true``) on every point below:

* Thresholds ``arange(51) / 100``; a frame counts at ``t`` when ``d <= t``.
* Centres: pytracking's ``x + (w - 1) / 2`` of a 1-based ``x, y, w, h`` box is the xyxy
  centre plus half a pixel on both boxes, which cancels (as in `metrics.center_error`); the
  normalisation divides by the true box's ``w`` and ``h`` as they are (no ``+1``, no floor
  at 1 pixel as got10k's ``normalized_center_error`` has).
* The first frame's prediction is replaced by its true box (``pred_bb[0, :] = anno_bb[0,
  :]``): it counts as ``d = 0``.
* A prediction of zero (here also negative or non-finite) width or height at a frame with a
  true box is replaced by the previous frame's (after its own replacement). pytracking
  replaces zero sizes only and raises on negative or NaN ones; the LaSOT toolkit replaces
  all three, as here.
* Frames without a true box (absent: a NaN row, the readers' mark of LaSOT's
  ``full_occlusion.txt`` and ``out_of_view.txt``; here also a box of zero size,
  `lost_metrics.absent`) stay in the denominator and never count: the curve is over all
  ``T`` frames of the sequence (pytracking's ``seq_length = anno_bb.shape[0]`` for LaSOT,
  the toolkit's ``len_all``), not over the frames with truth as OTB's are. (pytracking
  counts a visible true box of zero size as a hit at every threshold, ``-1``; here it is
  absent, as everywhere in the harness.)
* The score is the mean curve at ``t = 0.2`` (pytracking's ``prec_curve[:, 20]``, the
  toolkit's ``rank_idx = 21`` of its 'threshold' ranking); the mean over the 51 thresholds
  (the AUC the LaSOT paper's text ranks by, and got10k's fork's
  ``normalized_precision_score``) is reported beside it as ``auc``. Values are fractions
  (pytracking prints percent).

Where this differs from both: a sequence whose truth is withheld (no true box after the first
frame, the GOT-10k test split) has nothing to score (NaN, left out of averages, as the
harness's other metrics), and a non-finite prediction at a frame with a true box (a tracker
that gave no box; pytracking raises) that has no earlier box to take is a miss. The LaSOT
toolkit also drops, from the average, sequences whose curve is zero everywhere; pytracking
and this module keep them.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import metric_family

# Normalised distance thresholds: 0, 0.01, ..., 0.5 (pytracking: arange(0, 51) / 100).
THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0
# The score is the curve at THRESHOLDS[SCORE_INDEX] = 0.2.
SCORE_INDEX = 20


class NormPrecisionResult(NamedTuple):
  """The normalised precision of one sequence, or the average over sequences.

  Attributes:
    curve: (51,) the fraction of frames with ``d <=`` each of `THRESHOLDS`.
    score: ``curve`` at 0.2 (the benchmark's normalised precision, P_norm).
    auc: the mean of ``curve`` over the thresholds.
    frames: the frames of the denominator (summed over sequences for an average).
    sequences: sequences averaged (1 for one sequence; 0 when it has nothing to score).
  """
  curve: np.ndarray
  score: float
  auc: float
  frames: int
  sequences: int


def _result(curve: np.ndarray, frames: int, sequences: int) -> NormPrecisionResult:
  return NormPrecisionResult(curve, float(curve[SCORE_INDEX]), float(np.mean(curve)),
                             int(frames), int(sequences))


def _empty() -> NormPrecisionResult:
  return _result(np.full(THRESHOLDS.shape, np.nan), 0, 0)


def _proper(boxes: np.ndarray) -> np.ndarray:
  """(T,) whether each predicted box is finite with a positive width and height."""
  wh = boxes_lib.width_height(boxes)
  with np.errstate(invalid='ignore'):
    return np.all(np.isfinite(boxes), axis=-1) & np.all(wh > 0, axis=-1)


def normalized_errors(pred, truth) -> np.ndarray:
  """(T,) the normalised centre error of each frame after the replacements of the module
  docstring: ``inf`` where the truth is absent (or the prediction stays unusable)."""
  pred = np.array(pred, np.float64, copy=True)
  truth = np.asarray(truth, np.float64)
  if pred.shape != truth.shape or pred.ndim != 2 or pred.shape[-1] != 4:
    raise ValueError(f'pred and truth must both be (T, 4) xyxy, got {pred.shape} and '
                     f'{truth.shape}')
  present = ~lost_metrics.absent(truth)
  if len(pred):
    pred[0] = truth[0]
  proper = _proper(pred)
  for t in range(1, len(pred)):
    if present[t] and not proper[t]:
      pred[t], proper[t] = pred[t - 1], proper[t - 1]
  d = np.full(len(pred), np.inf)
  ok = present & proper
  if ok.any():
    wh = boxes_lib.width_height(truth[ok])
    offset = (boxes_lib.centers(pred[ok]) - boxes_lib.centers(truth[ok])) / wh
    d[ok] = np.hypot(offset[:, 0], offset[:, 1])
  return d


def norm_precision(pred, truth) -> NormPrecisionResult:
  """The normalised precision of one sequence: (T, 4) xyxy predicted and true boxes.

  NaN (0 frames, 0 sequences) for a sequence whose truth is withheld or that is empty.
  """
  truth = np.asarray(truth, np.float64)
  d = normalized_errors(pred, truth)
  if not len(d) or lost_metrics.truth_withheld(truth):
    return _empty()
  return _result((d[:, None] <= THRESHOLDS).mean(axis=0), len(d), 1)


def average(results: Sequence[NormPrecisionResult]) -> NormPrecisionResult:
  """The curves averaged over the sequences that have one; the score and AUC of the mean."""
  kept = [r for r in results if r.sequences]
  if not kept:
    return _empty()
  return _result(np.mean([r.curve for r in kept], axis=0), sum(r.frames for r in kept),
                 len(kept))


FAMILY = metric_family.MetricFamily(
    name='norm_precision', protocol='ope',
    sequence=lambda run, truth, options: norm_precision(run.boxes, truth),
    overall=lambda scored, options: average([value for _, _, value in scored]),
    columns=(metric_family.Column('NP', lambda r: r.score),),
    summary=lambda r: f'NP {r.score:.3f}')
