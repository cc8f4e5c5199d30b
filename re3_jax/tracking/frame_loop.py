"""The frame loop that tracking a stream of frames shares: start the objects, track them
frame by frame, measure.

`tracked_frames` yields each frame with its boxes and scores (the objects started at their
boxes in the first frame, all tracked together in one batched network pass per frame:
`tracker.Re3Tracker.multi_track`), timing the input and the tracker in a `Timing`; a
`Progress` is what a progress callback gets after each frame. `track_files.track_frames`
(outputs written whole, atomically) and `track_live.track_stream` (outputs written as frames
arrive) consume it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Iterable, Iterator, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import images as images_lib
from re3_jax.core import progress as progress_lib
from re3_jax.media import video
from re3_jax.tracking import tracker as tracker_lib


@dataclasses.dataclass
class Progress:
  """Where a tracking run is, passed to a progress callback after each frame.

  Attributes:
    frame: frames done.
    total: frames expected (None when unknown).
    tracker_fps: frames/s of the tracker calls after the first (None before
      the second frame).
    decode_fps: frames/s of reading and decoding the input.
    write_fps: frames/s of drawing and encoding the output video (None
      without one).
  """
  frame: int
  total: int | None
  tracker_fps: float | None
  decode_fps: float | None
  write_fps: float | None

  def line(self) -> str:
    """One line of text, e.g. ``frame 40/120: tracker 85.2 frames/s, decode 410.0 ...``."""
    rate = lambda v: '-' if v is None else f'{v:.1f}'
    text = f'frame {self.frame}' + (f'/{self.total}' if self.total else '')
    text += f': tracker {rate(self.tracker_fps)} frames/s, decode {rate(self.decode_fps)} frames/s'
    if self.write_fps is not None:
      text += f', draw+write {rate(self.write_fps)} frames/s'
    return text


def _host_rgb(frame, name: str) -> np.ndarray:
  """`frame` as a host uint8 (H, W, 3) array (other layouts checked by `images.to_rgb`)."""
  if isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and \
      frame.shape[2] == 3 and frame.size:
    return frame
  return np.asarray(images_lib.to_rgb(frame, name))


@dataclasses.dataclass
class Timing:
  """What `tracked_frames` measured so far (and its consumer's drawing and writing).

  Attributes:
    frames: frames tracked.
    track_time, track_frames: seconds and frames of the tracker calls after the first
      (which compiles).
    decode_time: seconds spent taking frames from the input.
    write_time: seconds spent drawing and writing the output video (the consumer's).
  """
  frames: int = 0
  track_time: float = 0.0
  track_frames: int = 0
  decode_time: float = 0.0
  write_time: float = 0.0

  @property
  def tracker_fps(self) -> float | None:
    return progress_lib.rate(self.track_frames, self.track_time)

  @property
  def decode_fps(self) -> float | None:
    return progress_lib.rate(self.frames, self.decode_time)

  def progress(self, total: int | None, writing: bool) -> Progress:
    return Progress(self.frames, total, self.tracker_fps, self.decode_fps,
                    progress_lib.rate(self.frames, self.write_time) if writing else None)


def tracked_frames(tracker: tracker_lib.Re3Tracker, frames: Iterable[np.ndarray],
                   start_boxes: Sequence[np.ndarray], object_ids: Sequence, input_name: str,
                   timing: Timing) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Tracks the objects through `frames`: yields (frame, (N, 4) boxes, (N,) scores) a frame at
  a time, the first frame's boxes being `start_boxes` (what `track_frames` and
  `track_live.track_stream` share; `timing` is updated as it goes).

  The first frame and the boxes in it are checked before anything is yielded, so a consumer
  that opens its outputs at the first frame makes none for a bad box.

  Raises:
    ValueError: no frames; a box outside the first frame (naming it, its object and
      `input_name`); a frame of another size than the first (`video.VideoError`, naming it).
  """
  frames = iter(frames)
  t = time.perf_counter()
  frame = next(frames, None)
  timing.decode_time += time.perf_counter() - t
  if frame is None:
    raise ValueError(f'{input_name} has no frames')
  frame = _host_rgb(frame, f'{input_name} frame 0')
  height, width = frame.shape[:2]
  for k, box in enumerate(start_boxes):
    boxes_lib.validate_box(box, (height, width),
                           f'box {k} (object {object_ids[k]!r}) in the first frame of '
                           f'{input_name}:')
  index = 0
  while frame is not None:
    if index:
      frame = _host_rgb(frame, f'{input_name} frame {index}')
      if frame.shape[:2] != (height, width):
        raise video.VideoError(f'{input_name}: frame {index} is {frame.shape[1]}x'
                               f'{frame.shape[0]}, frame 0 {width}x{height}')
    t = time.perf_counter()
    if index == 0:
      boxes, scores = tracker.multi_track(object_ids, frame, dict(zip(object_ids, start_boxes)),
                                          with_scores=True)
    else:
      boxes, scores = tracker.multi_track(object_ids, frame, with_scores=True)
      timing.track_time += time.perf_counter() - t  # the first call (compiling) is not counted
      timing.track_frames += 1
    index += 1
    timing.frames = index
    yield frame, boxes, scores
    t = time.perf_counter()
    frame = next(frames, None)
    timing.decode_time += time.perf_counter() - t


def check_boxes_and_ids(start_boxes: Sequence, object_ids: Sequence | None
                        ) -> tuple[list[np.ndarray], list]:
  """`start_boxes` as float32 arrays and the object ids (default 0 ... N-1), checked.

  Raises:
    ValueError: no boxes, or not one id per box.
  """
  start_boxes = [np.asarray(b, np.float32) for b in start_boxes]
  if not start_boxes:
    raise ValueError('no boxes to track: give at least one starting box')
  object_ids = list(range(len(start_boxes))) if object_ids is None else list(object_ids)
  if len(object_ids) != len(start_boxes):
    raise ValueError(f'{len(object_ids)} object ids for {len(start_boxes)} boxes')
  return start_boxes, object_ids
