"""Live sources: a camera by its index or a stream by its URL, read as frames arrive.

`parse_live` tells whether an input names one: a non-negative integer (``0``: the first
camera OpenCV finds; a file named ``0`` is ``./0``) or a URL (``SCHEME://...``: ``rtsp://``,
``http://``, ``https://``, ``udp://``, ``file://``, whatever OpenCV's FFmpeg opens).
`LiveSource` opens it with ``cv2.VideoCapture`` and yields its frames as uint8 RGB (H, W, 3)
until the stream ends (a read that fails or times out ends it); it is a
`video.FrameSource`, so whatever tracks a video file tracks it. A source that cannot be
opened, or opens and gives no frame, is a `video.VideoError` naming it (a URL's password
shown as ``***``), with OpenCV's own warnings about it silenced.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from re3_jax.media import video

# How long opening a stream, or waiting for its next frame, may take (OpenCV's FFmpeg
# backend; a camera's driver has its own).
TIMEOUT_MS = 10_000
# A frame rate a source reports above this is not believed (streams report e.g. 90000, the
# RTP clock): the output video then gets --fps or the default.
MAX_FPS = 240.0
_URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')


def parse_live(text: str) -> int | str | None:
  """The live source `text` names: a camera index (``'0'`` -> 0), a URL (as given), or None
  (a path)."""
  if text.isascii() and text.isdigit():
    return int(text)
  if _URL.match(text):
    return text
  return None


def describe(source: int | str) -> str:
  """``camera 0`` or ``stream URL``, the URL's password replaced by ``***`` (errors and logs
  name sources this way)."""
  if isinstance(source, int):
    return f'camera {source}'
  parts = urllib.parse.urlsplit(source)
  userinfo, at, hostport = parts.netloc.rpartition('@')
  if at and ':' in userinfo:
    netloc = f'{userinfo.split(":", 1)[0]}:***@{hostport}'
    source = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
  return f'stream {source}'


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
  """OpenCV's own log at errors only: its warnings on a failed open (``can't open camera by
  index``, one per backend tried) say less than the error raised instead."""
  logging = cv2.utils.logging
  level = logging.getLogLevel()
  logging.setLogLevel(logging.LOG_LEVEL_ERROR)
  try:
    yield
  finally:
    logging.setLogLevel(level)


def _open_capture(source: int | str, timeout_ms: int):
  return cv2.VideoCapture(source, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                                cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])


class LiveSource(video.FrameSource):
  """Frames of a camera or stream as they arrive (`video.FrameSource`: the first frame is read
  when it opens).

  Attributes:
    source: the camera index or URL.
    name: how errors name it (`describe`).
    fps: the frame rate the source reports (None when it reports none, or one over
      `MAX_FPS`).
    num_frames: None (a live source has no known length).
  """

  def __init__(self, source: int | str, *, timeout_ms: int = TIMEOUT_MS,
               open_capture: Callable[[int | str], Any] | None = None):
    """Opens `source` (`open_capture(source)` makes the ``cv2.VideoCapture``-like reader:
    a test's stand-in for a camera; default ``cv2.VideoCapture`` with `timeout_ms`).

    Raises:
      video.VideoError: naming the source: it does not open, or gives no first frame.
    """
    self.source = source
    self.name = describe(source)
    self.path = None
    self.num_frames = None
    self._index = 0
    with _quiet_opencv():
      self._capture = (_open_capture(source, timeout_ms) if open_capture is None
                       else open_capture(source))
      opened = self._capture.isOpened()
    if not opened:
      self._capture.release()
      if isinstance(source, int):
        raise video.VideoError(
            f'cannot open {self.name}: OpenCV finds no camera it can read at index {source} '
            '(none there, in use by another program, or no permission; cameras count from 0)')
      raise video.VideoError(
          f'cannot open {self.name}: OpenCV could not connect to it within '
          f'{timeout_ms / 1000:g} s, or does not decode it')
    fps = self._capture.get(cv2.CAP_PROP_FPS)
    self.fps = float(fps) if np.isfinite(fps) and 0 < fps <= MAX_FPS else None
    first = self._next()
    if first is None:
      self._capture.release()
      raise video.VideoError(f'{self.name} opened but gave no frame within '
                             f'{timeout_ms / 1000:g} s')
    super().__init__(first)

  def _next(self) -> np.ndarray | None:
    ok, bgr = self._capture.read()
    if not ok or bgr is None or not bgr.size:
      return None
    self._index += 1
    return video.bgr_to_rgb(bgr)

  def _rest(self) -> Iterator[np.ndarray]:
    while True:
      frame = self._next()
      if frame is None:  # the stream ended (or stopped sending for the read timeout)
        return
      if frame.shape[:2] != (self.height, self.width):
        raise video.VideoError(f'{self.name}: frame {self._index - 1} is {frame.shape[1]}x'
                               f'{frame.shape[0]}, frame 0 {self.width}x{self.height}')
      yield frame

  def close(self) -> None:
    self._capture.release()
