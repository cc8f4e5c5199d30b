"""Track assembly: the per-frame annotations of one video (`re3_jax.datasets.annotations`)
become `Track`s, one object through consecutive frames, the examples of the track datasets.

VID videos give one track per trackid (`vid_tracks`); an ALOV video gives one track,
interpolated between its annotated frames (`alov_track`). Boxes are clipped to the image
(`clip_boxes`); what is skipped (degenerate boxes, short tracks, duplicate objects) is
counted in an `annotations.SkipCounter` under the rule of `re3_jax.datasets.annotations`.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from re3_jax.datasets import annotations


@dataclasses.dataclass(frozen=True)
class Track:
  """One object through consecutive frames of a video: one dataset example.

  Frames run from the object's first to its last visible frame.

  Attributes:
    track_id: the VID trackid (ALOV 0).
    label: the VID wnid or the ALOV category.
    frame_index: (T,) int32 0-based indices of the frames in their video.
    boxes: (T, 4) float32 xyxy pixels, zeros where not visible.
    visible: (T,) bool.
    occluded: (T,) bool (VID ``<occluded>``; ALOV False).
    interpolated: (T,) bool (VID ``<generated>``; ALOV frames between
      annotated frames).
  """
  track_id: int
  label: str
  frame_index: np.ndarray
  boxes: np.ndarray
  visible: np.ndarray
  occluded: np.ndarray
  interpolated: np.ndarray

  def __len__(self) -> int:
    return len(self.frame_index)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
  """Clips (N, 4) xyxy boxes to ``[0, W] x [0, H]``.

  Returns:
    (clipped float32 boxes with zeros where degenerate, (N,) bool valid): a box
    is degenerate if it has a NaN/infinite value or ``x2 <= x1`` or
    ``y2 <= y1`` after clipping.
  """
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  finite = np.all(np.isfinite(boxes), axis=-1)
  safe = np.where(finite[:, None], boxes, 0)
  clipped = np.clip(safe, 0, np.array([width, height, width, height], np.float32))
  valid = finite & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
  return np.where(valid[:, None], clipped, 0).astype(np.float32), valid


def _finish_track(track: Track, skips: annotations.SkipCounter, where: str) -> Track | None:
  """Trims leading/trailing invisible frames; None (counted) if < 2 visible."""
  visible = np.flatnonzero(track.visible)
  if len(visible) < 2:
    skips.add('short_tracks', where)
    return None
  keep = slice(visible[0], visible[-1] + 1)
  return Track(track.track_id, track.label, track.frame_index[keep].astype(np.int32),
               track.boxes[keep], track.visible[keep], track.occluded[keep],
               track.interpolated[keep])


def vid_tracks(frames: Sequence[annotations.VidFrame], frame_index: Sequence[int],
               skips: annotations.SkipCounter, where: str = '') -> list[Track]:
  """Turns the per-frame objects of one VID video into one track per trackid.

  Each track runs from its first to its last visible frame; frames where the
  object is absent or its box is degenerate (counted ``degenerate_boxes``)
  are not visible, with zero boxes. Tracks with fewer than 2 visible frames are
  counted ``short_tracks`` and dropped; a repeated trackid within a frame is
  counted ``duplicate_objects`` (the first is kept).

  Args:
    frames: the video's annotations, in frame order.
    frame_index: the 0-based index of each frame in the video.
    skips: receives the counts.
    where: the video's name, for the examples in `skips`.

  Returns:
    The tracks, ordered by trackid.
  """
  n = len(frames)
  per_track: dict[int, dict[int, annotations.VidObject]] = {}
  for t, frame in enumerate(frames):
    for obj in frame.objects:
      objs = per_track.setdefault(obj.trackid, {})
      if t in objs:
        skips.add('duplicate_objects', f'{where} frame {frame_index[t]} trackid {obj.trackid}')
        continue
      objs[t] = obj
  tracks = []
  for trackid in sorted(per_track):
    objs = per_track[trackid]
    raw = np.zeros((n, 4), np.float32)
    present = np.zeros(n, bool)
    occluded = np.zeros(n, bool)
    interpolated = np.zeros(n, bool)
    for t, obj in objs.items():
      raw[t], present[t] = obj.box, True
      occluded[t], interpolated[t] = obj.occluded, obj.generated
    clipped = np.zeros((n, 4), np.float32)
    valid = np.zeros(n, bool)
    for t in np.flatnonzero(present):
      box, ok = clip_boxes(raw[t], frames[t].height, frames[t].width)
      clipped[t], valid[t] = box[0], ok[0]
      if not ok[0]:
        skips.add('degenerate_boxes', f'{where} frame {frame_index[t]} trackid {trackid}')
    label = objs[min(objs)].name
    track = Track(trackid, label, np.asarray(frame_index, np.int32), clipped, valid,
                  occluded & valid, interpolated & valid)
    track = _finish_track(track, skips, f'{where} trackid {trackid}')
    if track is not None:
      tracks.append(track)
  return tracks


def alov_track(frame_numbers: np.ndarray, boxes: np.ndarray, height: int, width: int,
               label: str, skips: annotations.SkipCounter, where: str = '') -> Track | None:
  """Interpolates an ALOV annotation into a per-frame track.

  Frames between two annotated frames get the linear interpolation of their
  boxes (``interpolated=True``); frames before the first or after the last
  annotation are not part of the track. Boxes are clipped to the image;
  degenerate ones are counted and not visible.

  Args:
    frame_numbers: (N,) strictly increasing 1-based annotated frame numbers.
    boxes: (N, 4) xyxy boxes of those frames.
    height: the frames' height.
    width: the frames' width.
    label: the ALOV category.
    skips: receives the counts.
    where: the video's name, for the examples in `skips`.

  Returns:
    The track (track_id 0, frame_index = frame number - 1), or None if it has
    fewer than 2 visible frames (counted ``short_tracks``).
  """
  frame_numbers = np.asarray(frame_numbers, np.int64)
  boxes = np.asarray(boxes, np.float32)
  numbers = np.arange(frame_numbers[0], frame_numbers[-1] + 1)
  raw = np.stack([np.interp(numbers, frame_numbers, boxes[:, k].astype(np.float64))
                  for k in range(4)], axis=-1).astype(np.float32)
  annotated = np.isin(numbers, frame_numbers)
  raw[annotated] = boxes  # Exactly the file's values (np.interp is exact there, but be sure).
  clipped, valid = clip_boxes(raw, height, width)
  for number in numbers[~valid]:
    skips.add('degenerate_boxes', f'{where} frame {number}')
  n = len(numbers)
  track = Track(0, label, (numbers - 1).astype(np.int32), clipped, valid, np.zeros(n, bool),
                ~annotated & valid)
  return _finish_track(track, skips, where)
