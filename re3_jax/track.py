r"""Tracks objects through any video: ``python -m re3_jax.track``.

Command line::

  python -m re3_jax.track --checkpoint=DIR --input=VIDEO_OR_IMAGE_FOLDER \
      --box=x1,y1,x2,y2 [--box=x1,y1,x2,y2 ...] [--output=out.mp4|out.gif] \
      [--boxes_out=boxes.csv|boxes.json]

The input is a video file OpenCV can decode or a folder of images (``.jpg``,
``.jpeg``, ``.png``, ``.bmp``, sorted naturally). Each ``--box`` starts one
object in the first frame (``x1,y1,x2,y2`` pixels, 0-based); all objects are
tracked together, one batched network pass per frame
(`tracker.Re3Tracker.multi_track`). Frames are decoded, tracked, drawn and
written one at a time: the video is never held in memory.

Outputs:

* ``--output``: the frames with each object's box in its own colour and its
  id; ``.mp4`` (OpenCV, ``mp4v``) or ``.gif`` (see `re3_jax.media.video`).
* ``--boxes_out``: ``.csv`` with a header line and one row per frame and
  object, ``frame,object_id,x1,y1,x2,y2`` (frame: 0-based index into the
  input's frames; object_id: 0-based position of its ``--box``), or ``.json``
  (see `write_boxes_json`).

Outputs are written under temporary names beside them and renamed when the
whole video is done; an error or Ctrl-C deletes them, so an output file is
always complete. A progress line on stderr gives the tracker's frames/s (the
network calls alone, after the first, which compiles) apart from decoding's.

Without ``--checkpoint``, ``--config=tiny|small|paper`` tracks with random
weights (a warning says so: such boxes mean nothing; for tests and timing).
Giving neither is an error.

Importing this module defines no flags (they are defined when it runs as the
program, in `_define_flags`): other entry points define flags of the same
names at import and may share a process with it. The library functions
(`track_video_file`, `track_frames`, `make_tracker`) take plain arguments.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import json
import os
import pathlib
import sys
import time
from typing import Callable, Iterable, Sequence
import warnings

from absl import app
from absl import flags
import numpy as np

from re3_jax import cli
from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import images as images_lib
from re3_jax.media import video
from re3_jax.tracking import tracker as tracker_lib

BOXES_OUTPUTS = ('.csv', '.json')
CSV_HEADER = ('frame', 'object_id', 'x1', 'y1', 'x2', 'y2')
BOX_FORMAT = 'x1,y1,x2,y2 float pixels, 0-based; the top-left pixel covers [0,1)x[0,1)'


def parse_box(text: str) -> np.ndarray:
  """Parses ``x1,y1,x2,y2`` (commas, optional spaces) into a (4,) float32 box.

  Raises:
    ValueError: naming `text`, if it is not 4 finite numbers with x1 < x2 and
      y1 < y2.
  """
  fields = [f.strip() for f in str(text).split(',')]
  try:
    values = [float(f) for f in fields]
  except ValueError:
    raise ValueError(f'malformed box {text!r}: expected 4 comma-separated numbers '
                     'x1,y1,x2,y2') from None
  if len(values) != 4:
    raise ValueError(f'malformed box {text!r}: expected 4 comma-separated numbers x1,y1,x2,y2, '
                     f'got {len(values)}')
  return boxes_lib.validate_box(values, name=f'box {text!r}')


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


@dataclasses.dataclass
class TrackResult:
  """The outcome of `track_frames`.

  Attributes:
    boxes: (T, N, 4) float32 xyxy boxes, frame by object; row 0 holds the
      starting boxes.
    object_ids: the N ids (0 ... N-1 in `--box` order by default).
    height, width: the frames' size.
    fps: the input's frames per second (None if unknown).
    tracker_fps: frames/s of the tracker calls after the first (None for one frame).
    decode_fps: frames/s of reading the input.
    output, boxes_out: the files written (None if not asked for).
  """
  boxes: np.ndarray
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


def write_boxes_csv(path: str | os.PathLike, boxes: np.ndarray, object_ids: Sequence) -> None:
  """Writes (T, N, 4) boxes as CSV: a header, then ``frame,object_id,x1,y1,x2,y2`` rows.

  Rows go frame by frame, objects in order within a frame; coordinates have 3
  decimals.
  """
  with open(path, 'w', newline='') as f:
    out = csv.writer(f)
    out.writerow(CSV_HEADER)
    for t, frame_boxes in enumerate(np.asarray(boxes)):
      for object_id, box in zip(object_ids, frame_boxes):
        out.writerow([t, object_id] + [f'{v:.3f}' for v in box])


def write_boxes_json(path: str | os.PathLike, result: TrackResult, input_name: str) -> None:
  """Writes the boxes of `result` as JSON.

  Structure::

    {"input": "clip.mp4", "width": 640, "height": 360, "fps": 30.0 (or null),
     "num_frames": T, "box_format": "x1,y1,x2,y2 float pixels, 0-based; ...",
     "objects": [{"object_id": 0, "boxes": [[x1, y1, x2, y2], ... T boxes]}, ...]}

  ``objects[k]["boxes"][t]`` is object k's box in frame t (0-based);
  ``boxes[0]`` is its starting box.
  """
  boxes = np.round(np.asarray(result.boxes, np.float64), 3)
  doc = {'input': input_name, 'width': result.width, 'height': result.height, 'fps': result.fps,
         'num_frames': result.num_frames, 'box_format': BOX_FORMAT,
         'objects': [{'object_id': object_id, 'boxes': boxes[:, k].tolist()}
                     for k, object_id in enumerate(result.object_ids)]}
  pathlib.Path(path).write_text(json.dumps(doc, indent=1) + '\n')


def read_boxes_csv(path: str | os.PathLike) -> tuple[np.ndarray, list[int]]:
  """Reads a `write_boxes_csv` file back: ((T, N, 4) boxes, object ids)."""
  with open(path, newline='') as f:
    rows = list(csv.reader(f))
  if not rows or tuple(rows[0]) != CSV_HEADER:
    raise ValueError(f'{path}: expected the header {",".join(CSV_HEADER)}')
  ids = list(dict.fromkeys(int(r[1]) for r in rows[1:]))
  values = np.asarray([[float(v) for v in r[2:]] for r in rows[1:]], np.float32)
  return values.reshape(-1, len(ids), 4), ids


def check_outputs(output: str | os.PathLike | None, boxes_out: str | os.PathLike | None) -> None:
  """Checks the output files' extensions and that their folders exist, before any work.

  Raises:
    ValueError: naming the file: an unknown extension or a missing folder.
  """
  for path, allowed, what in ((output, video.VIDEO_OUTPUTS, 'output video'),
                              (boxes_out, BOXES_OUTPUTS, 'boxes file')):
    if path is None:
      continue
    path = pathlib.Path(path)
    video.check_output_suffix(path, allowed, what)
    if not path.absolute().parent.is_dir():
      raise video.VideoError(f'cannot write {what} {path}: folder {path.parent} does not exist')


def _host_rgb(frame, name: str) -> np.ndarray:
  """`frame` as a host uint8 (H, W, 3) array (other layouts checked by `images.to_rgb`)."""
  if isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and \
      frame.shape[2] == 3 and frame.size:
    return frame
  return np.asarray(images_lib.to_rgb(frame, name))


def _rate(count: int, seconds: float) -> float | None:
  return count / seconds if count and seconds > 0 else None


def track_frames(tracker: tracker_lib.Re3Tracker, frames: Iterable[np.ndarray],
                 start_boxes: Sequence, *, object_ids: Sequence | None = None,
                 output: str | os.PathLike | None = None,
                 boxes_out: str | os.PathLike | None = None, fps: float | None = None,
                 output_fps: float | None = None, output_scale: float = 1.0,
                 num_frames: int | None = None, input_name: str = 'frames',
                 progress: Callable[[Progress], None] | None = None) -> TrackResult:
  """Tracks objects from their boxes in the first frame through a stream of frames.

  Frames are taken from `frames` one at a time, tracked in one batched pass
  per frame, drawn and written at once. Outputs are written to temporary
  files renamed at the end (`video.atomic_output`): if anything fails (or
  Ctrl-C), no output file appears and existing ones are left as they were.

  Args:
    tracker: the tracker; the objects are started in it under `object_ids`.
    frames: (H, W, 3) uint8 RGB frames of one size (see `images.to_rgb` for
      other layouts), e.g. a `video.FrameSource`.
    start_boxes: N xyxy boxes in the first frame.
    object_ids: N track ids (default 0 ... N-1), also the labels drawn.
    output: an annotated ``.mp4`` or ``.gif`` to write.
    boxes_out: a ``.csv`` or ``.json`` file of the boxes to write.
    fps: the input's frames per second, recorded in the JSON and the default
      of `output_fps`.
    output_fps: the output video's frames per second (default `fps`, else 30).
    output_scale: scale of the output video's frames (e.g. 0.5 for a small GIF).
    num_frames: the expected frame count, for progress lines.
    input_name: how to name the input in errors and in the JSON.
    progress: called with a `Progress` after each frame.

  Returns:
    A `TrackResult`.

  Raises:
    ValueError: a bad box (naming it; a box entirely outside the first frame
      included), no frames, an unknown output extension, or a frame of another
      size (`video.VideoError`, naming the frame).
  """
  start_boxes = [np.asarray(b, np.float32) for b in start_boxes]
  if not start_boxes:
    raise ValueError('no boxes to track: give at least one starting box')
  object_ids = list(range(len(start_boxes))) if object_ids is None else list(object_ids)
  if len(object_ids) != len(start_boxes):
    raise ValueError(f'{len(object_ids)} object ids for {len(start_boxes)} boxes')
  check_outputs(output, boxes_out)
  output = None if output is None else pathlib.Path(output)
  boxes_out = None if boxes_out is None else pathlib.Path(boxes_out)
  if not output_scale > 0:
    raise ValueError(f'output_scale must be > 0, got {output_scale}')
  frames = iter(frames)
  t0 = time.perf_counter()
  first = next(frames, None)
  decode_time = time.perf_counter() - t0
  if first is None:
    raise ValueError(f'{input_name} has no frames')
  first = _host_rgb(first, f'{input_name} frame 0')
  height, width = first.shape[:2]
  for k, box in enumerate(start_boxes):
    boxes_lib.validate_box(box, (height, width),
                           f'box {k} (object {object_ids[k]!r}) in the first frame of {input_name}:')
  labels = [str(i) for i in object_ids]
  colors = [video.color(k) for k in range(len(object_ids))]
  out_fps = output_fps or fps or video.DEFAULT_FPS
  out_size = (max(1, round(height * output_scale)), max(1, round(width * output_scale)))

  results = []
  track_time, track_frames_timed, write_time = 0.0, 0, 0.0
  with contextlib.ExitStack() as outputs:  # temporary files, renamed when all went well
    video_tmp = outputs.enter_context(video.atomic_output(output)) if output else None
    boxes_tmp = outputs.enter_context(video.atomic_output(boxes_out)) if boxes_out else None
    writer = (video.open_video_writer(video_tmp, out_fps, out_size, suffix=output.suffix)
              if output else None)
    try:
      frame, index = first, 0
      while frame is not None:
        if index:
          frame = _host_rgb(frame, f'{input_name} frame {index}')
          if frame.shape[:2] != (height, width):
            raise video.VideoError(f'{input_name}: frame {index} is {frame.shape[1]}x'
                                   f'{frame.shape[0]}, frame 0 {width}x{height}')
        t = time.perf_counter()
        if index == 0:
          boxes = tracker.multi_track(object_ids, frame, dict(zip(object_ids, start_boxes)))
        else:
          boxes = tracker.multi_track(object_ids, frame)
          track_time += time.perf_counter() - t  # the first call (compiling) is not counted
          track_frames_timed += 1
        results.append(boxes)
        if writer is not None:
          t = time.perf_counter()
          writer.write(video.resize(video.annotate(frame, boxes, labels, colors), output_scale))
          write_time += time.perf_counter() - t
        index += 1
        if progress is not None:
          progress(Progress(index, num_frames, _rate(track_frames_timed, track_time),
                            _rate(index, decode_time),
                            _rate(index, write_time) if writer is not None else None))
        t = time.perf_counter()
        frame = next(frames, None)
        decode_time += time.perf_counter() - t
    finally:
      if writer is not None:
        writer.close()
    result = TrackResult(np.stack(results).astype(np.float32), object_ids, height, width, fps,
                         _rate(track_frames_timed, track_time), _rate(index, decode_time),
                         output, boxes_out)
    if boxes_out is not None:
      if boxes_out.suffix.lower() == '.csv':
        write_boxes_csv(boxes_tmp, result.boxes, object_ids)
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
      output_scale, object_ids, progress).

  Raises:
    ValueError: the errors of `video.open_frames` and `track_frames`, each
      naming the file, frame or box.
  """
  if max_frames is not None and max_frames < 1:
    raise ValueError(f'max_frames must be >= 1, got {max_frames}')
  check_outputs(kwargs.get('output'), kwargs.get('boxes_out'))  # before decoding anything
  with video.open_frames(input_path) as source:
    total = source.num_frames
    frames: Iterable[np.ndarray] = source
    if max_frames is not None:
      frames = itertools.islice(source, max_frames)
      total = max_frames if total is None else min(total, max_frames)
    return track_frames(tracker, frames, start_boxes, fps=source.fps, num_frames=total,
                        input_name=str(input_path), **kwargs)


def make_tracker(checkpoint: str | os.PathLike | None = None, config: str | None = None, *,
                 precision: str | None = None, seed: int = 0) -> tracker_lib.Re3Tracker:
  """`tracker.load_tracker`, warning when the weights are random (see it for the arguments)."""
  tracker = tracker_lib.load_tracker(checkpoint, config, precision=precision, seed=seed)
  if not checkpoint:
    warnings.warn(f'tracking with RANDOM weights of model config {config!r} (no checkpoint): '
                  'the boxes are meaningless; this is for tests and timing', stacklevel=2)
  return tracker


class _ProgressLine:
  """Prints `Progress` lines on one terminal line (every `interval` seconds and at the end)."""

  def __init__(self, stream=sys.stderr, interval: float = 0.5):
    self.stream, self.interval, self.last, self.text = stream, interval, 0.0, ''

  def __call__(self, p: Progress) -> None:
    self.text = p.line()
    now = time.monotonic()
    if now - self.last >= self.interval or (p.total and p.frame >= p.total):
      self.last = now
      self.stream.write('\r' + self.text + '\033[K' if self.stream.isatty() else self.text + '\n')
      self.stream.flush()

  def finish(self) -> None:
    if self.stream.isatty():
      self.stream.write('\n')
      self.stream.flush()


def _define_flags():
  """Defines the command line's flags (called only when run as the program)."""
  flags.DEFINE_string('checkpoint', None, 'A re3_jax checkpoint directory (save_params, a '
                      "training run's WORKDIR/checkpoints, or re3_jax.convert's output).")
  flags.DEFINE_enum('config', None, sorted(model.CONFIGS),
                    'Without --checkpoint: track with RANDOM weights of this model config '
                    '(meaningless boxes; for tests and timing).')
  flags.DEFINE_integer('seed', 0, 'Seed of the random weights (--config).')
  flags.DEFINE_enum('precision', None, sorted(model.PRECISIONS),
                    'Run in this dtype policy (default: the checkpoint\'s).')
  flags.DEFINE_string('input', None, 'A video file or a folder of images.')
  flags.DEFINE_multi_string('box', [], 'x1,y1,x2,y2 of an object in the first frame (pixels, '
                            '0-based); repeat for more objects.')
  flags.DEFINE_string('output', None, 'Annotated video to write: .mp4 or .gif.')
  flags.DEFINE_string('boxes_out', None, 'Boxes to write: .csv or .json.')
  flags.DEFINE_float('fps', None, "The output video's frames/s (default: the input's, else 30).")
  flags.DEFINE_float('output_scale', 1.0, "Scale of the output video's frames.")
  flags.DEFINE_integer('max_frames', None, 'Track only the first frames.')
  flags.DEFINE_bool('progress', True, 'Print a progress line on stderr.')
  return flags.FLAGS


def main(argv: Sequence[str], flag_values) -> int:
  """Runs the command line with parsed `flag_values`; returns the exit status."""
  f = flag_values
  name = 're3_jax.track'
  cli.quiet_library_logs(f)
  if len(argv) > 1:
    print(f'{name}: error: unexpected arguments {argv[1:]}', file=sys.stderr)
    return 2
  try:
    if not f.input:
      raise ValueError('--input is required (a video file or a folder of images)')
    if not f.box:
      raise ValueError('give at least one --box=x1,y1,x2,y2')
    start_boxes = []
    for k, text in enumerate(f.box):
      try:
        start_boxes.append(parse_box(text))
      except ValueError as e:
        raise ValueError(f'--box number {k + 1}: {e}') from None
    check_outputs(f.output, f.boxes_out)
    if not f.checkpoint and not f.config:
      raise ValueError('give --checkpoint=DIR (a trained or converted re3_jax checkpoint), or '
                       '--config=tiny|small|paper to track with random weights (for tests)')
    with video.open_frames(f.input) as source:  # check the input before the slow model set-up
      for k, box in enumerate(start_boxes):
        boxes_lib.validate_box(box, (source.height, source.width),
                               f'--box number {k + 1} in the first frame of {f.input}:')
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter('always')
      tracker = make_tracker(f.checkpoint, f.config, precision=f.precision, seed=f.seed)
    for w in caught:
      print(f'{name}: WARNING: {w.message}', file=sys.stderr)
    line = _ProgressLine() if f.progress else None
    try:
      result = track_video_file(tracker, f.input, start_boxes, max_frames=f.max_frames,
                                output=f.output, boxes_out=f.boxes_out, output_fps=f.fps,
                                output_scale=f.output_scale, progress=line)
    finally:
      if line is not None:
        line.finish()
  except KeyboardInterrupt:
    print(f'{name}: interrupted; no output written', file=sys.stderr)
    return 130
  except (ValueError, OSError) as e:
    print(f'{name}: error: {e}', file=sys.stderr)
    return 1
  tracker_fps = 'n/a' if result.tracker_fps is None else f'{result.tracker_fps:.1f}'
  written = [str(p) for p in (result.output, result.boxes_out) if p is not None]
  print(f'tracked {len(result.object_ids)} object(s) through {result.num_frames} frames of '
        f'{f.input} ({result.width}x{result.height}): tracker {tracker_fps} frames/s'
        + (f'; wrote {", ".join(written)}' if written else ''))
  if not written:
    print('(no --output or --boxes_out given: nothing written)')
  return 0


def _run():
  flag_values = _define_flags()
  app.run(lambda argv: main(argv, flag_values))


if __name__ == '__main__':
  _run()
