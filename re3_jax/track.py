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
names at import and may share a process with it. The work is in
`re3_jax.tracking.track_files` (`track_video_file`, `track_frames`), whose
functions take plain arguments.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence
import warnings

from absl import app
from absl import flags
import numpy as np

from re3_jax import cli
from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import progress
from re3_jax.media import video
from re3_jax.tracking import track_files
from re3_jax.tracking import tracker as tracker_lib


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


def make_tracker(checkpoint: str | os.PathLike | None = None, config: str | None = None, *,
                 precision: str | None = None, seed: int = 0) -> tracker_lib.Re3Tracker:
  """`tracker.load_tracker`, warning when the weights are random (see it for the arguments)."""
  tracker = tracker_lib.load_tracker(checkpoint, config, precision=precision, seed=seed)
  if not checkpoint:
    warnings.warn(f'tracking with RANDOM weights of model config {config!r} (no checkpoint): '
                  'the boxes are meaningless; this is for tests and timing', stacklevel=2)
  return tracker


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
    track_files.check_outputs(f.output, f.boxes_out)
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
    line = progress.StatusLine() if f.progress else None
    report = None if line is None else (
        lambda p: line.update(p.line(), final=bool(p.total) and p.frame >= p.total))
    try:
      result = track_files.track_video_file(
          tracker, f.input, start_boxes, max_frames=f.max_frames, output=f.output,
          boxes_out=f.boxes_out, output_fps=f.fps, output_scale=f.output_scale, progress=report)
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
