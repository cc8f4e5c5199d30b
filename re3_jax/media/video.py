"""Frames in and out for tracking any video: sources, writers, atomic outputs (drawing on
frames: `re3_jax.media.drawing`).

Sources (`open_frames`) read a video file (OpenCV; its BGR frames are turned
into RGB) or a folder of images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``,
sorted naturally: ``frame2.png`` before ``frame10.png``) one frame at a time,
so a video is never held in memory. Each yields uint8 RGB (H, W, 3) frames, all
of the first frame's size.

Writers (`open_video_writer`) take the same frames: ``.mp4`` through
``cv2.VideoWriter`` (MPEG-4 Part 2, ``mp4v``, which every OpenCV build can
encode) and ``.gif`` through a streaming GIF encoder (each frame quantised to
its own 256-colour palette with Pillow and appended to the file at once). Closing an mp4
writer reads the file back (`check_mp4`: it opens, counts the frames written, its last frame
decodes), since OpenCV's writer reports no error: on a full disk it leaves a truncated file.

Outputs are written under a temporary name and moved into place when complete
(`re3_jax.core.outputs.atomic_output`).

Errors name the file (and frame): `VideoError`, a `ValueError`. A writer refuses
frames its format cannot hold (`FRAME_SIDES`) and a frame rate that is not > 0.
"""

from __future__ import annotations

import os
import pathlib
from typing import Iterator, Sequence

import cv2
import numpy as np
from PIL import GifImagePlugin, Image

from re3_jax.core import images as images_lib

VIDEO_OUTPUTS = ('.mp4', '.gif')
MP4_FOURCC = 'mp4v'
DEFAULT_FPS = 30.0
# Browsers show GIF frame delays under 20 ms as 100 ms; GIF delays are in 10 ms units.
MIN_GIF_DELAY_MS = 20
# The sides an output frame may have, in pixels: OpenCV's mp4v encoder (FFmpeg's MPEG-4
# Part 2) refuses a side of 1 or over 8191 (measured with OpenCV 5.0); GIF stores sizes in
# 16 bits.
FRAME_SIDES = {'.mp4': (2, 8191), '.gif': (1, 65535)}

class VideoError(ValueError):
  """An input or output that cannot be used; the message names the file (and frame)."""


def image_files(folder: str | os.PathLike) -> list[pathlib.Path]:
  """The image files of `folder` (`images.list_images`: natural order), at least one.

  Raises:
    VideoError: `folder` is not a directory or holds no images.
  """
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise VideoError(f'{folder} is not a folder')
  paths = images_lib.list_images(folder)
  if not paths:
    raise VideoError(f'folder {folder} holds no images '
                     f'({", ".join(images_lib.IMAGE_SUFFIXES)})')
  return paths


class FrameSource:
  """Frames of a video file or image folder, read one at a time (see `open_frames`).

  The first frame is read when the source opens, so its size is known and a
  broken input fails at once. Iterating yields every frame from the first,
  each (H, W, 3) uint8 RGB; a source can be iterated once.

  Attributes:
    path: the input.
    fps: frames per second of a video file (None for a folder or when the
      container does not say).
    num_frames: the frame count (a video container's count may be approximate;
      None when unknown).
    height, width: the frames' size.
  """

  path: pathlib.Path
  fps: float | None
  num_frames: int | None

  def __init__(self, first: np.ndarray):
    self.first = first
    self.height, self.width = first.shape[:2]

  def _rest(self) -> Iterator[np.ndarray]:
    raise NotImplementedError

  def __iter__(self) -> Iterator[np.ndarray]:
    yield self.first
    yield from self._rest()

  def close(self) -> None:
    pass

  def __enter__(self) -> FrameSource:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


class FolderSource(FrameSource):
  """The images of a folder in natural order (see `image_files`)."""

  def __init__(self, folder: str | os.PathLike):
    self.path = pathlib.Path(folder)
    self.paths = image_files(self.path)
    self.fps = None
    self.num_frames = len(self.paths)
    super().__init__(self._read(0))

  def _read(self, index: int) -> np.ndarray:
    try:
      frame = images_lib.read_frame(self.paths[index])
    except ValueError as e:
      raise VideoError(f'frame {index}: {e}') from e
    if index and frame.shape[:2] != (self.height, self.width):
      raise VideoError(f'frame {index} {self.paths[index]} is {frame.shape[1]}x{frame.shape[0]} '
                       f'but frame 0 {self.paths[0].name} is {self.width}x{self.height} '
                       '(width x height); all frames must have one size')
    return frame

  def _rest(self) -> Iterator[np.ndarray]:
    for index in range(1, len(self.paths)):
      yield self._read(index)


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
  """A frame OpenCV decoded (BGR, BGRA or gray) as RGB."""
  if bgr.ndim == 2:
    return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
  return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB)


class VideoFileSource(FrameSource):
  """The frames of a video file decoded by OpenCV (FFmpeg), converted to RGB."""

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)
    if not self.path.is_file():
      raise VideoError(f'{self.path} does not exist' if not self.path.exists()
                       else f'{self.path} is not a file')
    self._capture = cv2.VideoCapture(str(self.path))
    if not self._capture.isOpened():
      self._capture.release()
      raise VideoError(f'cannot read {self.path}: OpenCV cannot open it as a video (a broken '
                       'file, or a format this OpenCV build does not decode)')
    fps = self._capture.get(cv2.CAP_PROP_FPS)
    self.fps = float(fps) if np.isfinite(fps) and fps > 0 else None
    count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
    self.num_frames = count if count > 0 else None
    self._index = 0
    first = self._next()
    if first is None:
      self._capture.release()
      raise VideoError(f'cannot read {self.path}: no frame could be decoded')
    super().__init__(first)

  def _next(self) -> np.ndarray | None:
    ok, bgr = self._capture.read()
    if not ok:
      return None
    self._index += 1
    return bgr_to_rgb(bgr)

  def _rest(self) -> Iterator[np.ndarray]:
    while True:
      frame = self._next()
      if frame is None:
        return
      if frame.shape[:2] != (self.height, self.width):
        raise VideoError(f'{self.path}: frame {self._index - 1} is {frame.shape[1]}x'
                         f'{frame.shape[0]}, frame 0 {self.width}x{self.height}')
      yield frame

  def close(self) -> None:
    self._capture.release()


def open_frames(path: str | os.PathLike) -> FrameSource:
  """Opens a video file or a folder of images for reading frame by frame.

  Raises:
    VideoError: naming the path: it does not exist, is an empty folder, or
      its first frame cannot be read.
  """
  path = pathlib.Path(path)
  if path.is_dir():
    return FolderSource(path)
  if not path.exists():
    raise VideoError(f'input {path} does not exist')
  return VideoFileSource(path)


# ----------------------------------------------------------------------------
# Writers.


def check_output_suffix(path: str | os.PathLike, allowed: Sequence[str], what: str) -> str:
  """The lower-case suffix of output `path`, one of `allowed`.

  Raises:
    VideoError: naming the path and the allowed extensions.
  """
  suffix = pathlib.Path(path).suffix.lower()
  if suffix not in allowed:
    raise VideoError(f'unknown {what} extension {suffix or "(none)"!r} in {path}: use '
                     + ' or '.join(allowed))
  return suffix


def check_frame_size(size: tuple[int, int], suffix: str) -> str | None:
  """Why frames of `size` (height, width) cannot be written as `suffix`; None if they can."""
  lo, hi = FRAME_SIDES[suffix]
  if all(lo <= side <= hi for side in size):
    return None
  return f'{suffix} frames must be {lo} to {hi} pixels a side'


class VideoWriter:
  """Writes RGB frames of one size to a video file; `close` finishes the file and checks it.

  `close` raises `VideoError` naming the file when what was written cannot be read back
  as the frames given (a full disk: OpenCV's writer reports nothing); `abort` only
  releases the file, for a write that failed anyway. As a context manager, a block that
  raises aborts and one that succeeds closes.
  """

  SUFFIX = ''

  def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
               name: str | os.PathLike | None = None):
    self.path = pathlib.Path(path)
    self.name = pathlib.Path(name) if name is not None else self.path  # in errors
    self.fps = float(fps)
    if not (np.isfinite(self.fps) and self.fps > 0):
      raise VideoError(f'{self.name}: frames per second must be > 0, got {fps}')
    self.height, self.width = size
    problem = check_frame_size(size, self.SUFFIX)
    if problem:
      raise VideoError(f'cannot write {self.name}: its frames would be {self.width}x{self.height} '
                       f'(width x height), but {problem}')
    self.count = 0

  def write(self, frame: np.ndarray) -> None:
    if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
      raise VideoError(f'{self.name}: frame {self.count} is {frame.dtype} {frame.shape}, '
                       f'expected uint8 {(self.height, self.width, 3)}')
    self._write(frame)
    self.count += 1

  def _write(self, frame: np.ndarray) -> None:
    raise NotImplementedError

  def close(self) -> None:
    raise NotImplementedError

  def abort(self) -> None:
    """Releases the file without checking it (it is deleted or left incomplete anyway)."""
    self.close()

  def __enter__(self) -> VideoWriter:
    return self

  def __exit__(self, exc_type, *exc) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()


class Mp4Writer(VideoWriter):
  """An MPEG-4 (``mp4v``) file through OpenCV."""

  SUFFIX = '.mp4'

  def __init__(self, path, fps, size, name=None):
    super().__init__(path, fps, size, name)
    self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*MP4_FOURCC),
                                   self.fps, (self.width, self.height))
    if not self._writer.isOpened():
      raise VideoError(f'cannot write {self.name}: OpenCV has no {MP4_FOURCC} encoder for it')

  def _write(self, frame):
    self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

  def abort(self):
    self._writer.release()

  def close(self):
    if not self._writer.isOpened():  # closed already
      return
    self._writer.release()
    check_mp4(self.path, self.count, self.name)


def check_mp4(path: str | os.PathLike, num_frames: int,
              name: str | os.PathLike | None = None) -> None:
  """Checks that `path` opens as a video of `num_frames` frames whose last frame decodes.

  OpenCV's ``VideoWriter`` reports no write error: on a full disk it leaves a
  truncated file (no ``moov`` atom, or frames missing) and says nothing.

  Raises:
    VideoError: naming the file (`name`, e.g. the destination of a temporary `path`) and
      what is wrong with it.
  """
  if not num_frames:
    return  # nothing to check: a video of no frames need not open
  problem = None
  capture = cv2.VideoCapture(str(path))
  try:
    if not capture.isOpened():
      problem = 'it does not open as a video'
    else:
      count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
      if count != num_frames:
        problem = f'it holds {max(count, 0)} frames'
      else:
        capture.set(cv2.CAP_PROP_POS_FRAMES, num_frames - 1)
        if not capture.read()[0]:
          problem = f'its last frame ({num_frames - 1}) does not decode'
  finally:
    capture.release()
  if problem:
    size = os.path.getsize(path) if os.path.exists(path) else 0
    raise VideoError(f'writing {name or path} failed: {num_frames} frames were written but {problem} '
                     f'({size} bytes; a full disk?)')


class GifWriter(VideoWriter):
  """An animated GIF, looping, written frame by frame (nothing kept in memory).

  Each frame gets its own 256-colour palette (a local colour table), encoded
  by Pillow's `GifImagePlugin.getheader` / `getdata` (Pillow's own
  ``save_all`` keeps every frame until the end). The frame delay is 1/fps
  rounded to GIF's 10 ms units, at least `MIN_GIF_DELAY_MS`.
  """

  SUFFIX = '.gif'

  def __init__(self, path, fps, size, name=None):
    super().__init__(path, fps, size, name)
    self.delay_ms = max(MIN_GIF_DELAY_MS, 10 * round(100 / self.fps))
    self._file = open(self.path, 'wb')

  def _write(self, frame):
    image = Image.fromarray(frame).quantize(colors=256)
    if self.count == 0:
      header, _ = GifImagePlugin.getheader(image, info={'loop': 0, 'duration': self.delay_ms})
      self._file.write(b''.join(header))
    chunks = GifImagePlugin.getdata(image, duration=self.delay_ms, include_color_table=True)
    self._file.write(b''.join(chunks))

  def close(self):
    if not self._file.closed:
      try:
        self._file.write(b';')  # the GIF trailer
      finally:
        self._file.close()  # a failed write (a full disk) raises OSError here or above

  def abort(self):
    try:
      self._file.close()
    except OSError:  # flushing onto a full disk: the file is deleted anyway
      pass


def open_video_writer(path: str | os.PathLike, fps: float, size: tuple[int, int],
                      suffix: str | None = None,
                      name: str | os.PathLike | None = None) -> VideoWriter:
  """A writer for `path` by its extension (or `suffix`): ``.mp4`` or ``.gif``.

  Args:
    path: the file to write.
    fps: frames per second.
    size: (height, width) of the frames.
    suffix: the format, when `path` is a temporary name (see `atomic_output`).
    name: the file to name in errors, when `path` is a temporary name (default `path`).
  """
  suffix = check_output_suffix(path if suffix is None else f'x{suffix}', VIDEO_OUTPUTS, 'video')
  return (GifWriter if suffix == '.gif' else Mp4Writer)(path, fps, size, name)
