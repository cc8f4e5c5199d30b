"""Result files of the evaluation harness, in the benchmarks' own formats.

* OTB / GOT-10k: one ``x,y,w,h`` line per frame (OTB's 1-based convention, 3
  decimals; `format_otb_line`, `parse_otb_line`); GOT-10k's ``NAME_time.txt`` holds
  seconds per frame (8 decimals). These are the got10k toolkit's own formats
  (``np.savetxt`` with ``fmt='%.3f'`` and ``'%.8f'``, ``delimiter=','``), and
  `got10k_files` its per-sequence layout (``NAME/NAME_001.txt``, ``NAME/NAME_time.txt``).
* Confidence scores (trackers that give one, `protocols.Scored`): ``NAME_scores.txt`` beside
  each boxes file, one line per frame, the score as Python's ``repr`` of the float64 (it
  reads back exactly) or ``nan`` where there is none (the start frame, skipped frames)
  (`scores_text`, `read_scores`).
* VOT toolkit codes for the reset-based protocol: ``1`` a (re)start, ``2`` a
  failure, ``0`` a skipped frame, else the box (`vot_line`, `read_vot_results`).

Metrics are computed from the boxes as written (`as_written`), so reading the
files back gives the report's numbers exactly. Sequence names with ``/`` (VID
tracks) use ``.`` in file names (`file_name`).
"""

from __future__ import annotations

import pathlib

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.evaluation import vot_metrics


def file_name(sequence: str) -> str:
  """A sequence name as a file name (VID's ``video/trackid`` -> ``video.trackid``)."""
  return sequence.replace('/', '.')


def format_otb_line(box) -> str:
  """An xyxy box as an OTB ``x,y,w,h`` line (1-based, 3 decimals; ``nan`` values kept)."""
  return ','.join(f'{v:.3f}' for v in np.asarray(boxes_lib.to_otb(np.asarray(box, np.float64))))


def parse_otb_line(line: str, where: str = '') -> np.ndarray:
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
  flat = [parse_otb_line(format_otb_line(b)) for b in boxes.reshape(-1, 4)]
  return np.stack(flat).reshape(boxes.shape).astype(np.float32) if flat else boxes.astype(
      np.float32)


def boxes_text(boxes) -> str:
  """(T, 4) xyxy boxes as an OTB / GOT-10k result file's text (`format_otb_line` per line)."""
  return ''.join(format_otb_line(b) + '\n' for b in boxes)


def write_boxes(path: pathlib.Path, boxes) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(boxes_text(boxes))


def read_boxes(path: str | pathlib.Path) -> np.ndarray:
  """An OTB/GOT-10k result file -> (T, 4) float32 xyxy."""
  path = pathlib.Path(path)
  lines = [l for l in path.read_text().splitlines() if l.strip()]
  return np.stack([parse_otb_line(l, f'{path}:{i + 1}') for i, l in enumerate(lines)])


def vot_line(kind: int, failure: bool, box) -> str:
  if kind == vot_metrics.FrameKind.SKIPPED:
    return '0'
  if kind == vot_metrics.FrameKind.START:
    return '1'
  return '2' if failure else format_otb_line(box)


def read_vot_results(path: str | pathlib.Path, truth) -> tuple[np.ndarray, np.ndarray]:
  """A reset-based result file -> ((T, 4) xyxy boxes, (T,) `vot_metrics.FrameKind`).

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
      kinds[i] = vot_metrics.FrameKind.SKIPPED
    elif line == '1':
      kinds[i], boxes[i] = vot_metrics.FrameKind.START, truth[i]
    elif line == '2':
      kinds[i] = vot_metrics.FrameKind.TRACKED
    else:
      kinds[i], boxes[i] = vot_metrics.FrameKind.TRACKED, parse_otb_line(line, f'{path}:{i + 1}')
  return boxes, kinds


def scores_text(scores) -> str:
  """(T,) scores as a ``NAME_scores.txt`` text: one ``repr(float)`` (or ``nan``) per line."""
  return ''.join(f'{float(v)!r}\n' for v in np.asarray(scores, np.float64).reshape(-1))


def write_scores(path: pathlib.Path, scores) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(scores_text(scores))


def read_scores(path: str | pathlib.Path) -> np.ndarray:
  """A ``NAME_scores.txt`` file -> (T,) float64 (NaN where the file says ``nan``).

  Raises:
    ValueError: naming the file and line, for a line that is not one number.
  """
  path = pathlib.Path(path)
  lines = [l.strip() for l in path.read_text().splitlines() if l.strip()]
  try:
    return np.array([float(l) for l in lines], np.float64)
  except ValueError:
    bad = next(i for i, l in enumerate(lines) if not _is_number(l))
    raise ValueError(f'{path}:{bad + 1}: not a number: {lines[bad]!r}') from None


def _is_number(text: str) -> bool:
  try:
    float(text)
  except ValueError:
    return False
  return True


def times_text(times) -> str:
  """Seconds per frame as GOT-10k's ``NAME_time.txt`` text: one ``%.8f`` line per frame."""
  return ''.join(f'{t:.8f}\n' for t in times)


def write_times(path: pathlib.Path, times) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(times_text(times))


def got10k_files(sequence: str, boxes, times) -> dict[str, str]:
  """One sequence's GOT-10k result files: path (relative, ``/``-separated) -> text.

  The got10k toolkit's layout for a deterministic tracker (one run, ``_001``):
  ``NAME/NAME_001.txt`` (the boxes, `boxes_text`; the first line is the given
  first box) and ``NAME/NAME_time.txt`` (seconds per frame, `times_text`).

  Args:
    sequence: the sequence's name (`file_name` makes it a file name).
    boxes: (T, 4) xyxy boxes.
    times: (T,) seconds per frame.
  """
  stem = file_name(sequence)
  return {f'{stem}/{stem}_001.txt': boxes_text(boxes),
          f'{stem}/{stem}_time.txt': times_text(times)}


def write_got10k(folder: pathlib.Path, sequence: str, boxes, times) -> None:
  """Writes `got10k_files` under `folder` (e.g. ``TRACKER/got10k``)."""
  for rel, text in got10k_files(sequence, boxes, times).items():
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
