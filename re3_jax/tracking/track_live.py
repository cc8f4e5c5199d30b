"""Tracking a live source (a camera, a stream) with outputs written as frames arrive.

`track_stream` tracks objects from their boxes in the first frame through frames that may
never end (`media.live.LiveSource`, or any iterable of frames), as `track_files.track_frames`
does, but keeps nothing per frame in memory and writes each frame's results at once, in place:
the annotated video frame and the frame's rows of the boxes CSV file (flushed: the file is
complete up to the last frame written, and can be read while it grows). A frame's video frame
and its rows are written together with SIGINT and SIGTERM held (`core.signals.deferred`), so
the two files always hold the same frames.

It stops when the frames end, after `max_frames`, or on Ctrl-C (KeyboardInterrupt) or SIGTERM
(`core.signals.Terminated`), and in every case finishes the outputs: the video file is closed
(and read back: `video.check_mp4`), so it plays, and the result says why it stopped. On an
error after frames were written (a frame of another size) the outputs are finished too, and
the error says how many frames they hold.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import pathlib
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from re3_jax.core import signals
from re3_jax.media import drawing
from re3_jax.media import video
from re3_jax.tracking import frame_loop
from re3_jax.tracking import track_files
from re3_jax.tracking import tracker as tracker_lib

# Why a stream's tracking stopped: StreamResult.stopped -> words.
STOPPED = {'end': 'the input ended', 'max_frames': 'max_frames reached',
           'interrupted': 'interrupted (Ctrl-C)', 'terminated': 'terminated (SIGTERM)'}


@dataclasses.dataclass
class StreamResult:
  """The outcome of `track_stream`.

  Attributes:
    num_frames: frames tracked and written.
    stopped: why it stopped, a key of `STOPPED`.
    object_ids: the N ids.
    height, width: the frames' size (None if no frame was tracked).
    fps: the input's frames per second (None if unknown).
    tracker_fps: frames/s of the tracker calls after the first (None for one frame).
    decode_fps: frames/s of reading the input.
    output, boxes_out: the files written (None if not asked for, or no frame was tracked).
  """
  num_frames: int
  stopped: str
  object_ids: list
  height: int | None
  width: int | None
  fps: float | None
  tracker_fps: float | None
  decode_fps: float | None
  output: pathlib.Path | None = None
  boxes_out: pathlib.Path | None = None

  @property
  def written(self) -> list[pathlib.Path]:
    return [p for p in (self.output, self.boxes_out) if p is not None]


def check_stream_outputs(output: str | os.PathLike | None,
                         boxes_out: str | os.PathLike | None) -> None:
  """`track_files.check_outputs`, and the boxes file a ``.csv`` (a JSON file is written whole).

  Raises:
    ValueError: naming the file.
  """
  track_files.check_outputs(output, boxes_out)
  if boxes_out is not None and pathlib.Path(boxes_out).suffix.lower() != '.csv':
    raise video.VideoError(f'boxes file {boxes_out}: a live source\'s boxes are written as its '
                           'frames arrive, as .csv (a .json file is written whole, at the end)')


class _Outputs:
  """The video writer and the boxes CSV file of a stream, written frame by frame in place."""

  def __init__(self, output: pathlib.Path | None, boxes_out: pathlib.Path | None, fps: float,
               size: tuple[int, int] | None, object_ids: list):
    self.output, self.boxes_out, self.object_ids = output, boxes_out, object_ids
    self.count = 0
    self._writer = self._file = None
    try:
      if output is not None:
        self._writer = video.open_video_writer(output, fps, size)
      if boxes_out is not None:
        self._file = open(boxes_out, 'w', newline='')
        self._csv = csv.writer(self._file)
        self._csv.writerow(track_files.CSV_HEADER)
        self._file.flush()
    except BaseException:
      self.close()
      raise

  def write(self, drawn: np.ndarray | None, boxes: np.ndarray, scores: np.ndarray) -> None:
    if self._writer is not None:
      self._writer.write(drawn)
    if self._file is not None:
      self._csv.writerows(track_files.csv_rows(self.count, self.object_ids, boxes, scores))
      self._file.flush()
    self.count += 1

  def close(self) -> None:
    """Finishes both files (the video read back: `VideoError` if it does not play)."""
    try:
      if self._writer is not None:
        self._writer.close()
    finally:
      if self._file is not None:
        self._file.close()


def track_stream(tracker: tracker_lib.Re3Tracker, frames: Iterable[np.ndarray],
                 start_boxes: Sequence, *, object_ids: Sequence | None = None,
                 output: str | os.PathLike | None = None,
                 boxes_out: str | os.PathLike | None = None, fps: float | None = None,
                 output_fps: float | None = None, output_scale: float = 1.0,
                 score_threshold: float = track_files.DEFAULT_SCORE_THRESHOLD,
                 max_frames: int | None = None, input_name: str = 'stream',
                 progress: Callable[[frame_loop.Progress], None] | None = None) -> StreamResult:
  """Tracks objects through frames as they arrive, writing the outputs as it goes.

  Ctrl-C (a `KeyboardInterrupt` from the frames, the tracker or a signal) or SIGTERM stops it
  like the input's end: the outputs are finished and the result returned, its `stopped`
  saying so (a command line's `re3_jax.cli.run` then still ends with status 130 or 143: the
  signal was recorded). Output files are created at the first frame (none for a bad box) and
  written in place (an existing file is replaced at once, not at the end).

  Args:
    tracker, frames, start_boxes, object_ids, output, fps, output_fps, output_scale,
      score_threshold, input_name, progress: as `track_files.track_frames`'s.
    boxes_out: a ``.csv`` file of the boxes and scores (`track_files.write_boxes_csv`'s
      rows), written frame by frame.
    max_frames: stop after this many frames (None: when the frames end).

  Returns:
    A `StreamResult`.

  Raises:
    ValueError: what `track_files.track_frames` raises; a ``.json`` `boxes_out`; after frames
      were written, an error of the input (`video.VideoError`), saying how many frames the
      outputs hold.
  """
  start_boxes, object_ids = frame_loop.check_boxes_and_ids(start_boxes, object_ids)
  check_stream_outputs(output, boxes_out)
  output = None if output is None else pathlib.Path(output)
  boxes_out = None if boxes_out is None else pathlib.Path(boxes_out)
  track_files.check_settings(max_frames=max_frames, output_scale=output_scale,
                             output_fps=output_fps, score_threshold=score_threshold)
  if max_frames is not None:
    frames = itertools.islice(frames, max_frames)
  labels = [str(i) for i in object_ids]
  colors = [drawing.color(k) for k in range(len(object_ids))]
  timing = frame_loop.Timing()
  outputs, size = None, (None, None)
  try:
    try:
      for frame, boxes, scores in frame_loop.tracked_frames(tracker, frames, start_boxes,
                                                            object_ids, input_name, timing):
        t = time.perf_counter()
        if outputs is None:  # the first frame, its boxes checked
          size = frame.shape[:2]
          out_size = track_files.output_size(output, size, output_scale) if output else None
          with signals.deferred():
            outputs = _Outputs(output, boxes_out, output_fps or fps or video.DEFAULT_FPS,
                               out_size, object_ids)
        drawn = None if output is None else drawing.resize(
            drawing.annotate(frame, boxes, labels, colors, scores=scores,
                             score_threshold=score_threshold), output_scale)
        with signals.deferred():  # the frame in both files, or in neither
          outputs.write(drawn, boxes, scores)
        timing.write_time += time.perf_counter() - t
        if progress is not None:
          progress(timing.progress(max_frames, output is not None))
        signals.check()  # a signal swallowed on the way (in JAX's gc callback) stops it here
      stopped = 'max_frames' if max_frames is not None and timing.frames >= max_frames else 'end'
    except KeyboardInterrupt as e:
      stopped = 'terminated' if isinstance(e, signals.Terminated) else 'interrupted'
  except (ValueError, OSError) as e:
    if outputs is None:
      raise
    with signals.deferred():
      outputs.close()
    files = ', '.join(str(p) for p in (output, boxes_out) if p is not None)
    raise video.VideoError(f'{e} (tracking stopped there; {files} hold the {outputs.count} '
                           'frames before it)') from e
  except BaseException:
    if outputs is not None:
      with signals.deferred():
        outputs.close()
    raise
  if outputs is not None:
    with signals.deferred():
      outputs.close()
  written = outputs is not None
  return StreamResult(outputs.count if written else 0, stopped, object_ids, size[0], size[1],
                      fps, timing.tracker_fps, timing.decode_fps,
                      output if written else None, boxes_out if written else None)
