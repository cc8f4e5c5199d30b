r"""Tracks objects through any video: ``python -m re3_jax.track``.

Command line::

  python -m re3_jax.track --input=VIDEO_OR_IMAGE_FOLDER \
      --box=x1,y1,x2,y2 [--box=x1,y1,x2,y2 ...] [--output=out.mp4|out.gif] \
      [--boxes_out=boxes.csv|boxes.json] [--box_format=xyxy|xywh|otb] [--score_threshold=T]

The input is a video file OpenCV can decode or a folder of images (``.jpg``,
``.jpeg``, ``.png``, ``.bmp``, sorted naturally). Each ``--box`` starts one
object in the first frame (``x1,y1,x2,y2`` pixels, 0-based; ``--box_format=xywh``:
``x,y,w,h`` with a 0-based top-left corner, as OpenCV's ``cv2.selectROI`` returns;
``--box_format=otb``: a line of an OTB or GOT-10k ground-truth file, 1-based); all objects are
tracked together, one batched network pass per frame
(`tracker.Re3Tracker.multi_track`). Frames are decoded, tracked, drawn and
written one at a time: the video is never held in memory.

Outputs:

* ``--output``: the frames with each object's box in its own colour, its id and its
  confidence score (`re3_jax.tracking.confidence`: 1.00 at the start, lower when the box
  holds something else); a box scoring below ``--score_threshold`` (default
  `track_files.DEFAULT_SCORE_THRESHOLD`, chosen on
  the val sequences: most boxes under it have lost their target) is drawn dashed.
  ``.mp4`` (OpenCV, ``mp4v``) or ``.gif`` (see `re3_jax.media.video`).
* ``--boxes_out``: ``.csv`` with a header line and one row per frame and
  object, ``frame,object_id,x1,y1,x2,y2,score`` (frame: 0-based index into the
  input's frames; object_id: 0-based position of its ``--box``; score ``nan`` for a
  model without one, such as ``re3_squeeze``), or ``.json`` (see
  `track_files.write_boxes_json`; null scores there).

Outputs are written under temporary names beside them and renamed when the
whole video is done; an error, Ctrl-C or SIGTERM deletes them (exit status 1,
130 or 143), so an output file is always complete. A progress line on stderr
gives the tracker's frames/s (the network calls alone, after the first, which
compiles) apart from decoding's.

The flags, the input's first frame and the boxes in it are checked before the
model's set-up: a bad ``--box``, ``--output_scale`` (an ``.mp4`` frame needs
sides of 2 to 8191 pixels), ``--fps`` (> 0) or ``--max_frames`` (>= 1) is one
``error:`` line at once.

The tracker: the ``--tracker.*`` flags of `re3_jax.tracking.tracker_config.TrackerConfig`
(``--tracker.checkpoint=DIR`` or a shipped model's name, by default the model shipped
with the package, `shipped.PRETRAINED`, named on stderr; ``--tracker.random_model=NAME``
tracks with random weights instead (a warning says so: such boxes mean nothing; for
tests and timing); ``--tracker.precision``, ``--tracker.reset_interval``,
``--tracker.recovery``), with JAX's persistent compilation cache (``--compilation_cache``,
every program's: a folder, or ``off``).

The work is in `re3_jax.tracking.track_files` (`track_video_file`, `track_frames`), whose
functions take plain arguments.
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags

from re3_jax import cli
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import progress
from re3_jax.media import video
from re3_jax.tracking import track_files
from re3_jax.tracking import tracker_config


_TRACKER = cli.define_tracker_flags()
_INPUT = flags.DEFINE_string('input', None, 'A video file or a folder of images.')
_BOX = flags.DEFINE_multi_string('box', [], 'x1,y1,x2,y2 of an object in the first frame '
                                 '(pixels, 0-based; or as --box_format says); repeat for more '
                                 'objects.')
_BOX_FORMAT = flags.DEFINE_enum(
    'box_format', 'xyxy', list(boxes_lib.BOX_FORMATS), 'How --box is written: '
    + '; '.join(f'{name}: {fields}, {what}' for name, (fields, what)
                in boxes_lib.BOX_FORMATS.items()) + '.')
_OUTPUT = flags.DEFINE_string('output', None, 'Annotated video to write: .mp4 or .gif.')
_BOXES_OUT = flags.DEFINE_string('boxes_out', None, 'Boxes to write: .csv or .json.')
_FPS = flags.DEFINE_float('fps', None,
                          "The output video's frames/s, > 0 (default: the input's, else 30).")
_OUTPUT_SCALE = flags.DEFINE_float(
    'output_scale', 1.0, "Scale of the output video's frames (whose sides must be "
    + ', '.join(f'{lo} to {hi} pixels in {suffix}' for suffix, (lo, hi) in video.FRAME_SIDES.items())
    + ').')
_SCORE_THRESHOLD = flags.DEFINE_float(
    'score_threshold', track_files.DEFAULT_SCORE_THRESHOLD,
    'A box whose confidence score is below this is drawn dashed in --output: the target is '
    'most likely lost (the score is in [-1, 1], 1 at the start; -1 draws every box solid).')
_MAX_FRAMES = flags.DEFINE_integer('max_frames', None, 'Track only the first frames.')
_PROGRESS = flags.DEFINE_bool('progress', True, 'Print a progress line on stderr.')


def main(argv: Sequence[str]) -> int:
  """Tracks; a user's mistake is a ValueError or OSError (`cli.run` prints it in one line).

  Ctrl-C or SIGTERM (`cli.run`) unwinds through `video.atomic_output`: no output is left.
  """
  del argv
  if not _INPUT.value:
    raise ValueError('--input is required (a video file or a folder of images)')
  if not _BOX.value:
    raise ValueError('give at least one --box=x1,y1,x2,y2')
  start_boxes = []
  given_as = '' if _BOX_FORMAT.value == 'xyxy' else f' (--box_format={_BOX_FORMAT.value})'
  for k, text in enumerate(_BOX.value):  # converted once, here: xyxy from now on
    try:
      start_boxes.append(boxes_lib.parse_box(text, _BOX_FORMAT.value))
    except ValueError as e:
      raise ValueError(f'--box number {k + 1}{given_as}: {e}') from None
  track_files.check_outputs(_OUTPUT.value, _BOXES_OUT.value)
  track_files.check_settings(max_frames=_MAX_FRAMES.value, output_scale=_OUTPUT_SCALE.value,
                             output_fps=_FPS.value, score_threshold=_SCORE_THRESHOLD.value)
  # Check the input before the slow model set-up.
  with video.open_frames(_INPUT.value) as source:
    for k, box in enumerate(start_boxes):
      boxes_lib.validate_box(box, (source.height, source.width),
                             f'--box number {k + 1}{given_as} in the first frame of '
                             f'{_INPUT.value}' + (', as x1,y1,x2,y2:' if given_as else ':'))
    if _OUTPUT.value:
      track_files.output_size(_OUTPUT.value, (source.height, source.width), _OUTPUT_SCALE.value)
  config = _TRACKER()
  tracker = tracker_config.build_tracker(config)
  if config.random_model:
    print(f're3_jax.track: WARNING: tracking with {config.describe()} (no checkpoint): the '
          'boxes are meaningless; this is for tests and timing', file=sys.stderr)
  elif not config.checkpoint:
    print(f're3_jax.track: no --tracker.checkpoint: tracking with {config.describe()}',
          file=sys.stderr)
  line = progress.StatusLine() if _PROGRESS.value else None
  report = None if line is None else (
      lambda p: line.update(p.line(), final=bool(p.total) and p.frame >= p.total))
  try:
    result = track_files.track_video_file(
        tracker, _INPUT.value, start_boxes, max_frames=_MAX_FRAMES.value,
        output=_OUTPUT.value, boxes_out=_BOXES_OUT.value, output_fps=_FPS.value,
        output_scale=_OUTPUT_SCALE.value, score_threshold=_SCORE_THRESHOLD.value,
        progress=report)
  finally:
    if line is not None:
      line.finish()
  tracker_fps = 'n/a' if result.tracker_fps is None else f'{result.tracker_fps:.1f}'
  written = [str(p) for p in (result.output, result.boxes_out) if p is not None]
  print(f'tracked {len(result.object_ids)} object(s) through {result.num_frames} frames of '
        f'{_INPUT.value} ({result.width}x{result.height}): tracker {tracker_fps} frames/s'
        + (f'; wrote {", ".join(written)}' if written else ''))
  if not written:
    print('(no --output or --boxes_out given: nothing written)')
  return 0


if __name__ == '__main__':
  cli.run(main)
