r"""Evaluates trackers on OTB, VOT, GOT-10k or ImageNet VID sequences, all in one harness.

  python -m re3_jax.evaluate --checkpoint=DIR --dataset=otb:ROOT \
      --tracker=re3 --tracker=opencv_csrt --protocol=ope,vot --out=DIR

Trackers: ``re3`` (`re3_jax.tracking.tracker.Re3Tracker`, from ``--checkpoint``; without
one, ``--config=tiny|small|paper`` gives random weights, with a warning: they
do not track, the numbers only exercise the harness; with neither it refuses),
and the OpenCV baselines of `re3_jax.evaluation.baselines` (``opencv_csrt``,
``opencv_kcf``, ``opencv_mil``). All run through the same two-method interface
(`Tracker`) and the same loops:

* ``ope`` (one-pass evaluation): start at the first frame's true box, track to
  the end. Scored with OTB success/precision and GOT-10k AO/SR (`re3_jax.evaluation.metrics`).
* ``vot`` (reset-based, Re3's evaluation script, `run_vot`): after a failure
  (IoU 0) skip 5 frames and restart from the true box; accuracy leaves out
  the 10 frames after each (re)start; robustness ``exp(-30 failures/frames)``.

Speed is measured the same way for every tracker: the wall time of its
``update`` calls only (frames are decoded before the clock starts), the first
frame's ``init`` timed separately. Before each sequence every tracker gets one
untimed warm-up (init on frame 0, update on frame 1), so JAX compilation and
lazy allocations are not timed. Reported: frames/s = updates / total update
time, the median update time, and the mean init time.

Outputs in ``--out``:

* ``results.json``: per tracker and protocol, per-sequence and overall metrics
  and timings (NaN written as null), plus the run's settings.
* ``TRACKER/otb/NAME.txt``: the OPE boxes, one ``x,y,w,h`` line per frame
  (OTB's 1-based convention, 3 decimals).
* ``TRACKER/got10k/NAME/NAME_001.txt`` (the same boxes) and
  ``NAME_time.txt`` (seconds per frame: the init, then each update), GOT-10k's
  result layout.
* ``TRACKER/vot/NAME/NAME_001.txt`` and ``NAME_time.txt``: the reset-based run
  in the VOT toolkit's codes: ``1`` a (re)start, ``2`` a failure, ``0`` a
  skipped frame, else the box (``x,y,w,h``).
* ``success.png`` and ``precision.png``: the overall OPE curves, one per tracker.
* with ``--video``: ``videos/NAME.mp4`` (GIF if OpenCV cannot write mp4), the
  true box (green) and each tracker's OPE box.

Metrics are computed from the boxes as written (rounded to 3 decimals), so
reading the result files back gives the JSON's numbers exactly. Sequence names
with ``/`` (VID tracks) use ``.`` in file names.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pathlib
import platform
import sys
import time
from typing import Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import baselines
from re3_jax.evaluation import metrics
from re3_jax.media import sequences as sequences_lib
from re3_jax.media import video

TRACKERS = ('re3',) + tuple(baselines.OPENCV_TRACKERS)
PROTOCOLS = ('ope', 'vot')
_GREEN = (0, 255, 0)


class Tracker(Protocol):
  """What the harness runs: start on a box, then one box per frame (xyxy float pixels)."""

  def init(self, frame: np.ndarray, box: np.ndarray) -> None:
    ...

  def update(self, frame: np.ndarray) -> np.ndarray:
    ...


class Re3SingleTracker:
  """`re3_jax.tracking.tracker.Re3Tracker` with one object, behind the `Tracker` interface.

  `init` (re)starts the object from a box (a restart reuses the track's slot,
  so nothing recompiles); `update` tracks it into the next frame.
  """

  def __init__(self, tracker, track_id: str = 'object'):
    self.tracker = tracker
    self.track_id = track_id

  def init(self, frame, box) -> None:
    self.tracker.track(self.track_id, frame, box)

  def update(self, frame) -> np.ndarray:
    return self.tracker.track(self.track_id, frame)


def make_tracker(name: str, checkpoint: str | None = None, config: str | None = None,
                 seed: int = 0) -> tuple[Tracker, str]:
  """A tracker by harness name, and a line describing it (weights, OpenCV version).

  Args:
    name: one of `TRACKERS`.
    checkpoint: for ``re3``: a checkpoint directory (`re3_jax.model.checkpoints`).
    config: for ``re3`` without a checkpoint: a model config name; random weights.
    seed: the random weights' seed.

  Raises:
    ValueError: an unknown name, or ``re3`` with neither checkpoint nor config.
  """
  if name == 're3':
    from re3_jax.tracking import tracker as tracker_lib  # pylint: disable=g-import-not-at-top
    import jax  # pylint: disable=g-import-not-at-top
    if not (checkpoint or config):
      raise ValueError('--tracker=re3 needs --checkpoint=DIR, or --config=tiny|small|paper for '
                       'random weights (which do not track: a smoke test of the harness)')
    tracker = tracker_lib.load_tracker(checkpoint, None if checkpoint else config, seed=seed)
    if checkpoint:
      what = f'checkpoint {pathlib.Path(checkpoint).absolute()} (model {tracker.config.name})'
    else:
      what = f'RANDOM weights, model {config}, seed {seed}'
    return Re3SingleTracker(tracker), f're3: {what}, JAX {jax.default_backend()}'
  if name in baselines.OPENCV_TRACKERS:
    import cv2  # pylint: disable=g-import-not-at-top
    return baselines.OpenCVTracker(name), f'{name}: OpenCV {cv2.__version__}'
  raise ValueError(f'unknown tracker {name!r}; known: {", ".join(TRACKERS)}')


# ----------------------------------------------------------------------------
# Result files.


def file_name(sequence: str) -> str:
  """A sequence name as a file name (VID's ``video/trackid`` -> ``video.trackid``)."""
  return sequence.replace('/', '.')


def format_box(box) -> str:
  """An xyxy box as an OTB ``x,y,w,h`` line (1-based, 3 decimals; ``nan`` values kept)."""
  return ','.join(f'{v:.3f}' for v in np.asarray(boxes_lib.to_otb(np.asarray(box, np.float64))))


def parse_box(line: str, where: str = '') -> np.ndarray:
  """An OTB ``x,y,w,h`` line -> (4,) float32 xyxy (see `boxes.from_otb`)."""
  try:
    values = [float(v) for v in line.replace('\t', ',').replace(' ', ',').split(',') if v]
  except ValueError:
    raise ValueError(f'{where}: not numbers: {line!r}') from None
  if len(values) != 4:
    raise ValueError(f'{where}: expected x,y,w,h, got {line!r}')
  return np.asarray(boxes_lib.from_otb(np.asarray(values, np.float64)), np.float32)


def as_written(boxes) -> np.ndarray:
  """(..., 4) xyxy boxes as they read back from a result file (float32, 3 decimals in OTB)."""
  boxes = np.asarray(boxes, np.float64)
  flat = [parse_box(format_box(b)) for b in boxes.reshape(-1, 4)]
  return np.stack(flat).reshape(boxes.shape).astype(np.float32) if flat else boxes.astype(
      np.float32)


def write_boxes(path: pathlib.Path, boxes) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(''.join(format_box(b) + '\n' for b in boxes))


def read_boxes(path: str | pathlib.Path) -> np.ndarray:
  """An OTB/GOT-10k result file -> (T, 4) float32 xyxy."""
  path = pathlib.Path(path)
  lines = [l for l in path.read_text().splitlines() if l.strip()]
  return np.stack([parse_box(l, f'{path}:{i + 1}') for i, l in enumerate(lines)])


def _vot_line(kind: int, failure: bool, box) -> str:
  if kind == metrics.FrameKind.SKIPPED:
    return '0'
  if kind == metrics.FrameKind.START:
    return '1'
  return '2' if failure else format_box(box)


def read_vot_results(path: str | pathlib.Path, truth) -> tuple[np.ndarray, np.ndarray]:
  """A reset-based result file -> ((T, 4) xyxy boxes, (T,) `metrics.FrameKind`).

  Start frames get their true box, failure frames (``2``) and skipped frames
  NaN boxes (a failure's IoU is 0 by definition: NaN predictions score 0).
  """
  path = pathlib.Path(path)
  truth = np.asarray(truth, np.float32)
  lines = [l.strip() for l in path.read_text().splitlines() if l.strip()]
  if len(lines) != len(truth):
    raise ValueError(f'{path}: {len(lines)} lines for {len(truth)} frames')
  boxes = np.full((len(lines), 4), np.nan, np.float32)
  kinds = np.zeros(len(lines), np.int8)
  for i, line in enumerate(lines):
    if line == '0':
      kinds[i] = metrics.FrameKind.SKIPPED
    elif line == '1':
      kinds[i], boxes[i] = metrics.FrameKind.START, truth[i]
    elif line == '2':
      kinds[i] = metrics.FrameKind.TRACKED
    else:
      kinds[i], boxes[i] = metrics.FrameKind.TRACKED, parse_box(line, f'{path}:{i + 1}')
  return boxes, kinds


def _write_times(path: pathlib.Path, times) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(''.join(f'{t:.8f}\n' for t in times))


# ----------------------------------------------------------------------------
# Tracking loops.


class Run(NamedTuple):
  """One tracker on one sequence.

  Attributes:
    boxes: (T, 4) float32 xyxy boxes as written (NaN where nothing was predicted).
    kinds: (T,) `metrics.FrameKind` per frame.
    ious: (T,) IoU with the truth (`metrics.iou`; NaN where truth is missing).
    failures: (T,) bool, the reset-based loop's failures (all False for OPE).
    frame_times: (T,) seconds of the tracker call at each frame (init at
      starts, update at tracked frames, NaN at skipped frames).
  """
  boxes: np.ndarray
  kinds: np.ndarray
  ious: np.ndarray
  failures: np.ndarray
  frame_times: np.ndarray

  @property
  def init_times(self) -> np.ndarray:
    return self.frame_times[self.kinds == metrics.FrameKind.START]

  @property
  def update_times(self) -> np.ndarray:
    return self.frame_times[self.kinds == metrics.FrameKind.TRACKED]


def _first_truth(seq: sequences_lib.SequenceFiles) -> int:
  valid = np.flatnonzero(metrics.valid_truth(seq.boxes))
  if not len(valid):
    raise sequences_lib.SequenceError(f'sequence {seq.name} has no true box to start from')
  return int(valid[0])


def warm_up(tracker: Tracker, seq: sequences_lib.SequenceFiles) -> None:
  """An untimed init and update on the sequence's first frames (compilation, allocation)."""
  start = _first_truth(seq)
  frame = seq.read(start)
  tracker.init(frame, seq.boxes[start])
  tracker.update(seq.read(start + 1) if start + 1 < len(seq) else frame)


def run_ope(tracker: Tracker, seq: sequences_lib.SequenceFiles) -> Run:
  """One-pass evaluation: start at the first true box, then one update per frame.

  Frames before the first frame with a true box are skipped (NaN boxes).
  """
  start = _first_truth(seq)
  n = len(seq)
  boxes = np.full((n, 4), np.nan, np.float32)
  kinds = np.zeros(n, np.int8)
  times = np.full(n, np.nan)
  for t in range(start, n):
    frame = seq.read(t)
    if t == start:
      t0 = time.perf_counter()
      tracker.init(frame, seq.boxes[t])
      times[t] = time.perf_counter() - t0
      box, kinds[t] = seq.boxes[t], metrics.FrameKind.START
    else:
      t0 = time.perf_counter()
      box = tracker.update(frame)
      times[t] = time.perf_counter() - t0
      kinds[t] = metrics.FrameKind.TRACKED
    boxes[t] = as_written(box)
  return Run(boxes, kinds, metrics.iou(boxes, seq.boxes), np.zeros(n, bool), times)


def run_vot(tracker: Tracker, seq: sequences_lib.SequenceFiles, *,
            burn_in: int = metrics.VOT_BURN_IN, restart_gap: int = metrics.VOT_RESTART_GAP,
            burn_in_at_start: bool = True) -> Run:
  """Reset-based evaluation, the loop of Re3's evaluation script (reference section 8).

  Start from the first true box. At each frame outside the burn-in (see
  `metrics.vot_scored`) with a true box, an IoU of 0 is a failure: the next
  `restart_gap` frames are skipped and the tracker restarts from the true box
  on the frame after (failure at t, restart at t + restart_gap + 1, or at the
  first later frame with a true box). Inside the burn-in nothing is checked.
  Score the run with ``metrics.vot(run.ious, run.kinds, burn_in, burn_in_at_start)``.

  Args:
    tracker: the tracker.
    seq: the sequence.
    burn_in: frames after each (re)start, the start included, that are
      neither scored nor checked for failure.
    restart_gap: frames skipped after a failure.
    burn_in_at_start: whether the first start has a burn-in too (Re3's
      original script: no).
  """
  n = len(seq)
  valid = metrics.valid_truth(seq.boxes)
  boxes = np.full((n, 4), np.nan, np.float32)
  kinds = np.zeros(n, np.int8)
  ious = np.full(n, np.nan)
  failures = np.zeros(n, bool)
  times = np.full(n, np.nan)
  resume_at, last_start, starts = 0, None, 0
  for t in range(n):
    if t < resume_at or (last_start is None and not valid[t]):
      continue  # skipped: after a failure, or no true box to (re)start from yet
    frame = seq.read(t)
    t0 = time.perf_counter()
    if last_start is None:
      tracker.init(frame, seq.boxes[t])
      times[t] = time.perf_counter() - t0
      box, kinds[t], last_start, starts = seq.boxes[t], metrics.FrameKind.START, t, starts + 1
    else:
      box = tracker.update(frame)
      times[t] = time.perf_counter() - t0
      kinds[t] = metrics.FrameKind.TRACKED
    boxes[t] = as_written(box)
    ious[t] = metrics.iou(boxes[t], seq.boxes[t])
    scored = t - last_start >= burn_in or (starts == 1 and not burn_in_at_start)
    if scored and valid[t] and ious[t] <= 0:
      failures[t] = True
      resume_at, last_start = t + restart_gap + 1, None
  return Run(boxes, kinds, ious, failures, times)


# ----------------------------------------------------------------------------
# Scoring and reports.


@dataclasses.dataclass
class SequenceResult:
  """One tracker, one protocol, one sequence.

  Attributes:
    tracker: the tracker's name.
    protocol: 'ope' or 'vot'.
    sequence: the sequence's name.
    truth: (T, 4) the true boxes.
    run: the loop's output.
    ope: OTB metrics (OPE runs).
    got10k: GOT-10k metrics (OPE runs).
    vot: reset-based metrics (VOT runs).
  """
  tracker: str
  protocol: str
  sequence: str
  truth: np.ndarray
  run: Run
  ope: metrics.OPEResult | None = None
  got10k: metrics.GOT10kResult | None = None
  vot: metrics.VOTResult | None = None


class Timing(NamedTuple):
  """Speed of a tracker over some runs (update calls only; init separately).

  Attributes:
    fps: updates per second of update time.
    median_update_ms: the median update call.
    mean_init_ms: the mean init call.
    updates: update calls timed.
  """
  fps: float
  median_update_ms: float
  mean_init_ms: float
  updates: int


def timing(runs: Iterable[Run]) -> Timing:
  runs = list(runs)
  updates = np.concatenate([r.update_times for r in runs]) if runs else np.zeros(0)
  inits = np.concatenate([r.init_times for r in runs]) if runs else np.zeros(0)
  total = float(updates.sum())
  return Timing(len(updates) / total if total > 0 else math.nan,
                float(np.median(updates)) * 1e3 if len(updates) else math.nan,
                float(np.mean(inits)) * 1e3 if len(inits) else math.nan, len(updates))


def _clean(x):
  """JSON-ready: NaN/inf -> None, arrays -> lists, NamedTuples -> dicts."""
  if isinstance(x, dict):
    return {k: _clean(v) for k, v in x.items()}
  if hasattr(x, '_asdict'):
    return _clean(x._asdict())
  if isinstance(x, (list, tuple, np.ndarray)):
    return [_clean(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
  if isinstance(x, (float, np.floating)):
    return float(x) if math.isfinite(x) else None
  if isinstance(x, np.integer):
    return int(x)
  return x


@dataclasses.dataclass
class Report:
  """Everything one `run` measured.

  Attributes:
    results: (tracker, protocol) -> per-sequence results, in sequence order.
    info: the run's settings (datasets, trackers' descriptions, machine, date).
  """
  results: dict[tuple[str, str], list[SequenceResult]]
  info: dict

  def overall(self, tracker: str, protocol: str) -> dict:
    """The overall metrics and timing of one tracker under one protocol."""
    rs = self.results[(tracker, protocol)]
    out = {'sequences': len(rs), 'frames': int(sum(len(r.truth) for r in rs))}
    if protocol == 'ope':
      out['ope'] = metrics.ope_average([r.ope for r in rs])
      out['got10k'] = metrics.got10k_pooled([r.run.boxes for r in rs], [r.truth for r in rs])
    else:
      out['vot'] = metrics.vot_pooled([r.vot for r in rs])
    out['timing'] = timing(r.run for r in rs)
    return out

  def to_json(self) -> dict:
    trackers: dict = {}
    for (tracker, protocol), rs in self.results.items():
      per_seq = {}
      for r in rs:
        d = {'frames': len(r.truth), 'timing': timing([r.run])}
        for key in ('ope', 'got10k', 'vot'):
          if getattr(r, key) is not None:
            d[key] = getattr(r, key)
        per_seq[r.sequence] = d
      trackers.setdefault(tracker, {})[protocol] = {
          'overall': self.overall(tracker, protocol), 'sequences': per_seq}
    return _clean({'info': self.info, 'trackers': trackers})

  def table(self) -> str:
    """Per-sequence and overall metrics as an aligned text table."""
    head = ['tracker', 'protocol', 'sequence', 'frames', 'success', 'P@20', 'AO', 'SR0.5',
            'SR0.75', 'acc', 'rob', 'avg', 'fail', 'fps', 'med ms', 'init ms']
    rows = []

    def fmt(v, spec='.3f'):
      return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    def row(tracker, protocol, name, frames, ope, got, vot, tm):
      rows.append([tracker, protocol, name, str(frames),
                   fmt(ope and ope.success_score), fmt(ope and ope.precision_score),
                   fmt(got and got.ao), fmt(got and got.sr50), fmt(got and got.sr75),
                   fmt(vot and vot.accuracy), fmt(vot and vot.robustness),
                   fmt(vot and vot.average), fmt(vot and vot.failures, 'd'),
                   fmt(tm.fps, '.1f'), fmt(tm.median_update_ms, '.2f'),
                   fmt(tm.mean_init_ms, '.2f')])

    for (tracker, protocol), rs in self.results.items():
      for r in rs:
        row(tracker, protocol, r.sequence, len(r.truth), r.ope, r.got10k, r.vot,
            timing([r.run]))
      o = self.overall(tracker, protocol)
      row(tracker, protocol, f'OVERALL ({o["sequences"]})', o['frames'], o.get('ope'),
          o.get('got10k'), o.get('vot'), o['timing'])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ['  '.join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [head] + rows]
    return '\n'.join(lines)


def plot_curves(report: Report, out: pathlib.Path) -> list[pathlib.Path]:
  """``success.png`` and ``precision.png``: overall OPE curves, one per tracker."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  trackers = [t for (t, p) in report.results if p == 'ope']
  if not trackers:
    return []
  paths = []
  for kind in ('success', 'precision'):
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    n_seq = 0
    for tracker in trackers:
      o = report.overall(tracker, 'ope')['ope']
      n_seq = o.sequences
      if kind == 'success':
        ax.plot(metrics.SUCCESS_THRESHOLDS, o.success_curve,
                label=f'{tracker} [{o.success_score:.3f}]')
      else:
        ax.plot(metrics.PRECISION_THRESHOLDS, o.precision_curve,
                label=f'{tracker} [{o.precision_score:.3f}]')
    if kind == 'success':
      ax.set(xlabel='overlap threshold (IoU >)', ylabel='success rate', xlim=(0, 1),
             title=f'Success plots of OPE ({n_seq} sequences)')
    else:
      ax.set(xlabel='location error threshold (pixels)', ylabel='precision', xlim=(0, 50),
             title=f'Precision plots of OPE ({n_seq} sequences)')
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower left' if kind == 'success' else 'lower right')
    fig.tight_layout()
    path = out / f'{kind}.png'
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
  return paths


def write_video(seq: sequences_lib.SequenceFiles, boxes: Mapping[str, np.ndarray],
                path: pathlib.Path, fps: float = 25.0) -> pathlib.Path:
  """A video of `seq` with the true box (green) and each tracker's boxes (`video.annotate`).

  Writes mp4 (``mp4v``) with OpenCV; if OpenCV has no mp4 encoder, a GIF
  (``path`` with suffix ``.gif``) instead. Frames are streamed (`video` writers).

  Returns:
    The file written.
  """
  path.parent.mkdir(parents=True, exist_ok=True)
  frames = seq.frames()
  first = next(frames)
  size = first.shape[:2]
  try:
    writer = video.open_video_writer(path, fps, size)
  except video.VideoError:
    path = path.with_suffix('.gif')
    writer = video.open_video_writer(path, fps, size)
  names = ['truth'] + list(boxes)
  colors = [_GREEN] + [video.color(k) for k in range(len(boxes))]
  with writer:
    for t, frame in enumerate(_chain(first, frames)):
      boxes_t = np.stack([seq.boxes[t]] + [b[t] for b in boxes.values()])
      drawn = np.all(np.isfinite(boxes_t), axis=1)  # a missing box is not drawn
      labels = [f'{name} #{t}' if k == 0 else name for k, name in enumerate(names)]
      writer.write(video.annotate(frame, boxes_t[drawn], [l for l, d in zip(labels, drawn) if d],
                                  [c for c, d in zip(colors, drawn) if d]))
  return path


def _chain(first, rest):
  yield first
  yield from rest


def run(trackers: Mapping[str, Tracker], seqs: Sequence[sequences_lib.SequenceFiles],
        out: str | os.PathLike, *, protocols: Sequence[str] = ('ope',),
        max_frames: int | None = None, video: bool = False,
        burn_in: int = metrics.VOT_BURN_IN, restart_gap: int = metrics.VOT_RESTART_GAP,
        burn_in_at_start: bool = True, info: dict | None = None,
        log: Callable[[str], None] = print) -> Report:
  """Runs every tracker on every sequence under each protocol; writes and returns the report.

  Args:
    trackers: name -> tracker (`Tracker` interface), e.g. from `make_tracker`.
    seqs: the sequences (frames are read as they are tracked).
    out: the output folder (see the module docstring for its files).
    protocols: 'ope' and/or 'vot'.
    max_frames: track only the first frames of each sequence.
    video: also write a video per sequence (``videos/NAME.mp4``).
    burn_in: see `run_vot`.
    restart_gap: see `run_vot`.
    burn_in_at_start: see `run_vot`.
    info: extra settings stored in ``results.json``.
    log: where progress lines go.

  Returns:
    The `Report` (also written to ``out/results.json``).
  """
  for p in protocols:
    if p not in PROTOCOLS:
      raise ValueError(f'unknown protocol {p!r}; known: {", ".join(PROTOCOLS)}')
  if not trackers:
    raise ValueError('no trackers to evaluate')
  if not seqs:
    raise ValueError('no sequences to evaluate')
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  seqs = [s.head(max_frames) for s in seqs]
  info = dict(info or {})
  info.update({
      'protocols': list(protocols), 'max_frames': max_frames,
      'vot': {'burn_in': burn_in, 'restart_gap': restart_gap,
              'burn_in_at_start': burn_in_at_start,
              'robustness': f'exp(-{metrics.VOT_ROBUSTNESS_SCALE:g} * failures / frames)'},
      'sequences': [s.name for s in seqs],
      'machine': f'{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}',
      'python': sys.version.split()[0],
      'date': datetime.datetime.now().isoformat(timespec='seconds')})
  results: dict[tuple[str, str], list[SequenceResult]] = {
      (t, p): [] for t in trackers for p in protocols}
  total, done = len(seqs) * len(trackers) * len(protocols), 0
  for seq in seqs:
    seq.check()
    video_boxes = {}
    for name, tracker in trackers.items():
      warm_up(tracker, seq)
      for protocol in protocols:
        if protocol == 'ope':
          r = run_ope(tracker, seq)
          result = SequenceResult(name, protocol, seq.name, seq.boxes, r,
                                  ope=metrics.ope(r.boxes, seq.boxes),
                                  got10k=metrics.got10k(r.boxes, seq.boxes))
          stem = file_name(seq.name)
          write_boxes(out / name / 'otb' / f'{stem}.txt', r.boxes)
          write_boxes(out / name / 'got10k' / stem / f'{stem}_001.txt', r.boxes)
          _write_times(out / name / 'got10k' / stem / f'{stem}_time.txt', r.frame_times)
          summary = (f'success {result.ope.success_score:.3f}, '
                     f'P@20 {result.ope.precision_score:.3f}, AO {result.got10k.ao:.3f}')
        else:
          r = run_vot(tracker, seq, burn_in=burn_in, restart_gap=restart_gap,
                      burn_in_at_start=burn_in_at_start)
          result = SequenceResult(name, protocol, seq.name, seq.boxes, r,
                                  vot=metrics.vot(r.ious, r.kinds, burn_in, burn_in_at_start))
          stem = file_name(seq.name)
          vot_dir = out / name / 'vot' / stem
          vot_dir.mkdir(parents=True, exist_ok=True)
          (vot_dir / f'{stem}_001.txt').write_text(''.join(
              _vot_line(k, f, b) + '\n' for k, f, b in zip(r.kinds, r.failures, r.boxes)))
          _write_times(vot_dir / f'{stem}_time.txt', r.frame_times)
          summary = (f'accuracy {result.vot.accuracy:.3f}, robustness '
                     f'{result.vot.robustness:.3f}, {result.vot.failures} failures')
        if protocol == 'ope' or name not in video_boxes:
          video_boxes[name] = r.boxes
        results[(name, protocol)].append(result)
        done += 1
        tm = timing([r])
        log(f'[{done}/{total}] {name} {protocol} {seq.name}: {len(seq)} frames, '
            f'{tm.fps:.1f} frames/s, {summary}')
    if video:
      path = write_video(seq, video_boxes, out / 'videos' / f'{file_name(seq.name)}.mp4')
      log(f'wrote {path}')
  report = Report(results, info)
  (out / 'results.json').write_text(json.dumps(report.to_json(), indent=1))
  plot_curves(report, out)
  return report


# ----------------------------------------------------------------------------
# Command line.


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_multi_string('dataset', None, 'KIND:ROOT with KIND otb, vot, got10k or vid '
                            '(repeatable).', required=True)
  flags.DEFINE_multi_enum('tracker', ['re3'], TRACKERS, 'Trackers to run (repeatable).')
  flags.DEFINE_list('protocol', ['ope'], 'ope (one pass) and/or vot (reset-based), e.g. ope,vot.')
  flags.DEFINE_string('out', None, 'Output folder.', required=True)
  flags.DEFINE_string('checkpoint', None, 'Re3 parameters checkpoint (re3_jax.model.checkpoints).')
  flags.DEFINE_enum('config', None, ['tiny', 'small', 'paper'],
                    'Re3 without --checkpoint: this model config with RANDOM weights.')
  flags.DEFINE_integer('seed', 0, 'Seed of the random Re3 weights.')
  flags.DEFINE_integer('max_frames', None, 'Track only the first frames of each sequence.')
  flags.DEFINE_list('sequences', None, 'Only these sequences (names; a multi-target OTB name '
                    'or a VID video selects all its targets).')
  flags.DEFINE_bool('video', False, 'Also write videos/NAME.mp4 per sequence.')
  flags.DEFINE_bool('vot_burn_in_at_start', True, 'Reset-based protocol: leave out the burn-in '
                    'after the first start too (Re3\'s original script did not).')


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from re3_jax import cli  # pylint: disable=g-import-not-at-top
  from re3_jax.evaluation import datasets  # pylint: disable=g-import-not-at-top
  del argv
  cli.quiet_library_logs()
  fl = flags.FLAGS
  trackers, described = {}, []
  for name in dict.fromkeys(fl.tracker):
    tracker, what = make_tracker(name, fl.checkpoint, fl.config, fl.seed)
    trackers[name] = tracker
    described.append(what)
    if name == 're3' and not fl.checkpoint:
      print(f'WARNING: {what}: random weights do not track; these numbers only exercise the '
            'harness.', file=sys.stderr)
  seqs = []
  for spec in fl.dataset:
    kind, root = datasets.parse_spec(spec)
    if kind == 'vid':  # parse only the selected videos' annotations
      seqs.extend(datasets.vid(root, videos=fl.sequences).sequences)
    else:
      seqs.extend(datasets.open_dataset(spec).sequences)
  if fl.sequences:
    seqs = list(datasets.select(seqs, fl.sequences, ' + '.join(fl.dataset)))
  names = [s.name for s in seqs]
  if len(set(names)) != len(names):
    raise ValueError(f'sequence names repeat across datasets: {names}')
  report = run(trackers, seqs, fl.out, protocols=fl.protocol, max_frames=fl.max_frames,
               video=fl.video, burn_in_at_start=fl.vot_burn_in_at_start,
               info={'datasets': fl.dataset, 'trackers': described,
                     'command': ' '.join(sys.argv)})
  print(report.table())
  print(f'wrote {pathlib.Path(fl.out) / "results.json"}, success.png, precision.png and the '
        'result files')


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
