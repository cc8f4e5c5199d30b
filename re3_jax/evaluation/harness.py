"""The evaluation harness: every tracker on every sequence under each protocol (`run`),
scored by every metric family of the protocol (`metric_families.FAMILIES`), writing the
result files, ``results.json``, the plots and optional videos; trackers by name
(`trackers.TRACKERS`, `make_tracker`). A sequence that cannot be evaluated is reported by
name and left out; the others are scored. ``python -m re3_jax.evaluate`` is its command
line, and its docstring lists the outputs."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import sys
import time
from typing import Callable, Mapping, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import progress
from re3_jax.core import outputs
from re3_jax.evaluation import lost_metrics
from re3_jax.evaluation import metric_families
from re3_jax.evaluation import metrics
from re3_jax.evaluation import metric_family as family_lib
from re3_jax.evaluation import vot_metrics
from re3_jax.evaluation import protocols as protocols_lib
from re3_jax.evaluation import report as report_lib
from re3_jax.evaluation import results as results_lib
from re3_jax.evaluation import sre
from re3_jax.evaluation import trackers as trackers_lib
from re3_jax.media import drawing
from re3_jax.datasets import sequences as sequences_lib
from re3_jax.media import video
from re3_jax.tracking import tracker_config

PROTOCOLS = metric_families.PROTOCOLS


def make_tracker(name: str, tracker: tracker_config.TrackerConfig | None = None,
                 nanotrack_dir: str | os.PathLike | None = None,
                 ) -> tuple[protocols_lib.Tracker, str]:
  """A tracker of `trackers.TRACKERS` by name, and a line describing it (weights, versions).

  Args:
    name: one of `trackers.TRACKERS`.
    tracker: Re3's weights and settings (`tracker_config.TrackerConfig`; None: the shipped
      model) for ``re3``; a name of `shipped.SHIPPED` as `name` runs that shipped model
      (whatever weights this names) with this precision and reset interval.
    nanotrack_dir: for ``opencv_nano``: the folder of NanoTrack v2's ``backbone.onnx`` and
      ``head.onnx`` (`baselines.nanotrack_models`; nothing is downloaded).

  Raises:
    ValueError: an unknown name (listing the registered ones), ``opencv_nano`` without
      `nanotrack_dir` or with a model file whose SHA-256 is not the published one.
    FileNotFoundError: ``opencv_nano``'s model files missing.
  """
  made = trackers_lib.make(name, trackers_lib.Options(tracker, nanotrack_dir))
  return made.tracker, made.description


def write_video(seq: sequences_lib.SequenceFiles, boxes: Mapping[str, np.ndarray],
                path: pathlib.Path, fps: float = 25.0) -> pathlib.Path:
  """A video of `seq` with the true box (green) and each tracker's boxes (`drawing.annotate`).

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
  colors = [drawing.GREEN] + [drawing.color(k) for k in range(len(boxes))]
  with writer:
    for t, frame in enumerate(_chain(first, frames)):
      boxes_t = np.stack([seq.boxes[t]] + [b[t] for b in boxes.values()])
      drawn = np.all(np.isfinite(boxes_t), axis=1)  # a missing box is not drawn
      labels = [f'{name} #{t}' if k == 0 else name for k, name in enumerate(names)]
      writer.write(drawing.annotate(frame, boxes_t[drawn], [l for l, d in zip(labels, drawn) if d],
                                  [c for c, d in zip(colors, drawn) if d]))
  return path


def _chain(first, rest):
  yield first
  yield from rest


class SequenceFailed(ValueError):
  """A sequence that could not be evaluated (`run` with ``fail_fast``); names it and its file."""


def _write_json(path: pathlib.Path, doc) -> None:
  """`doc` as JSON at `path`, atomically (`outputs.atomic_output`): never half a file."""
  with outputs.atomic_output(path) as tmp:
    tmp.write_text(json.dumps(doc, indent=1))


def replaced_results_warning(out: pathlib.Path, trackers: Sequence[str]) -> str | None:
  """The warning that `run` will replace ``out/results.json`` (None if there is none).

  The file is read as data (JSON) only to name the trackers it holds.
  """
  path = out / 'results.json'
  if not path.is_file():
    return None
  try:
    held = list(json.loads(path.read_text()).get('trackers', {}))
  except (OSError, ValueError, AttributeError):
    held = []
  was = f' (it holds {", ".join(held)})' if held else ''
  return (f'WARNING: replacing {path}{was} with the results of {", ".join(trackers)} only; '
          f'to keep both, evaluate every tracker in one run or give another --out')


def check_sequence(seq: sequences_lib.SequenceFiles) -> None:
  """Checks a sequence before any tracker runs on it: its frames, and its first true box.

  Raises:
    SequenceError: a missing or unreadable frame, frames of different sizes,
      no true box, or a first true box that is not a box or lies outside the
      image (no tracker can start from it).
  """
  size = seq.check()
  start = protocols_lib.first_truth(seq)
  try:
    boxes_lib.validate_box(seq.boxes[start], size, f'the first true box (frame {start})')
  except ValueError as e:
    raise sequences_lib.SequenceError(f'sequence {seq.name}: {e}') from None


def _failure(seq: sequences_lib.SequenceFiles, error: Exception,
             during: str | None = None) -> report_lib.SequenceFailure:
  """`error` on `seq` as a failure naming the sequence and its ground-truth file."""
  message = str(error)
  prefix = f'sequence {seq.name}: '
  if message.startswith(prefix):  # a SequenceError names the sequence already
    message = message[len(prefix):]
  if during:
    message = f'{during}: {message}'
  file = seq.groundtruth or seq.frame_paths[0].parent
  return report_lib.SequenceFailure(seq.name, str(file), message)


def _frame_progress(status: progress.StatusLine | None, label: str):
  """``on_frame(done, total)`` writing ``LABEL: frame 12/300, 45.1 frames/s, ETA 0.1 min`` to
  `status` (frames/s: wall time since the first frame, decoding included); None without one."""
  if status is None:
    return None
  start = time.perf_counter()

  def on_frame(done: int, total: int) -> None:
    rate = progress.rate(done, time.perf_counter() - start)
    status.update(f'{label}: frame {done}/{total}, '
                  + ('? frames/s' if rate is None else f'{rate:.1f} frames/s')
                  + f', ETA {progress.eta_text(total - done, rate)}')
  return on_frame


def _runs(name: str, protocol: str, tracker: protocols_lib.Tracker,
          seq: sequences_lib.SequenceFiles, restart_gap: int, options: family_lib.Options,
          status: progress.StatusLine | None = None):
  """One tracker on one sequence under one protocol: ``(start, run)`` for each run (start:
  SRE's, None for the others' single run)."""
  if protocol == 'ope':
    yield None, protocols_lib.run_ope(tracker, seq, _frame_progress(
        status, f'{name} ope {seq.name}'))
  elif protocol == 'sre':
    start = protocols_lib.first_truth(seq)
    size = seq.read(start).shape[:2]
    for shift in sre.SHIFTS:
      box = sre.start_box(seq.boxes[start], shift, size)
      on_frame = _frame_progress(status, f'{name} sre {seq.name} {shift}')
      yield shift, protocols_lib.run_ope(tracker, seq, on_frame, start_box=box)
  else:
    yield None, protocols_lib.run_vot(
        tracker, seq, burn_in=options.burn_in, restart_gap=restart_gap,
        burn_in_at_start=options.burn_in_at_start,
        on_frame=_frame_progress(status, f'{name} vot {seq.name}'))


def _score(name: str, protocol: str, tracker: protocols_lib.Tracker,
           seq: sequences_lib.SequenceFiles, restart_gap: int, options: family_lib.Options,
           status: progress.StatusLine | None = None,
           ) -> tuple[list[report_lib.SequenceResult], str]:
  """One tracker on one sequence under one protocol, scored by every metric family of the
  protocol (`metric_families.FAMILIES`): its results (SRE: one per start) and a summary line
  (SRE: of the mean over its starts' success and P@20)."""
  results = []
  for start, r in _runs(name, protocol, tracker, seq, restart_gap, options, status):
    values = report_lib.score(r, seq.boxes, protocol, options)
    results.append(report_lib.SequenceResult(name, protocol, seq.name, seq.boxes, r, values,
                                             start))
  if protocol == 'sre':
    mean = metrics.ope_average([r.ope for r in results])
    return results, f'{len(results)} starts, mean {metric_families.OPE.summary(mean)}'
  values = results[0].metrics
  parts = [f.summary(values[f.name]) for f in metric_families.for_protocol(protocol)
           if f.summary is not None]
  return results, ', '.join(p for p in parts if p)


def _write_result(out: pathlib.Path, result: report_lib.SequenceResult) -> None:
  """The result files of one tracker on one sequence under one protocol."""
  r, name = result.run, result.tracker
  stem = results_lib.file_name(result.sequence)
  if result.protocol in ('ope', 'sre'):
    folder = out / name / ('otb' if result.protocol == 'ope' else f'sre/{result.start}')
    results_lib.write_boxes(folder / f'{stem}.txt', r.boxes)
    if r.has_score:
      results_lib.write_scores(folder / f'{stem}_scores.txt', r.scores)
    if result.protocol == 'ope':
      results_lib.write_got10k(out / name / 'got10k', result.sequence, r.boxes, r.frame_times)
  else:
    vot_dir = out / name / 'vot' / stem
    vot_dir.mkdir(parents=True, exist_ok=True)
    lines = map(results_lib.vot_line, r.kinds, r.failures, r.boxes)
    (vot_dir / f'{stem}_001.txt').write_text(''.join(line + '\n' for line in lines))
    results_lib.write_times(vot_dir / f'{stem}_time.txt', r.frame_times)
    if r.has_score:
      results_lib.write_scores(vot_dir / f'{stem}_scores.txt', r.scores)


def run(trackers: Mapping[str, protocols_lib.Tracker],
        seqs: Sequence[sequences_lib.SequenceFiles],
        out: str | os.PathLike, *, protocols: Sequence[str] = ('ope',),
        max_frames: int | None = None, video: bool = False,
        burn_in: int = vot_metrics.VOT_BURN_IN, restart_gap: int = vot_metrics.VOT_RESTART_GAP,
        burn_in_at_start: bool = True, info: dict | None = None, fail_fast: bool = False,
        score_threshold: float = lost_metrics.DEFAULT_SCORE_THRESHOLD,
        log: Callable[[str], None] = print,
        status: progress.StatusLine | None = None) -> report_lib.Report:
  """Runs every tracker on every sequence under each protocol; writes and returns the report.

  A sequence that cannot be evaluated (a ``ValueError`` or ``OSError`` while
  checking, reading or tracking it: a missing frame, a first true box outside
  the image, see `check_sequence`) is logged in one line naming it and its
  ground-truth file, left out for every tracker (no result files; the overall
  metrics are over the sequences scored) and listed in ``Report.failed``;
  the others are still evaluated. With `fail_fast` the first such failure
  raises `SequenceFailed` with the same message.

  Args:
    trackers: name -> tracker (`protocols.Tracker` interface), e.g. from `make_tracker`.
    seqs: the sequences (frames are read as they are tracked).
    out: the output folder (see the module docstring for its files). A ``results.json``
      already there (an earlier run's) is replaced by this run's, which holds this run's
      trackers only: `log` gets a warning naming the file and the trackers it held
      (`replaced_results_warning`); the earlier trackers' result files stay.
    protocols: any of 'ope', 'vot' and 'sre' (`protocols`; SRE's 12 runs per sequence are
      scored as one-pass runs, written under ``TRACKER/sre/START/``, and drawn in no plot).
    max_frames: track only the first frames of each sequence.
    video: also write a video per sequence (``videos/NAME.mp4``).
    burn_in: see `protocols.run_vot`.
    restart_gap: see `protocols.run_vot`.
    burn_in_at_start: see `protocols.run_vot`.
    info: extra settings stored in ``results.json``.
    fail_fast: stop at the first sequence that fails.
    score_threshold: for trackers with a confidence score (`protocols.Scored`): a frame whose
      score is below it is flagged lost (`lost_metrics.flag_precision_recall`).
    log: where progress lines go (one per tracker, protocol and sequence done).
    status: where the frames of the sequence being tracked are counted, with an ETA
      (`progress.StatusLine`: on a terminal one line rewritten in place, erased before
      each `log` line; in a file at its `file_interval`); None: no such count.

  Returns:
    The `report.Report` (also written to ``out/results.json``).

  Raises:
    SequenceFailed: with `fail_fast`, the first failure; without it, when
      every sequence failed (nothing to score).
  """
  for p in protocols:
    if p not in PROTOCOLS:
      raise ValueError(f'unknown protocol {p!r}; known: {", ".join(PROTOCOLS)}')
  options = family_lib.Options(burn_in, burn_in_at_start, score_threshold)
  if not trackers:
    raise ValueError('no trackers to evaluate')
  if not seqs:
    raise ValueError('no sequences to evaluate')
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  replaced = replaced_results_warning(out, trackers)
  if replaced:
    log(replaced)
  seqs = [s.head(max_frames) for s in seqs]
  info = dict(info or {})
  info.update({
      'protocols': list(protocols), 'max_frames': max_frames,
      'vot': {'burn_in': burn_in, 'restart_gap': restart_gap,
              'burn_in_at_start': burn_in_at_start,
              'robustness': f'exp(-{vot_metrics.VOT_ROBUSTNESS_SCALE:g} * failures / frames)'},
      'sre': {'starts': list(sre.SHIFTS), 'from': "OTB's toolkit, shiftInitBB.m"},
      'sequences': [s.name for s in seqs],
      'scores': {'lost': f'target absent or IoU < {lost_metrics.LOST_IOU:g}',
                 'score_threshold': score_threshold,
                 'longterm': 'VOT-LT tracking precision, recall, F-score (longterm_metrics)'},
      'absent_frames': {s.name: int(lost_metrics.absent(s.boxes).sum()) for s in seqs},
      'machine': f'{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}',
      'python': sys.version.split()[0],
      'date': datetime.datetime.now().isoformat(timespec='seconds')})
  results: dict[tuple[str, str], list[report_lib.SequenceResult]] = {
      (t, p): [] for t in trackers for p in protocols}
  failed: list[report_lib.SequenceFailure] = []
  per_seq = len(trackers) * len(protocols)
  total, done = len(seqs) * per_seq, 0
  for seq in seqs:
    scored, during, units = [], None, 0
    try:
      check_sequence(seq)
      for name, tracker in trackers.items():
        during = f'{name} warm-up'
        protocols_lib.warm_up(tracker, seq)
        for protocol in protocols:
          during = f'{name} {protocol}'
          seq_results, summary = _score(name, protocol, tracker, seq, restart_gap, options,
                                        status)
          scored += seq_results
          units += 1
          tm = report_lib.timing(r.run for r in seq_results)
          if status is not None:
            status.clear()
          log(f'[{done + units}/{total}] {name} {protocol} {seq.name}: {len(seq)} frames, '
              f'{tm.fps:.1f} frames/s, {summary}')
    except (ValueError, OSError) as e:
      if status is not None:
        status.clear()
      failure = _failure(seq, e, during)
      if fail_fast:
        raise SequenceFailed(str(failure)) from e
      failed.append(failure)
      done += per_seq
      log(f'FAILED {failure} (left out; going on with the other sequences)')
      continue
    done += per_seq
    video_boxes = {}
    for result in scored:
      _write_result(out, result)
      results[(result.tracker, result.protocol)].append(result)
      if result.protocol == 'ope' or result.tracker not in video_boxes:
        video_boxes[result.tracker] = result.run.boxes
    if video:
      stem = results_lib.file_name(seq.name)
      path = write_video(seq, video_boxes, out / 'videos' / f'{stem}.mp4')
      log(f'wrote {path}')
  if len(failed) == len(seqs):
    more = f' (and {len(failed) - 1} more, above)' if len(failed) > 1 else ''
    raise SequenceFailed(f'no sequence could be evaluated: {failed[0]}{more}')
  scored = {name for (name, _), rs in results.items() if any(r.run.has_score for r in rs)}
  info['scores']['kinds'] = {
      name: (getattr(tracker, 'score_kind', None) or 'a score') if name in scored else 'no score'
      for name, tracker in trackers.items()}
  report = report_lib.Report(results, info, failed, options)
  _write_json(out / 'results.json', report.to_json())
  report_lib.plot_curves(report, out)
  return report
