"""Re3's reset-based VOT metrics: accuracy, robustness and their average (reference
section 8), from the per-frame IoUs (`metrics.iou`) and what the reset-based loop
(`protocols.run_vot`) did at each frame. Pure NumPy on the host; odd boxes count as in
`re3_jax.evaluation.metrics` (a frame without truth is left out, a missing prediction
has IoU 0, so it is a failure).
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Sequence

import numpy as np

# Reset-based VOT (Re3's evaluation script, reference section 8).
VOT_BURN_IN = 10
VOT_RESTART_GAP = 5
VOT_ROBUSTNESS_SCALE = 30.0


class FrameKind(enum.IntEnum):
  """What the reset-based VOT loop did at a frame."""
  SKIPPED = 0  # not tracked: after a failure, before the restart (or no truth to start from)
  START = 1  # the tracker was (re)started from the true box
  TRACKED = 2  # the tracker predicted a box


class VOTResult(NamedTuple):
  """Reset-based VOT metrics (Re3's evaluation) of one sequence or pooled.

  Attributes:
    accuracy: mean IoU over the scored frames.
    robustness: ``exp(-30 * failures / frames)``.
    average: ``(accuracy + robustness) / 2``.
    failures: scored frames with IoU 0 (each one led to a restart).
    frames: scored frames: tracked or started frames with a true box, outside
      the burn-in after a (re)start.
    iou_sum: the sum of the scored IoUs (for pooling).
  """
  accuracy: float
  robustness: float
  average: float
  failures: int
  frames: int
  iou_sum: float


def vot_scored(kinds, burn_in: int = VOT_BURN_IN, burn_in_at_start: bool = True) -> np.ndarray:
  """Which frames of a reset-based run are outside the burn-in (before truth is checked).

  A frame is outside the burn-in if it was started or tracked and at least
  `burn_in` frames have passed since the last (re)start (the start frame
  itself is the burn-in's first frame). With ``burn_in_at_start=False`` the
  frames before the first restart count from the first start, as in Re3's
  original script (which scores even the starting frame, IoU 1).

  Args:
    kinds: (T,) `FrameKind` values.
    burn_in: frames left out after each (re)start.
    burn_in_at_start: whether the first start has a burn-in too.

  Returns:
    (T,) bool.
  """
  kinds = np.asarray(kinds).reshape(-1)
  bad = ~np.isin(kinds, [k.value for k in FrameKind])
  if bad.any():
    raise ValueError(f'frame kinds must be 0 (skipped), 1 (start) or 2 (tracked); frame '
                     f'{int(np.flatnonzero(bad)[0])} is {kinds[bad][0].item()!r}')
  out = np.zeros(kinds.shape, bool)
  last_start, starts = None, 0
  for t, kind in enumerate(kinds):
    if kind == FrameKind.START:
      last_start, starts = t, starts + 1
    if kind == FrameKind.SKIPPED:
      continue
    if last_start is None:
      raise ValueError(f'frame {t} is tracked before any start')
    out[t] = t - last_start >= burn_in or (starts == 1 and not burn_in_at_start)
  return out


def _vot_from_sums(iou_sum: float, failures: int, frames: int) -> VOTResult:
  if frames == 0:
    return VOTResult(np.nan, np.nan, np.nan, int(failures), 0, 0.0)
  accuracy = iou_sum / frames
  robustness = float(np.exp(-VOT_ROBUSTNESS_SCALE * failures / frames))
  return VOTResult(float(accuracy), robustness, float((accuracy + robustness) / 2),
                   int(failures), int(frames), float(iou_sum))


def vot(ious, kinds, burn_in: int = VOT_BURN_IN, burn_in_at_start: bool = True) -> VOTResult:
  """Reset-based VOT metrics of one run (see `protocols.run_vot` for the loop).

  A scored frame (see `vot_scored`) with a true box contributes its IoU to the
  accuracy; one with IoU 0 is a failure. Robustness is Re3's
  ``exp(-30 * failures / frames)`` over the scored frames.

  Args:
    ious: (T,) per-frame IoUs (`metrics.iou`), NaN where the truth is missing; values
      at skipped frames are ignored.
    kinds: (T,) `FrameKind` values of the run.
    burn_in: frames left out after each (re)start.
    burn_in_at_start: whether the first start has a burn-in too.

  Returns:
    The run's `VOTResult` (NaN metrics if no frame was scored).
  """
  ious = np.asarray(ious, np.float64).reshape(-1)
  kinds = np.asarray(kinds).reshape(-1)
  if ious.shape != kinds.shape:
    raise ValueError(f'ious {ious.shape} and kinds {kinds.shape} differ in length')
  scored = vot_scored(kinds, burn_in, burn_in_at_start) & ~np.isnan(ious)
  return _vot_from_sums(float(ious[scored].sum()), int(np.sum(ious[scored] <= 0)),
                        int(scored.sum()))


def vot_pooled(results: Sequence[VOTResult]) -> VOTResult:
  """VOT metrics pooled over runs: frames, failures and IoUs summed, as in Re3's script.

  Args:
    results: per-sequence `VOTResult`s.

  Returns:
    The pooled `VOTResult`.
  """
  return _vot_from_sums(sum(r.iou_sum for r in results), sum(r.failures for r in results),
                        sum(r.frames for r in results))
