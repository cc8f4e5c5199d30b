"""Tracking through a video file or an image folder, streamed, with atomic outputs.

`track_video_file` (and `track_frames` over any iterable of frames) starts each object
at its box in the first frame, tracks all objects together with one batched network
pass per frame (`tracker.Re3Tracker.multi_track`), and decodes, tracks, draws and writes
one frame at a time: the video is never held in memory. Each box comes with the tracker's
confidence score (`re3_jax.tracking.confidence`; NaN for a model without one). Outputs (an
annotated ``.mp4``/``.gif``, each box's score beside its id and the box dashed under
`score_threshold`; boxes and scores as ``.csv`` or ``.json``, see `write_boxes_csv` and
`write_boxes_json`) are written under temporary names and renamed when the whole video
is done, so an output file is always complete. The frame loop is `frame_loop`'s (shared with
`track_live`, whose outputs are written as frames arrive). ``python -m re3_jax.track`` is the
command line.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import json
import os
import pathlib
import tempfile
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from re3_jax.core import outputs as outputs_lib
from re3_jax.media import drawing
from re3_jax.media import video
from re3_jax.tracking import confidence
from re3_jax.tracking import frame_loop
from re3_jax.tracking import tracker as tracker_lib

BOXES_OUTPUTS = ('.csv', '.json')
CSV_HEADER = ('frame', 'object_id', 'x1', 'y1', 'x2', 'y2', 'score')
# A box whose score is below this is drawn dashed: the target is most likely lost.
DEFAULT_SCORE_THRESHOLD = confidence.LOST_THRESHOLD
BOX_FORMAT = 'x1,y1,x2,y2 float pixels, 0-based; the top-left pixel covers [0,1)x[0,1)'
Progress = frame_loop.Progress  # what a progress callback gets after each frame


@dataclasses.dataclass
class TrackResult:
  """The outcome of `track_frames`.

  Attributes:
    boxes: (T, N, 4) float32 xyxy boxes, frame by object; row 0 holds the
      starting boxes.
    scores: (T, N) float32 confidences of the boxes (`Re3Tracker.multi_track`'s
      ``with_scores``: 1 at the start; NaN for a model without a score).
    object_ids: the N ids (0 ... N-1 in `--box` order by default).
    height, width: the frames' size.
    fps: the input's frames per second (None if unknown).
    tracker_fps: frames/s of the tracker calls after the first (None for one frame).
    decode_fps: frames/s of reading the input.
    output, boxes_out: the files written (None if not asked for).
  """
  boxes: np.ndarray
  scores: np.ndarray
  object_ids: list
  height: int
  width: int
  fps: float | None
  tracker_fps: float | None
  decode_fps: float | None
  output: pathlib.Path | None = None
  boxes_out: pathlib.Path | None = None

  @property
  def num_frames(self) -> int:
    return self.boxes.shape[0]


def write_boxes_csv(path: str | os.PathLike, boxes: np.ndarray, object_ids: Sequence,
                    scores: np.ndarray | None = None) -> None:
  """Writes (T, N, 4) boxes and (T, N) scores as CSV: a header, then
  ``frame,object_id,x1,y1,x2,y2,score`` rows.

  Rows go frame by frame, objects in order within a frame; coordinates have 3
  decimals, scores 4; a box without a score (a model without one, or `scores` None) has
  ``nan``. NumPy reads the numbers in one line: ``np.loadtxt(path, delimiter=',',
  skiprows=1, ndmin=2)`` is (T * N, 7), the scores in column 6.
  """
  boxes = np.asarray(boxes)
  scores = np.full(boxes.shape[:2], np.nan) if scores is None else np.asarray(scores)
  with open(path, 'w', newline='') as f:
    out = csv.writer(f)
    out.writerow(CSV_HEADER)
    for t, (frame_boxes, frame_scores) in enumerate(zip(boxes, scores)):
      out.writerows(csv_rows(t, object_ids, frame_boxes, frame_scores))


def csv_rows(frame: int, object_ids: Sequence, boxes: np.ndarray,
             scores: np.ndarray) -> list[list]:
  """One frame's rows of a boxes CSV file (`write_boxes_csv`): (N, 4) boxes, (N,) scores."""
  return [[frame, object_id] + [f'{v:.3f}' for v in box] + [f'{score:.4f}']
          for object_id, box, score in zip(object_ids, boxes, scores)]


def write_boxes_json(path: str | os.PathLike, result: TrackResult, input_name: str) -> None:
  """Writes the boxes of `result` as JSON.

  Structure::

    {"input": "clip.mp4", "width": 640, "height": 360, "fps": 30.0 (or null),
     "num_frames": T, "box_format": "x1,y1,x2,y2 float pixels, 0-based; ...",
     "objects": [{"object_id": 0, "boxes": [[x1, y1, x2, y2], ... T boxes],
                  "scores": [1.0, ... T scores]}, ...]}

  ``objects[k]["boxes"][t]`` is object k's box in frame t (0-based);
  ``boxes[0]`` is its starting box; ``scores[t]`` the box's confidence (4 decimals; null
  for a model without a score: JSON has no NaN).
  """
  boxes = np.round(np.asarray(result.boxes, np.float64), 3)
  scores = np.round(np.asarray(result.scores, np.float64), 4)
  doc = {'input': input_name, 'width': result.width, 'height': result.height, 'fps': result.fps,
         'num_frames': result.num_frames, 'box_format': BOX_FORMAT,
         'objects': [{'object_id': object_id, 'boxes': boxes[:, k].tolist(),
                      'scores': [v if np.isfinite(v) else None for v in scores[:, k].tolist()]}
                     for k, object_id in enumerate(result.object_ids)]}
  pathlib.Path(path).write_text(json.dumps(doc, indent=1) + '\n')


def read_boxes_csv(path: str | os.PathLike, *, with_scores: bool = False):
  """Reads a `write_boxes_csv` file back: ((T, N, 4) boxes, object ids), and with
  `with_scores` the (T, N) scores as a third item (NaN where none; all NaN for a file of
  the versions before the score column, which reads too)."""
  with open(path, newline='') as f:
    rows = list(csv.reader(f))
  if not rows or tuple(rows[0]) not in (CSV_HEADER, CSV_HEADER[:-1]):
    raise ValueError(f'{path}: expected the header {",".join(CSV_HEADER)}')
  ids = list(dict.fromkeys(int(r[1]) for r in rows[1:]))
  columns = len(rows[0])
  try:
    values = np.asarray([[float(v) for v in r[2:]] for r in rows[1:]], np.float32)
  except ValueError as e:
    raise ValueError(f'{path}: a row that is not numbers ({e})') from None
  if values.size and values.shape[1] != columns - 2:
    raise ValueError(f'{path}: rows of {values.shape[1] + 2} fields under a header of {columns}')
  values = values.reshape(-1, len(ids), columns - 2)
  boxes = values[..., :4]
  if not with_scores:
    return boxes, ids
  scores = values[..., 4] if columns == len(CSV_HEADER) else np.full(boxes.shape[:2], np.nan,
                                                                     np.float32)
  return boxes, ids, scores


def check_outputs(output: str | os.PathLike | None, boxes_out: str | os.PathLike | None) -> None:
  """Checks the output files' extensions and that their folders exist and take files, before
  any work (a command line checks them before the model's set-up).

  Raises:
    ValueError: naming the file: an unknown extension, a missing folder, or one where no
      file can be made (read-only, no permission: tried with an unnamed temporary file).
  """
  for path, allowed, what in ((output, video.VIDEO_OUTPUTS, 'output video'),
                              (boxes_out, BOXES_OUTPUTS, 'boxes file')):
    if path is None:
      continue
    path = pathlib.Path(path)
    video.check_output_suffix(path, allowed, what)
    folder = path.absolute().parent
    if not folder.is_dir():
      raise video.VideoError(f'cannot write {what} {path}: folder {path.parent} does not exist')
    try:
      with tempfile.TemporaryFile(dir=folder):
        pass
    except OSError as e:
      raise video.VideoError(f'cannot write {what} {path}: folder {path.parent} is not writable '
                             f'({e.strerror})') from None


def check_settings(*, max_frames: int | None = None, output_scale: float = 1.0,
                   output_fps: float | None = None,
                   score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> None:
  """Checks `track_video_file`'s settings before any work (see `output_size` for the scale's
  upper bound, which depends on the input).

  Raises:
    ValueError: `max_frames` given and < 1; `output_scale` or `output_fps`
      (given) not a number > 0; `score_threshold` not a finite number.
  """
  if not np.isfinite(score_threshold):
    raise ValueError(f'score_threshold must be a finite number (scores are in [-1, 1]: -1 '
                     f'draws every box solid), got {score_threshold:g}')
  if max_frames is not None and max_frames < 1:
    raise ValueError(f'max_frames must be >= 1, got {max_frames}')
  if not (np.isfinite(output_scale) and output_scale > 0):
    raise ValueError(f'output_scale must be > 0, got {output_scale:g}')
  if output_fps is not None and not (np.isfinite(output_fps) and output_fps > 0):
    raise ValueError(f"the output video's frames/s (fps) must be > 0, got {output_fps:g}")


def output_size(output: str | os.PathLike, input_size: tuple[int, int],
                output_scale: float = 1.0) -> tuple[int, int]:
  """The (height, width) of `output`'s frames: the input's (height, width) scaled.

  Raises:
    ValueError: `output_scale` not > 0, or making frames that `output`'s
      format cannot hold (`video.FRAME_SIDES`; the message gives the scales
      that can).
  """
  check_settings(output_scale=output_scale)
  size = drawing.scaled_size(*input_size, output_scale)
  suffix = pathlib.Path(output).suffix.lower()
  problem = video.check_frame_size(size, suffix)
  if problem:
    lo, hi = video.FRAME_SIDES[suffix]
    raise ValueError(f'output_scale {output_scale:g} makes the {input_size[1]}x{input_size[0]} '
                     f'frames {size[1]}x{size[0]}, but {problem}: for {output} use an '
                     f'output_scale from {lo / min(input_size):.3g} to {hi / max(input_size):.3g}')
  return size


def track_frames(tracker: tracker_lib.Re3Tracker, frames: Iterable[np.ndarray],
                 start_boxes: Sequence, *, object_ids: Sequence | None = None,
                 output: str | os.PathLike | None = None,
                 boxes_out: str | os.PathLike | None = None, fps: float | None = None,
                 output_fps: float | None = None, output_scale: float = 1.0,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                 num_frames: int | None = None, input_name: str = 'frames',
                 progress: Callable[[Progress], None] | None = None) -> TrackResult:
  """Tracks objects from their boxes in the first frame through a stream of frames.

  Frames are taken from `frames` one at a time, tracked in one batched pass
  per frame, drawn and written at once. Outputs are written to temporary
  files renamed at the end (`core.outputs.atomic_output`): if anything fails (or
  Ctrl-C), no output file appears and existing ones are left as they were.

  Args:
    tracker: the tracker; the objects are started in it under `object_ids`.
    frames: (H, W, 3) uint8 RGB frames of one size (see `images.to_rgb` for
      other layouts), e.g. a `video.FrameSource`.
    start_boxes: N xyxy boxes in the first frame.
    object_ids: N track ids (default 0 ... N-1), also the labels drawn.
    output: an annotated ``.mp4`` or ``.gif`` to write: each box in its object's colour,
      its id and score (2 decimals) beside it, dashed where the score is below
      `score_threshold`.
    boxes_out: a ``.csv`` or ``.json`` file of the boxes and scores to write.
    fps: the input's frames per second, recorded in the JSON and the default
      of `output_fps`.
    output_fps: the output video's frames per second (> 0; default `fps`, else 30).
    output_scale: scale of the output video's frames (e.g. 0.5 for a small GIF;
      see `output_size`).
    score_threshold: boxes scoring below it are drawn dashed (`DEFAULT_SCORE_THRESHOLD`).
    num_frames: the expected frame count, for progress lines.
    input_name: how to name the input in errors and in the JSON.
    progress: called with a `Progress` after each frame.

  Returns:
    A `TrackResult`.

  Raises:
    ValueError: a bad box (naming it; a box entirely outside the first frame
      included), no frames, an unknown output extension, a bad `output_scale`
      or `output_fps` or `score_threshold` (`check_settings`, `output_size`), or a frame of another
      size (`video.VideoError`, naming the frame).
  """
  start_boxes, object_ids = frame_loop.check_boxes_and_ids(start_boxes, object_ids)
  check_outputs(output, boxes_out)
  output = None if output is None else pathlib.Path(output)
  boxes_out = None if boxes_out is None else pathlib.Path(boxes_out)
  check_settings(output_scale=output_scale, output_fps=output_fps,
                 score_threshold=score_threshold)
  labels = [str(i) for i in object_ids]
  colors = [drawing.color(k) for k in range(len(object_ids))]
  out_fps = output_fps or fps or video.DEFAULT_FPS
  timing = frame_loop.Timing()
  results, scores = [], []
  with contextlib.ExitStack() as outputs:  # temporary files, renamed when all went well
    video_tmp = outputs.enter_context(outputs_lib.atomic_output(output)) if output else None
    boxes_tmp = outputs.enter_context(outputs_lib.atomic_output(boxes_out)) if boxes_out else None
    writer = None
    try:
      for frame, boxes, frame_scores in frame_loop.tracked_frames(
          tracker, frames, start_boxes, object_ids, input_name, timing):
        results.append(boxes)
        scores.append(frame_scores)
        if output is not None:
          t = time.perf_counter()
          if writer is None:  # the first frame, its boxes checked: the video's size is known
            writer = video.open_video_writer(
                video_tmp, out_fps, output_size(output, frame.shape[:2], output_scale),
                suffix=output.suffix, name=output)
          drawn = drawing.annotate(frame, boxes, labels, colors, scores=frame_scores,
                                   score_threshold=score_threshold)
          writer.write(drawing.resize(drawn, output_scale))
          timing.write_time += time.perf_counter() - t
        if progress is not None:
          progress(timing.progress(num_frames, output is not None))
    except BaseException:
      if writer is not None:
        writer.abort()
      raise
    if writer is not None:
      writer.close()  # checks the file (a full disk: VideoError) before it replaces `output`
    result = TrackResult(np.stack(results).astype(np.float32),
                         np.stack(scores).astype(np.float32), object_ids, frame.shape[0],
                         frame.shape[1], fps, timing.tracker_fps, timing.decode_fps, output,
                         boxes_out)
    if boxes_out is not None:
      if boxes_out.suffix.lower() == '.csv':
        write_boxes_csv(boxes_tmp, result.boxes, object_ids, result.scores)
      else:
        write_boxes_json(boxes_tmp, result, input_name)
  return result


def track_video_file(tracker: tracker_lib.Re3Tracker, input_path: str | os.PathLike,
                     start_boxes: Sequence, *, max_frames: int | None = None,
                     **kwargs) -> TrackResult:
  """Tracks objects through a video file or image folder (see `track_frames`).

  Args:
    tracker: the tracker.
    input_path: a video file or a folder of images (`video.open_frames`).
    start_boxes: N xyxy boxes in the first frame.
    max_frames: track only the first `max_frames` frames.
    **kwargs: more arguments of `track_frames` (output, boxes_out, output_fps,
      output_scale, score_threshold, object_ids, progress).

  Raises:
    ValueError: the errors of `video.open_frames` and `track_frames`, each
      naming the file, frame or box.
  """
  check_settings(max_frames=max_frames,
                 score_threshold=kwargs.get('score_threshold', DEFAULT_SCORE_THRESHOLD))
  check_outputs(kwargs.get('output'), kwargs.get('boxes_out'))  # before decoding anything
  with video.open_frames(input_path) as source:
    total = source.num_frames
    frames: Iterable[np.ndarray] = source
    if max_frames is not None:
      frames = itertools.islice(source, max_frames)
      total = max_frames if total is None else min(total, max_frames)
    return track_frames(tracker, frames, start_boxes, fps=source.fps, num_frames=total,
                        input_name=str(input_path), **kwargs)
