r"""Tracks objects through any video: ``python -m re3_jax.track``.

Command line::

  python -m re3_jax.track --input=VIDEO_OR_IMAGE_FOLDER \
      --box=x1,y1,x2,y2 [--box=x1,y1,x2,y2 ...] [--output=out.mp4|out.gif] \
      [--boxes_out=boxes.csv|boxes.json] [--box_format=xyxy|xywh|otb] [--score_threshold=T]

The input is a video file OpenCV can decode or a folder of images (``.jpg``,
``.jpeg``, ``.png``, ``.bmp``, sorted naturally). Each ``--box`` starts one
object in the first frame (``x1,y1,x2,y2`` pixels, 0-based; ``--box_format=xywh``:
``x,y,w,h`` with a 0-based top-left corner, as OpenCV's ``cv2.selectROI`` returns;
``--box_format=otb``: a line of an OTB or GOT-10k ground-truth file, 1-based; ``--box=select``:
drawn on the first frame, `re3_jax.media.select_box`); all objects are
tracked together, one batched network pass per frame
(`tracker.Re3Tracker.multi_track`). Frames are decoded, tracked, drawn and
written one at a time: the video is never held in memory. ``--max_frames=N`` tracks the first
N frames (0, the default: all).

Live sources (`re3_jax.tracking.track_live`): ``--input=0`` (a camera index) or a stream URL
(``rtsp://``, ``http(s)://``, ...), opened with ``cv2.VideoCapture``
(`re3_jax.media.live`). Frames are tracked as they arrive and the outputs written as they go,
in place (``--boxes_out`` a ``.csv``, flushed each frame); the stream's end, ``--max_frames``,
Ctrl-C or SIGTERM stops it with the outputs finished (the video plays, the boxes file holds
every frame written), and the last line says how many frames they hold and why it stopped
(status 130 or 143 after a signal, as always).

Many inputs (`re3_jax.tracking.track_many`): a folder of videos (no images in it) or a glob
(``'clips/*.mp4'``; `re3_jax.media.inputs`). ``--output`` and ``--boxes_out`` then hold
``{name}``, each input's name (its file name without the extension):
``--output=tracked/{name}.mp4`` (folders made as needed). ``--box`` starts the same objects in
every input, or ``--boxes_in=FILE`` gives each its own (lines ``NAME,box``). An input that
fails (unreadable, no frames, a box outside its first frame) is named on stderr and skipped;
a summary ends the run (per input: frames, frame rates, files written, or the error), and the
status is 1 if any failed.

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

Outputs of a file input are written under temporary names beside them and renamed when the
whole video is done; an error, Ctrl-C or SIGTERM deletes them (exit status 1,
130 or 143), so an output file is always complete (a live source's are written in place and
finished when it stops, above). A progress line on stderr
gives the tracker's frames/s (the network calls alone, after the first, which
compiles) apart from decoding's.

The flags, the input's first frame and the boxes in it are checked before the
model's set-up: a bad ``--box``, ``--output_scale`` (an ``.mp4`` frame needs
sides of 2 to 8191 pixels), ``--fps`` (> 0) or ``--max_frames`` (>= 0), a camera or stream
that does not open, is one ``error:`` line at once (many inputs: only the first one's
output folders are checked before).

The tracker: the ``--tracker.*`` flags of `re3_jax.tracking.tracker_config.TrackerConfig`
(``--tracker.checkpoint=DIR`` or a shipped model's name, by default the model shipped
with the package, `shipped.PRETRAINED`, named on stderr; ``--tracker.random_model=NAME``
tracks with random weights instead (a warning says so: such boxes mean nothing; for
tests and timing); ``--tracker.precision``, ``--tracker.reset_interval``,
``--tracker.recovery``), with JAX's persistent compilation cache (``--compilation_cache``,
every program's: a folder, or ``off``).

The work is in `re3_jax.tracking.track_files` (`track_video_file`, `track_frames`),
`track_live` (`track_stream`) and `track_many` (`track_many`), whose functions take plain
arguments.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Sequence

from absl import flags

from re3_jax import cli
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import progress
from re3_jax.media import inputs
from re3_jax.media import live
from re3_jax.media import select_box
from re3_jax.media import video
from re3_jax.tracking import track_files
from re3_jax.tracking import track_live
from re3_jax.tracking import track_many
from re3_jax.tracking import tracker_config


_TRACKER = cli.define_tracker_flags()
_INPUT = flags.DEFINE_string(
    'input', None, 'A video file or a folder of images; many videos: a folder of videos or a '
    "glob ('clips/*.mp4'); a live source: a camera index (0) or a stream URL (rtsp://...).")
_BOX = flags.DEFINE_multi_string('box', [], 'x1,y1,x2,y2 of an object in the first frame '
                                 '(pixels, 0-based; or as --box_format says); repeat for more '
                                 'objects. With many inputs, the same boxes in each. '
                                 '--box=select: draw them on the first frame (needs a display '
                                 'and an OpenCV built with a GUI).')
_BOXES_IN = flags.DEFINE_string(
    'boxes_in', None, "Instead of --box: a file of each input's first-frame boxes, one line "
    'NAME,box per object (NAME: the file name without its extension; the box as --box_format '
    "says; '#' starts a comment line).")
_BOX_FORMAT = flags.DEFINE_enum(
    'box_format', 'xyxy', list(boxes_lib.BOX_FORMATS), 'How --box is written: '
    + '; '.join(f'{name}: {fields}, {what}' for name, (fields, what)
                in boxes_lib.BOX_FORMATS.items()) + '.')
_OUTPUT = flags.DEFINE_string('output', None, 'Annotated video to write: .mp4 or .gif. With many '
                              'inputs, a name holding {name}: tracked/{name}.mp4.')
_BOXES_OUT = flags.DEFINE_string('boxes_out', None, 'Boxes to write: .csv or .json (a live '
                                 'source: .csv). With many inputs, a name holding {name}.')
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
_MAX_FRAMES = flags.DEFINE_integer('max_frames', 0, 'Track only the first N frames (of each '
                                   'input); 0: all of them, until a live source ends.')
_PROGRESS = flags.DEFINE_bool('progress', True, 'Print a progress line on stderr.')


SELECT = 'select'  # --box=select: the boxes drawn on the first frame (`select_box`)


def _given_as() -> str:
  return '' if _BOX_FORMAT.value == 'xyxy' else f' (--box_format={_BOX_FORMAT.value})'


def _start_boxes(source: inputs.Input):
  """The starting boxes: a list (--box) or {input name: boxes} (--boxes_in), xyxy."""
  if _BOX.value and _BOXES_IN.value:
    raise ValueError('give --box or --boxes_in, not both')
  if _BOXES_IN.value:
    if source.kind == 'live':
      raise ValueError('--boxes_in names boxes by the input\'s name: a live source takes --box')
    return track_many.read_boxes_in(_BOXES_IN.value, _BOX_FORMAT.value)
  if not _BOX.value:
    raise ValueError('give at least one --box=x1,y1,x2,y2'
                     + (' (or --boxes_in=FILE)' if source.kind != 'live' else '')
                     + ', or --box=select to draw them on the first frame')
  if SELECT in _BOX.value:
    if _BOX.value != [SELECT]:
      raise ValueError(f'--box={SELECT} draws every box: give it alone')
    if source.kind == 'many':
      raise ValueError(f'--box={SELECT} draws the boxes of one input; many inputs take --box '
                       'or --boxes_in')
    select_box.require_window(_INPUT.value)  # before any decoding or set-up
    return SELECT
  start_boxes = []
  for k, text in enumerate(_BOX.value):  # converted once, here: xyxy from now on
    try:
      start_boxes.append(boxes_lib.parse_box(text, _BOX_FORMAT.value))
    except ValueError as e:
      raise ValueError(f'--box number {k + 1}{_given_as()}: {e}') from None
  return start_boxes


def _selected(start_boxes, first_frame, name: str):
  """`start_boxes`, or the boxes drawn on the first frame for --box=select."""
  if start_boxes != SELECT:
    return start_boxes
  return select_box.select_boxes(first_frame, name)


def _check_first_frame(start_boxes, height: int, width: int, name: str) -> None:
  """The boxes inside the first frame and the output's frame size, before the model's set-up."""
  for k, box in enumerate(start_boxes):
    boxes_lib.validate_box(box, (height, width),
                           f'--box number {k + 1}{_given_as()} in the first frame of {name}'
                           + (', as x1,y1,x2,y2:' if _given_as() else ':'))
  if _OUTPUT.value:
    track_files.output_size(_OUTPUT.value, (height, width), _OUTPUT_SCALE.value)


def _build_tracker():
  config = _TRACKER()
  tracker = tracker_config.build_tracker(config)
  if config.random_model:
    print(f're3_jax.track: WARNING: tracking with {config.describe()} (no checkpoint): the '
          'boxes are meaningless; this is for tests and timing', file=sys.stderr)
  elif not config.checkpoint:
    print(f're3_jax.track: no --tracker.checkpoint: tracking with {config.describe()}',
          file=sys.stderr)
  return tracker


def _status_line():
  """(a `StatusLine` or None, a progress callback ``(label, Progress)`` or None)."""
  if not _PROGRESS.value:
    return None, None
  line = progress.StatusLine()
  return line, lambda label, p: line.update(
      (f'{label}: ' if label else '') + p.line(), final=bool(p.total) and p.frame >= p.total)


def _written(*paths) -> str:
  written = [str(p) for p in paths if p is not None]
  return f'; wrote {", ".join(written)}' if written else ''


def _report(result, name: str, width: int, height: int, how: str = '') -> None:
  """The run's last line: objects, frames, the input and its size, `how` it stopped, the
  tracker's rate and the files written."""
  tracker_fps = 'n/a' if result.tracker_fps is None else f'{result.tracker_fps:.1f}'
  print(f'tracked {len(result.object_ids)} object(s) through {result.num_frames} frames of '
        f'{name} ({width}x{height}){how}: tracker {tracker_fps} frames/s'
        + _written(result.output, result.boxes_out))


def main(argv: Sequence[str]) -> int:
  """Tracks; a user's mistake is a ValueError or OSError (`cli.run` prints it in one line).

  Ctrl-C or SIGTERM (`cli.run`) unwinds through `core.outputs.atomic_output`: no output is left
  (a live source's outputs are finished instead; many inputs' finished ones stay).
  """
  del argv
  if not _INPUT.value:
    raise ValueError(f'--input is required ({inputs.KINDS})')
  source = inputs.resolve(_INPUT.value)
  start_boxes = _start_boxes(source)
  if _MAX_FRAMES.value < 0:
    raise ValueError(f'--max_frames must be >= 0 (0: every frame), got {_MAX_FRAMES.value}')
  max_frames = _MAX_FRAMES.value or None
  track_files.check_settings(output_scale=_OUTPUT_SCALE.value, output_fps=_FPS.value,
                             score_threshold=_SCORE_THRESHOLD.value)
  if source.kind == 'live':
    return _track_live(source.live, start_boxes, max_frames)
  if source.kind == 'many':
    return _track_many(source.paths, start_boxes, max_frames)
  return _track_one(source.paths[0], start_boxes, max_frames)


def _track_one(path: pathlib.Path, start_boxes, max_frames: int | None) -> int:
  name = inputs.input_name(path)
  if isinstance(start_boxes, dict):  # --boxes_in
    if name not in start_boxes:
      raise ValueError(f'no box for {name} in {_BOXES_IN.value}')
    start_boxes = start_boxes[name]
  output = track_many.expand(_OUTPUT.value, name)
  boxes_out = track_many.expand(_BOXES_OUT.value, name)
  track_files.check_outputs(output, boxes_out)
  # Check the input before the slow model set-up.
  with video.open_frames(path) as frames:
    start_boxes = _selected(start_boxes, frames.first, _INPUT.value)
    _check_first_frame(start_boxes, frames.height, frames.width, _INPUT.value)
  tracker = _build_tracker()
  line, report = _status_line()
  try:
    result = track_files.track_video_file(
        tracker, path, start_boxes, max_frames=max_frames, output=output, boxes_out=boxes_out,
        output_fps=_FPS.value, output_scale=_OUTPUT_SCALE.value,
        score_threshold=_SCORE_THRESHOLD.value,
        progress=None if report is None else lambda p: report('', p))
  finally:
    if line is not None:
      line.finish()
  _report(result, _INPUT.value, result.width, result.height)
  if result.output is None and result.boxes_out is None:
    print('(no --output or --boxes_out given: nothing written)')
  return 0


def _track_live(source: int | str, start_boxes, max_frames: int | None) -> int:
  for flag, value in (('--output', _OUTPUT.value), ('--boxes_out', _BOXES_OUT.value)):
    if value and track_many.NAME in value:
      raise ValueError(f'{flag}={value}: {track_many.NAME} names the outputs of file inputs; '
                       "give a live source's outputs names of their own")
  track_live.check_stream_outputs(_OUTPUT.value, _BOXES_OUT.value)
  with live.LiveSource(source) as stream:  # opened (and checked) before the model's set-up
    start_boxes = _selected(start_boxes, stream.first, stream.name)
    _check_first_frame(start_boxes, stream.height, stream.width, stream.name)
    tracker = _build_tracker()
    line, report = _status_line()
    try:
      result = track_live.track_stream(
          tracker, stream, start_boxes, output=_OUTPUT.value, boxes_out=_BOXES_OUT.value,
          fps=stream.fps, output_fps=_FPS.value, output_scale=_OUTPUT_SCALE.value,
          score_threshold=_SCORE_THRESHOLD.value, max_frames=max_frames, input_name=stream.name,
          progress=None if report is None else lambda p: report('', p))
    finally:
      if line is not None:
        line.finish()
  _report(result, stream.name, stream.width, stream.height,
          f', stopped: {track_live.STOPPED[result.stopped]}')
  return 0  # after Ctrl-C or SIGTERM, `cli.run` ends with 130 or 143 (the signal was recorded)


def _track_many(paths: Sequence[pathlib.Path], start_boxes, max_frames: int | None) -> int:
  track_many.check_templates(_OUTPUT.value, _BOXES_OUT.value,
                             f'many inputs ({len(paths)} in {_INPUT.value})')
  names = [inputs.input_name(p) for p in paths]
  if isinstance(start_boxes, dict):
    unused = [n for n in start_boxes if n not in names]
    if unused:
      print(f're3_jax.track: note: {_BOXES_IN.value} has boxes for {", ".join(unused)}, not '
            f'among the inputs', file=sys.stderr)
  # The first input's output folders made and checked before the model's set-up.
  first = [track_many.expand(t, names[0]) for t in (_OUTPUT.value, _BOXES_OUT.value)]
  for path in first:
    if path is not None:
      path.parent.mkdir(parents=True, exist_ok=True)
  track_files.check_outputs(*first)
  tracker = _build_tracker()
  line, report = _status_line()

  def skipped(outcome):
    if line is not None:
      line.finish()
    print(f're3_jax.track: skipping {outcome.input}: {outcome.error}', file=sys.stderr)

  try:
    result = track_many.track_many(
        tracker, paths, start_boxes, output=_OUTPUT.value, boxes_out=_BOXES_OUT.value,
        max_frames=max_frames, boxes_name=_BOXES_IN.value or '--box', progress=report,
        on_error=skipped, output_fps=_FPS.value, output_scale=_OUTPUT_SCALE.value,
        score_threshold=_SCORE_THRESHOLD.value)
  finally:
    if line is not None:
      line.finish()
  print('\n'.join(track_many.summary_lines(result)))
  return 1 if result.failed else 0  # after Ctrl-C or SIGTERM, 130 or 143 (`cli.run`)


if __name__ == '__main__':
  cli.run(main)
