"""Tracking many videos in one call: each its own outputs, a bad one skipped, a summary.

`track_many` tracks each input (a video file or a folder of images; `media.inputs.resolve`
finds them in a folder of videos or a glob) with `track_files.track_video_file`, one tracker
for all. Outputs are named by templates holding ``{name}``, the input's name
(`media.inputs.input_name`: ``clips/dog.mp4`` -> ``dog``): ``tracked/{name}.mp4``; their
folders are made as needed. The objects start at the same boxes in every video, or at each
video's own boxes from a boxes-in file (`read_boxes_in`). An input that fails (unreadable, no
frames, a box outside its first frame, no box for it) is recorded with its error and skipped;
the others are tracked. `summary_lines` writes the outcome, one line per input.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Callable, Mapping, Sequence

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import signals
from re3_jax.media import inputs as inputs_lib
from re3_jax.media import video
from re3_jax.tracking import frame_loop
from re3_jax.tracking import track_files
from re3_jax.tracking import tracker as tracker_lib

NAME = '{name}'


@dataclasses.dataclass
class Outcome:
  """One input of `track_many`: its result, or why it has none.

  Attributes:
    input: the input's path.
    name: its name (what ``{name}`` became).
    result: the `track_files.TrackResult` (None if it failed).
    error: the error's message (None if it was tracked).
  """
  input: pathlib.Path
  name: str
  result: track_files.TrackResult | None = None
  error: str | None = None


@dataclasses.dataclass
class ManyResult:
  """The outcome of `track_many`: one `Outcome` per input, in order, and why it stopped early
  (None: it did not; ``'interrupted'``: Ctrl-C; ``'terminated'``: SIGTERM)."""
  outcomes: list[Outcome]
  stopped: str | None = None

  @property
  def failed(self) -> list[Outcome]:
    return [o for o in self.outcomes if o.result is None]


def expand(template: str | os.PathLike | None, name: str) -> pathlib.Path | None:
  """`template` with ``{name}`` replaced by `name` (None stays None)."""
  return None if template is None else pathlib.Path(os.fspath(template).replace(NAME, name))


def check_templates(output: str | None, boxes_out: str | None, what: str = 'many inputs') -> None:
  """Checks that each output template given holds ``{name}`` and a known extension.

  Raises:
    ValueError: naming the template.
  """
  for template, allowed, kind in ((output, video.VIDEO_OUTPUTS, 'output video'),
                                  (boxes_out, track_files.BOXES_OUTPUTS, 'boxes file')):
    if template is None:
      continue
    if NAME not in template:
      raise ValueError(f'{kind} {template}: with {what}, each gets its own file: put {NAME} '
                       f'(the input\'s name) in it, e.g. tracked/{NAME}'
                       f'{pathlib.Path(template).suffix or allowed[0]}')
    video.check_output_suffix(template, allowed, kind)


def read_boxes_in(path: str | os.PathLike, box_format: str = 'xyxy') -> dict[str, list[np.ndarray]]:
  """Reads each input's starting boxes: lines ``NAME,a,b,c,d`` (the box as `box_format` says,
  `boxes_lib.BOX_FORMATS`), one per object, several lines of one NAME being several objects in
  that order; blank lines and lines starting with ``#`` are skipped.

  Returns:
    {name: [xyxy (4,) float32 boxes]}, names in the file's order.

  Raises:
    ValueError: naming the file and line: a line without a name, a malformed box.
  """
  boxes: dict[str, list[np.ndarray]] = {}
  try:
    text = pathlib.Path(path).read_text()
  except OSError as e:
    raise ValueError(f'cannot read boxes file {path}: {e.strerror or e}') from None
  for number, line in enumerate(text.splitlines(), 1):
    line = line.strip()
    if not line or line.startswith('#'):
      continue
    name, comma, box = line.partition(',')
    if not comma or not name.strip():
      raise ValueError(f'{path} line {number}: expected NAME,box (the box as '
                       f'{boxes_lib.BOX_FORMATS[box_format][0]}), got {line!r}')
    try:
      boxes.setdefault(name.strip(), []).append(boxes_lib.parse_box(box, box_format))
    except ValueError as e:
      raise ValueError(f'{path} line {number} ({name.strip()}): {e}') from None
  if not boxes:
    raise ValueError(f'{path} holds no boxes (lines NAME,box)')
  return boxes


def track_many(tracker: tracker_lib.Re3Tracker, paths: Sequence[str | os.PathLike],
               start_boxes: Sequence | Mapping[str, Sequence], *, output: str | None = None,
               boxes_out: str | None = None, max_frames: int | None = None,
               boxes_name: str = 'the boxes given',
               progress: Callable[[str, frame_loop.Progress], None] | None = None,
               on_error: Callable[[Outcome], None] | None = None, **kwargs) -> ManyResult:
  """Tracks each input in turn (`track_files.track_video_file`), skipping one that fails.

  Ctrl-C or SIGTERM stops it: the input being tracked gets no outputs (`track_frames`'s atomic
  outputs), those tracked before keep theirs, and the result says so (`stopped`; the inputs
  not reached are recorded as not tracked; a command line's `re3_jax.cli.run` still ends with
  130 or 143).

  Args:
    tracker: the tracker, for every input (its tracks of the object ids are restarted for
      each).
    paths: the inputs.
    start_boxes: N xyxy boxes for every input, or {input name: its boxes} (`read_boxes_in`).
    output, boxes_out: output templates holding ``{name}`` (`check_templates`); their folders
      are made as needed.
    max_frames: track only the first frames of each input.
    boxes_name: how to name `start_boxes` when an input has none there (a file's name).
    progress: called with the input's ``[k/n] NAME`` and a `Progress` after each frame.
    on_error: called with an input's `Outcome` when it fails, at once.
    **kwargs: more arguments of `track_files.track_frames` (object_ids, output_fps,
      output_scale, score_threshold).

  Returns:
    A `ManyResult`.
  """
  check_templates(output, boxes_out)
  outcomes = []
  stopped = None
  for k, path in enumerate(paths):
    path = pathlib.Path(path)
    name = inputs_lib.input_name(path)
    if stopped is not None:
      outcomes.append(Outcome(path, name, error=f'not tracked: {stopped} before it'))
      continue
    label = f'[{k + 1}/{len(paths)}] {name}'
    report = None if progress is None else (lambda p, label=label: progress(label, p))
    before = set(tracker.track_ids)
    try:
      if isinstance(start_boxes, Mapping):
        if name not in start_boxes:
          raise ValueError(f'no box for {name} in {boxes_name}')
        boxes = start_boxes[name]
      else:
        boxes = start_boxes
      files = [expand(output, name), expand(boxes_out, name)]
      for file in files:
        if file is not None:
          file.parent.mkdir(parents=True, exist_ok=True)
      result = track_files.track_video_file(tracker, path, boxes, max_frames=max_frames,
                                            output=files[0], boxes_out=files[1],
                                            progress=report, **kwargs)
      outcomes.append(Outcome(path, name, result))
    except (ValueError, OSError) as e:
      outcomes.append(Outcome(path, name, error=str(e)))
      if on_error is not None:
        on_error(outcomes[-1])
    except KeyboardInterrupt as e:
      stopped = 'terminated' if isinstance(e, signals.Terminated) else 'interrupted'
      outcomes.append(Outcome(path, name, error=f'{stopped}: its outputs were not written'))
    finally:
      for track_id in set(tracker.track_ids) - before:  # the next input starts afresh
        tracker.remove(track_id)
  return ManyResult(outcomes, stopped)


def summary_lines(result: ManyResult) -> list[str]:
  """The outcome, a line per input: its frames, frame rates and files written, or its error.

  E.g.::

    2 of 3 inputs tracked, 1 failed:
      clips/a.mp4: 120 frames (30 fps), tracker 85.2 frames/s; wrote tracked/a.mp4, tracked/a.csv
      clips/bad.mp4: FAILED: cannot read clips/bad.mp4: OpenCV cannot open it as a video (...)
  """
  outcomes = result.outcomes
  failed = len(result.failed)
  lines = [f'{len(outcomes) - failed} of {len(outcomes)} inputs tracked'
           + (f', {failed} failed' if failed else '')
           + (f' ({result.stopped})' if result.stopped else '') + ':']
  for o in outcomes:
    if o.result is None:
      lines.append(f'  {o.input}: FAILED: {o.error}')
      continue
    r = o.result
    rate = 'n/a' if r.tracker_fps is None else f'{r.tracker_fps:.1f}'
    fps = '' if r.fps is None else f' ({r.fps:g} fps)'
    written = [str(p) for p in (r.output, r.boxes_out) if p is not None]
    lines.append(f'  {o.input}: {r.num_frames} frames{fps}, {len(r.object_ids)} object(s), '
                 f'tracker {rate} frames/s; ' + (f'wrote {", ".join(written)}' if written
                                                 else 'nothing written'))
  return lines
