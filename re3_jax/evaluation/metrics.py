"""Tracking metrics: OTB success/precision, GOT-10k AO/SR (Re3's reset-based VOT:
`re3_jax.evaluation.vot_metrics`).

Pure NumPy on the host; the definitions are those of reference section 10 (and
section 8 for Re3's robustness). Tracker loops (one-pass and reset-based) live
in `re3_jax.evaluate`; this module only scores boxes.

Boxes are re3_jax's one convention (see `re3_jax.core.boxes`): xyxy, continuous
0-based pixels, no ``+1`` in IoU. Converting from or to the benchmarks' 1-based
``x, y, w, h`` is `boxes.from_otb` / `boxes.to_otb`.

How odd boxes count (the same everywhere in this module):

* Missing truth: a true box with a non-finite value or a width or height
  ``<= 0`` (object absent, not annotated, or a VID frame where it is not
  visible) leaves its frame out of every metric: IoU and centre error are NaN
  there, and curves, means and counts skip NaN frames.
* No prediction: a predicted box with a non-finite value (a tracker that gave
  no box) is a miss: IoU 0 and centre error ``inf``, so it fails every success
  and precision threshold and is a VOT failure (`vot_metrics`).
* Degenerate predictions: a predicted box with zero or negative width or height
  has zero area (`boxes.area`), so its IoU is 0; its centre is still defined,
  so its centre error is finite. Boxes whose area overflows float64
  (coordinates beyond about 1e150) score IoU 0.
* A sequence with no scored frame has NaN curves and scores; averages over
  sequences skip it (all NaN if no sequence has a scored frame).

Centre error follows OTB, whose centre of a 1-based ``x, y, w, h`` box is
``x + (w - 1) / 2``. For an xyxy box that is ``(x1 + 1) + (x2 - x1 - 1) / 2 =
(x1 + x2) / 2 + 1/2``: the xyxy centre plus half a pixel on both boxes, which
cancels in the distance. So the centre error here is the distance between
`boxes.centers`, equal to OTB's (and to `got10k.utils.metrics.center_error` on
`boxes.to_otb` boxes, which the tests check).

Differences from the got10k toolkit (``got10k.utils.metrics``), which agrees
with this module on proper boxes (tests/test_metrics.py): it scores a frame
whose true box has zero size as IoU 0 (left out here), gives NaN (not 0) for
a NaN prediction (which fails every threshold there too), gives a box with
negative width and height a positive area (0 here), adds ``eps`` to the
union, and for GOT-10k clips both boxes to the image first (not done here).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib

# OTB success thresholds on IoU: 0, 0.05, ..., 1 (as np.linspace, like the OTB
# and got10k code, so that IoUs equal to a threshold compare the same way).
SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
# OTB precision thresholds on the centre error: 0, 1, ..., 50 pixels.
PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64)
# The precision score is the precision curve at this many pixels (P@20).
PRECISION_PIXELS = 20
# GOT-10k success rates: fraction of frames with IoU strictly above these.
SR_THRESHOLDS = (0.5, 0.75)


def _as_boxes(x, name: str) -> np.ndarray:
  arr = np.asarray(x, dtype=np.float64)
  if arr.ndim < 1 or arr.shape[-1] != 4:
    raise ValueError(f'{name} must have shape (..., 4) (x1, y1, x2, y2), got {arr.shape}')
  return arr


def valid_truth(truth) -> np.ndarray:
  """Which true boxes are proper boxes (finite, width and height > 0).

  Args:
    truth: (..., 4) xyxy true boxes.

  Returns:
    (...) bool; False marks a frame left out of every metric.
  """
  truth = _as_boxes(truth, 'truth')
  wh = boxes_lib.width_height(truth)
  with np.errstate(invalid='ignore'):
    return np.all(np.isfinite(truth), axis=-1) & np.all(wh > 0, axis=-1)


def iou(pred, truth) -> np.ndarray:
  """Per-frame IoU of predicted and true boxes (no ``+1``, see `boxes.iou`).

  Args:
    pred: (..., 4) xyxy predicted boxes.
    truth: (..., 4) xyxy true boxes, broadcastable with `pred`.

  Returns:
    (...) float64 IoU in [0, 1]: 0 where the prediction is non-finite or
    degenerate, NaN where the truth is missing (see the module docstring).
  """
  pred, truth = _as_boxes(pred, 'pred'), _as_boxes(truth, 'truth')
  finite_pred = np.all(np.isfinite(pred), axis=-1)
  with np.errstate(invalid='ignore', over='ignore'):
    out = boxes_lib.iou(np.where(finite_pred[..., None], pred, 0.0),
                        np.where(valid_truth(truth)[..., None], truth, 0.0))
  # Areas that overflow float64 give 0 or, as a guard, a non-finite value: a miss either way.
  out = np.where(finite_pred & np.isfinite(out), np.clip(out, 0.0, 1.0), 0.0)
  return np.where(valid_truth(truth), out, np.nan)


def center_error(pred, truth) -> np.ndarray:
  """Per-frame distance in pixels between box centres (OTB; see the module docstring).

  Args:
    pred: (..., 4) xyxy predicted boxes.
    truth: (..., 4) xyxy true boxes, broadcastable with `pred`.

  Returns:
    (...) float64 distances: ``inf`` where the prediction is non-finite, NaN
    where the truth is missing.
  """
  pred, truth = _as_boxes(pred, 'pred'), _as_boxes(truth, 'truth')
  finite_pred = np.all(np.isfinite(pred), axis=-1)
  with np.errstate(invalid='ignore', over='ignore'):
    d = boxes_lib.centers(pred) - boxes_lib.centers(truth)
    err = np.hypot(d[..., 0], d[..., 1])
  err = np.where(finite_pred, err, np.inf)
  return np.where(valid_truth(truth), err, np.nan)


def _curve(values: np.ndarray, thresholds: np.ndarray, above: bool) -> np.ndarray:
  values = np.asarray(values, np.float64).reshape(-1)
  values = values[~np.isnan(values)]
  if not len(values):
    return np.full(thresholds.shape, np.nan)
  hits = values[:, None] > thresholds if above else values[:, None] <= thresholds
  return hits.mean(axis=0)


def success_curve(ious) -> np.ndarray:
  """OTB success curve: the fraction of frames with IoU strictly above each threshold.

  Args:
    ious: (N,) per-frame IoUs; NaN frames are left out.

  Returns:
    (21,) float64 success at `SUCCESS_THRESHOLDS`; all NaN if no frame is left.
  """
  return _curve(ious, SUCCESS_THRESHOLDS, above=True)


def precision_curve(errors) -> np.ndarray:
  """OTB precision curve: the fraction of frames with centre error ``<=`` each threshold.

  Args:
    errors: (N,) per-frame centre errors in pixels; NaN frames are left out.

  Returns:
    (51,) float64 precision at `PRECISION_THRESHOLDS` (0..50 px); all NaN if
    no frame is left.
  """
  return _curve(errors, PRECISION_THRESHOLDS, above=False)


class OPEResult(NamedTuple):
  """OTB one-pass evaluation of one sequence, or the average over sequences.

  Attributes:
    success_curve: (21,) success at `SUCCESS_THRESHOLDS`.
    precision_curve: (51,) precision at `PRECISION_THRESHOLDS`.
    success_score: the mean of `success_curve` (the "AUC").
    precision_score: `precision_curve` at `PRECISION_PIXELS` (P@20).
    frames: scored frames (summed over sequences for an average).
    sequences: sequences averaged (1 for one sequence; those with frames).
  """
  success_curve: np.ndarray
  precision_curve: np.ndarray
  success_score: float
  precision_score: float
  frames: int
  sequences: int


def _ope_from_curves(succ, prec, frames, sequences) -> OPEResult:
  return OPEResult(succ, prec, float(np.mean(succ)), float(prec[PRECISION_PIXELS]), int(frames),
                   int(sequences))


def ope(pred, truth) -> OPEResult:
  """OTB one-pass evaluation of one sequence: every frame with a true box is scored.

  As in the OTB toolkit, the first frame counts too (a tracker started there
  returns its true box, IoU 1); frames with missing truth are left out. A
  sequence with no true box after its first frame (a GOT-10k test sequence,
  whose truth is withheld) has nothing to score: NaN curves, 0 frames.

  Args:
    pred: (T, 4) xyxy predicted boxes.
    truth: (T, 4) xyxy true boxes.

  Returns:
    The sequence's `OPEResult` (NaN curves if no frame has a true box).
  """
  pred, truth = _as_boxes(pred, 'pred'), _as_boxes(truth, 'truth')
  if pred.shape != truth.shape or pred.ndim != 2:
    raise ValueError(f'pred and truth must both be (T, 4), got {pred.shape} and {truth.shape}')
  ious, errors = iou(pred, truth), center_error(pred, truth)
  if np.isnan(ious[1:]).all():  # only the given first box: nothing to score, in either curve
    ious, errors = np.full_like(ious, np.nan), np.full_like(errors, np.nan)
  frames = int(np.sum(~np.isnan(ious)))
  return _ope_from_curves(success_curve(ious), precision_curve(errors), frames, int(frames > 0))


def ope_average(results: Sequence[OPEResult]) -> OPEResult:
  """The OTB overall result: curves averaged over sequences, scores from the mean curves.

  Args:
    results: per-sequence `OPEResult`s; those without scored frames are skipped.

  Returns:
    The average (NaN curves if no sequence has a scored frame).
  """
  kept = [r for r in results if r.frames > 0]
  if not kept:
    return _ope_from_curves(np.full(SUCCESS_THRESHOLDS.shape, np.nan),
                            np.full(PRECISION_THRESHOLDS.shape, np.nan), 0, 0)
  succ = np.mean([r.success_curve for r in kept], axis=0)
  prec = np.mean([r.precision_curve for r in kept], axis=0)
  return _ope_from_curves(succ, prec, sum(r.frames for r in kept), len(kept))


class GOT10kResult(NamedTuple):
  """GOT-10k metrics of one sequence or pooled over sequences.

  Attributes:
    ao: average overlap, the mean IoU over the scored frames.
    sr50: fraction of scored frames with IoU > 0.5.
    sr75: fraction of scored frames with IoU > 0.75.
    frames: scored frames (all but each sequence's first, minus missing truth).
  """
  ao: float
  sr50: float
  sr75: float
  frames: int


def got10k_ious(pred, truth) -> np.ndarray:
  """The IoUs GOT-10k scores for one sequence: frames 1.. with a true box.

  Args:
    pred: (T, 4) xyxy predicted boxes.
    truth: (T, 4) xyxy true boxes.

  Returns:
    (N,) float64 IoUs, N <= T - 1.
  """
  pred, truth = _as_boxes(pred, 'pred'), _as_boxes(truth, 'truth')
  if pred.shape != truth.shape or pred.ndim != 2:
    raise ValueError(f'pred and truth must both be (T, 4), got {pred.shape} and {truth.shape}')
  ious = iou(pred[1:], truth[1:])
  return ious[~np.isnan(ious)]


def _got10k_from_ious(ious: np.ndarray) -> GOT10kResult:
  if not len(ious):
    return GOT10kResult(np.nan, np.nan, np.nan, 0)
  sr50, sr75 = (float(np.mean(ious > t)) for t in SR_THRESHOLDS)
  return GOT10kResult(float(np.mean(ious)), sr50, sr75, len(ious))


def got10k(pred, truth) -> GOT10kResult:
  """GOT-10k AO, SR0.5 and SR0.75 of one sequence (first frame excluded).

  Boxes are not clipped to the image (the GOT-10k toolkit clips both boxes to
  the image first, which changes IoUs only for boxes that cross the border).

  Args:
    pred: (T, 4) xyxy predicted boxes.
    truth: (T, 4) xyxy true boxes.

  Returns:
    The `GOT10kResult` (NaN metrics if no frame is scored).
  """
  return _got10k_from_ious(got10k_ious(pred, truth))


def got10k_pooled(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> GOT10kResult:
  """GOT-10k overall metrics: frames pooled across sequences (not a mean of means).

  Args:
    preds: per sequence, (T_i, 4) xyxy predicted boxes.
    truths: per sequence, (T_i, 4) xyxy true boxes.

  Returns:
    The pooled `GOT10kResult`.
  """
  if len(preds) != len(truths):
    raise ValueError(f'{len(preds)} predictions for {len(truths)} sequences')
  ious = [got10k_ious(p, t) for p, t in zip(preds, truths)]
  return _got10k_from_ious(np.concatenate(ious) if ious else np.zeros(0))
