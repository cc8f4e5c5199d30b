"""The evaluation protocols: one tracker on one sequence, timed.

* ``ope`` (one-pass evaluation, `run_ope`): start at the first frame's true box,
  track to the end.
* ``vot`` (reset-based, Re3's evaluation script, `run_vot`): after a failure
  (IoU 0) skip 5 frames and restart from the true box; accuracy leaves out the
  10 frames after each (re)start; robustness ``exp(-30 failures/frames)``.
* ``sre`` (OTB's spatial robustness evaluation, `sre`): 12 one-pass runs per sequence, each
  from a shifted or scaled first box (`run_ope` with ``start_box``), scored as one-pass runs.

Every tracker runs through the same two-method interface (`Tracker`) and is
timed the same way: the wall time of its ``update`` calls only (frames are
decoded before the clock starts), the first frame's ``init`` separately; before
each sequence an untimed warm-up (`warm_up`: init on frame 0, update on frame 1)
keeps JAX compilation and lazy allocations out of the timings.

Confidence scores: a tracker's ``update`` may return `Scored` ``(box, score)`` instead of
a box: the score is its confidence in that box (higher = more confident; any finite float,
no fixed range). The loops record it per frame in `Run.scores` (NaN at start and skipped
frames, and everywhere for a tracker that returns plain boxes: "no score"). A tracker
returns a score at every update or at none: a mix, or a non-finite score, is an error naming
the frame. An optional ``score_kind`` attribute says what the score is (the report shows it).

Absent frames: `Run.absent` marks the frames whose target is absent (no true box: the NaN
rows of OTB-layout and UAV123 files, GOT-10k and LaSOT absence labels;
`lost_metrics.absent`). The one-pass loop tracks through them as through any frame; the
success and precision metrics leave them out, the lost-frame and long-term measures
(`lost_metrics`, `longterm_metrics`) count them.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, NamedTuple, Protocol

import numpy as np

from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import metrics
from re3_jax.evaluation import vot_metrics
from re3_jax.evaluation import results
from re3_jax.datasets import sequences as sequences_lib
from re3_jax.tracking import confidence


class Scored(NamedTuple):
  """What a tracker with a confidence returns from ``update``: its box and its score.

  Attributes:
    box: (4,) xyxy float pixels.
    score: the confidence in `box`, a finite float, higher = more confident.
  """
  box: Any
  score: float


class Tracker(Protocol):
  """What the harness runs: start on a box, then one box per frame (xyxy float pixels), or
  one `Scored` box and confidence per frame."""

  def init(self, frame: np.ndarray, box: np.ndarray) -> None:
    ...

  def update(self, frame: np.ndarray) -> np.ndarray | Scored:
    ...


class ScoreLog:
  """The scores of one run, recorded update by update (`box_of`): NaN where none.

  Raises (from `box_of`): ValueError naming the frame for a `Scored` score that is not a
  finite number, or for a tracker that returned a score at one update and a plain box at
  another.
  """

  def __init__(self, n: int):
    self.scores = np.full(n, np.nan)
    self._first_scored: int | None = None
    self._first_plain: int | None = None

  def box_of(self, t: int, out):
    """The box of ``update``'s return value `out` at frame `t`, its score recorded."""
    if isinstance(out, Scored):
      try:
        score = float(out.score)
      except (TypeError, ValueError):
        score = math.nan
      if not math.isfinite(score):
        raise ValueError(f'frame {t}: the tracker\'s score is {out.score!r}, not a finite number')
      self.scores[t] = score
      if self._first_scored is None:
        self._first_scored = t
      box = out.box
    else:
      if self._first_plain is None:
        self._first_plain = t
      box = out
    if self._first_scored is not None and self._first_plain is not None:
      raise ValueError(f'the tracker returned a score at frame {self._first_scored} but none at '
                       f'frame {self._first_plain}: a tracker returns Scored(box, score) from '
                       'every update or from none')
    return box


class Re3SingleTracker:
  """`re3_jax.tracking.tracker.Re3Tracker` with one object, behind the `Tracker` interface.

  `init` (re)starts the object from a box (a restart reuses the track's slot,
  so nothing recompiles); `update` tracks it into the next frame and returns ``Scored(box,
  score)``, the tracker's confidence (`re3_jax.tracking.confidence`), or the plain box for a
  model without one (the report then says "no score").
  """

  score_kind = 'appearance: cosine of the first-frame target with the box (re3_jax confidence)'

  def __init__(self, tracker, track_id: str = 'object'):
    self.tracker = tracker
    self.track_id = track_id
    self.scored = confidence.available(tracker.config)

  def init(self, frame, box) -> None:
    self.tracker.track(self.track_id, frame, box)

  def update(self, frame):
    if not self.scored:
      return self.tracker.track(self.track_id, frame)
    box, score = self.tracker.track(self.track_id, frame, with_score=True)
    return Scored(box, score)


class Run(NamedTuple):
  """One tracker on one sequence.

  Attributes:
    boxes: (T, 4) float32 xyxy boxes as written (NaN where nothing was predicted).
    kinds: (T,) `vot_metrics.FrameKind` per frame.
    ious: (T,) IoU with the truth (`metrics.iou`; NaN where truth is missing).
    failures: (T,) bool, the reset-based loop's failures (all False for OPE).
    frame_times: (T,) seconds of the tracker call at each frame (init at
      starts, update at tracked frames, NaN at skipped frames).
    scores: (T,) float64, the tracker's confidence at each tracked frame (`Scored`); NaN at
      start and skipped frames, and at every frame for a tracker without a score.
    absent: (T,) bool, the frames whose target is absent (`lost_metrics.absent`: no true box).
  """
  boxes: np.ndarray
  kinds: np.ndarray
  ious: np.ndarray
  failures: np.ndarray
  frame_times: np.ndarray
  scores: np.ndarray
  absent: np.ndarray

  @property
  def has_score(self) -> bool:
    """Whether the tracker gave a score (at every update, `ScoreLog`)."""
    return bool(np.isfinite(self.scores).any())

  @property
  def init_times(self) -> np.ndarray:
    return self.frame_times[self.kinds == vot_metrics.FrameKind.START]

  @property
  def update_times(self) -> np.ndarray:
    return self.frame_times[self.kinds == vot_metrics.FrameKind.TRACKED]


def first_truth(seq: sequences_lib.SequenceFiles) -> int:
  """The first frame with a true box: where the trackers start."""
  valid = np.flatnonzero(metrics.valid_truth(seq.boxes))
  if not len(valid):
    raise sequences_lib.SequenceError(f'sequence {seq.name} has no true box to start from')
  return int(valid[0])


def warm_up(tracker: Tracker, seq: sequences_lib.SequenceFiles) -> None:
  """An untimed init and update on the sequence's first frames (compilation, allocation)."""
  start = first_truth(seq)
  frame = seq.read(start)
  tracker.init(frame, seq.boxes[start])
  tracker.update(seq.read(start + 1) if start + 1 < len(seq) else frame)


def run_ope(tracker: Tracker, seq: sequences_lib.SequenceFiles,
            on_frame: Callable[[int, int], None] | None = None,
            start_box: np.ndarray | None = None) -> Run:
  """One-pass evaluation: start at the first true box, then one update per frame.

  Frames before the first frame with a true box are skipped (NaN boxes).
  `on_frame(done, total)`, if given, is called after each frame (progress).
  `start_box`, if given, is the xyxy box the tracker starts from instead of the true one
  (an SRE start, `sre.start_box`), and the box written at the start frame.
  """
  start = first_truth(seq)
  n = len(seq)
  boxes = np.full((n, 4), np.nan, np.float32)
  kinds = np.zeros(n, np.int8)
  times = np.full(n, np.nan)
  scores = ScoreLog(n)
  for t in range(start, n):
    frame = seq.read(t)
    if t == start:
      t0 = time.perf_counter()
      first = seq.boxes[t] if start_box is None else start_box
      tracker.init(frame, first)
      times[t] = time.perf_counter() - t0
      box, kinds[t] = first, vot_metrics.FrameKind.START
    else:
      t0 = time.perf_counter()
      out = tracker.update(frame)
      times[t] = time.perf_counter() - t0
      box, kinds[t] = scores.box_of(t, out), vot_metrics.FrameKind.TRACKED
    boxes[t] = results.as_written(box)
    if on_frame is not None:
      on_frame(t - start + 1, n - start)
  return Run(boxes, kinds, metrics.iou(boxes, seq.boxes), np.zeros(n, bool), times,
             scores.scores, lost_metrics.absent(seq.boxes))


def run_vot(tracker: Tracker, seq: sequences_lib.SequenceFiles, *,
            burn_in: int = vot_metrics.VOT_BURN_IN, restart_gap: int = vot_metrics.VOT_RESTART_GAP,
            burn_in_at_start: bool = True,
            on_frame: Callable[[int, int], None] | None = None) -> Run:
  """Reset-based evaluation, the loop of Re3's evaluation script (reference section 8).

  Start from the first true box. At each frame outside the burn-in (see
  `vot_metrics.vot_scored`) with a true box, an IoU of 0 is a failure: the next
  `restart_gap` frames are skipped and the tracker restarts from the true box
  on the frame after (failure at t, restart at t + restart_gap + 1, or at the
  first later frame with a true box). Inside the burn-in nothing is checked.
  Score the run with ``vot_metrics.vot(run.ious, run.kinds, burn_in, burn_in_at_start)``.

  Args:
    tracker: the tracker.
    seq: the sequence.
    burn_in: frames after each (re)start, the start included, that are
      neither scored nor checked for failure.
    restart_gap: frames skipped after a failure.
    burn_in_at_start: whether the first start has a burn-in too (Re3's
      original script: no).
    on_frame: ``on_frame(done, total)`` after each frame tracked (progress).
  """
  n = len(seq)
  valid = metrics.valid_truth(seq.boxes)
  boxes = np.full((n, 4), np.nan, np.float32)
  kinds = np.zeros(n, np.int8)
  ious = np.full(n, np.nan)
  failures = np.zeros(n, bool)
  times = np.full(n, np.nan)
  scores = ScoreLog(n)
  resume_at, last_start, starts = 0, None, 0
  for t in range(n):
    if t < resume_at or (last_start is None and not valid[t]):
      continue  # skipped: after a failure, or no true box to (re)start from yet
    frame = seq.read(t)
    t0 = time.perf_counter()
    if last_start is None:
      tracker.init(frame, seq.boxes[t])
      times[t] = time.perf_counter() - t0
      box, kinds[t], last_start, starts = seq.boxes[t], vot_metrics.FrameKind.START, t, starts + 1
    else:
      out = tracker.update(frame)
      times[t] = time.perf_counter() - t0
      box, kinds[t] = scores.box_of(t, out), vot_metrics.FrameKind.TRACKED
    boxes[t] = results.as_written(box)
    ious[t] = metrics.iou(boxes[t], seq.boxes[t])
    scored = t - last_start >= burn_in or (starts == 1 and not burn_in_at_start)
    if scored and valid[t] and ious[t] <= 0:
      failures[t] = True
      resume_at, last_start = t + restart_gap + 1, None
    if on_frame is not None:
      on_frame(t + 1, n)
  return Run(boxes, kinds, ious, failures, times, scores.scores, lost_metrics.absent(seq.boxes))
