"""Training sources over benchmark roots: ``KIND:ROOT`` and ``KIND_sim:ROOT``.

KIND is any layout of `layouts.LAYOUTS` (``otb``, ``got10k``,
``lasot``, ``uav123``, ``dtb70``, ``tcolor128``, ``nfs``, ``vot``, ``vid``), read by the
same code as the evaluation's ``KIND:ROOT`` (ground truth, frame lists, frames
without a true box, the errors naming the sequence and file). So a LaSOT or
GOT-10k train split on disk is a training source as it lies
(``--config.data.mixture=lasot:/data/LaSOT=0.5,got10k:/data/GOT-10k/train=0.5``),
and a user's own videos are one in the OTB layout: a root with one folder per
video, each with ``img/0001.jpg ...`` and ``groundtruth_rect.txt`` (one
``x,y,w,h`` line per frame, 1-based pixels; ``NaN,NaN,NaN,NaN`` where the
target is out of view), e.g. ``../shared/real_sequences/train``.

`FolderSource` gives the examples `pipeline.SequenceMaker` reads from a
`tfds_sources.TfdsSource`, in the same two kinds:

* ``KIND:ROOT`` (``TRACK``): one example per sequence: ``frames`` (the encoded
  files, each read when indexed), ``boxes`` ``(T, 4)`` float32 xyxy,
  ``visible`` ``(T,)`` bool, ``height``, ``width``, ``video``. Sequences are
  drawn uniformly, windows of visible frames as for TFDS tracks.
* ``KIND_sim:ROOT`` (``IMAGE``): Re3's simulator over real frames: one example
  per (sequence, frame with a visible box): ``image`` (the encoded file),
  ``boxes`` ``(1, 4)`` (that frame's true box: the object the simulator
  pastes; Re3 pastes the object boxes of ImageNet DET images), ``region``
  (the part of the frame to simulate over, `target_region`: around a target
  too small for the simulator's 1% rule, as most UAV123 targets are, else the
  whole frame), ``image_id`` (``sequence/file``). Examples are drawn
  uniformly, like DET images.

Checks at open (no frame is decoded; one header per sequence gives its size):
a gap in the frame numbering (a missing file), a ground-truth line count that
does not match the frames, or a bad line raise `sequences.SequenceError`
naming the sequence and file; a root without sequence folders raises
FileNotFoundError naming it. A box wholly outside its frame, empty (``w`` or
``h`` <= 0) or infinite is skipped (that frame is not visible), counted and
reported in one warning per source naming the files and first line numbers;
a box partly outside is clipped to the frame. NaN rows are not visible,
counted apart (they are the format's out-of-view marker, and the readers'
mark of frames a layout flags as absent). A sequence with no visible frame is
skipped with a warning; no usable sequence left is an error.

A damaged frame file stops training with its name, never skipped: a first frame that is
empty, not an image, or over Pillow's decompression-bomb limit (`images.image_size`) at
open; any frame that is missing or empty (0 bytes) when it is read, or that does not decode
(`tfds_sources.decode`), with a `ValueError` naming the source, sequence, frame and file.
Skipping would silently change the data a run trains on and make a sequence of the stream
depend on which files were readable when it was drawn (the stream is a pure function of
its index, for exact resume); a damaged file is for the user to fix or remove.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, NamedTuple

import numpy as np
from absl import logging

from re3_jax.core import images as images_lib
from re3_jax.datasets import layouts
from re3_jax.input import synthetic
from re3_jax.input import tfds_sources
from re3_jax.datasets import sequences

SIM_SUFFIX = '_sim'  # KIND_sim:ROOT: the simulator over a KIND root's frames
# mixture prefix -> (layout, source kind)
_PREFIXES = {**{k: (k, tfds_sources.TRACK) for k in layouts.KINDS},
             **{k + SIM_SUFFIX: (k, tfds_sources.IMAGE) for k in layouts.KINDS}}
_MIXTURE_SEPARATORS = ',='  # `pipeline.parse_mixture` splits on these
_SHOWN = 5  # files, and line numbers per file, named in a warning


def parse_name(name: str) -> tuple[str, str, pathlib.Path] | None:
  """``'lasot:ROOT'`` -> ('lasot', TRACK, ROOT), ``'otb_sim:ROOT'`` -> ('otb', IMAGE, ROOT).

  Other names (no ``:``, or a prefix that is no layout) -> None.

  Raises:
    ValueError: an empty root, or one holding ``,`` or ``=`` (the mixture
      text could not hold it).
  """
  prefix, sep, root = name.partition(':')
  if not sep or prefix not in _PREFIXES:
    return None
  if not root.strip():
    raise ValueError(f'source {name!r}: no folder after {prefix}: (give {prefix}:ROOT)')
  bad = [c for c in _MIXTURE_SEPARATORS if c in root]
  if bad:
    raise ValueError(f'source {name!r}: the folder holds {" and ".join(map(repr, bad))}, which '
                     'the mixture text splits on; rename the folder or link to it')
  layout, kind = _PREFIXES[prefix]
  return layout, kind, pathlib.Path(root.strip()).expanduser()


class CheckedBoxes(NamedTuple):
  """Ground truth checked against its frame (see `check_boxes`)."""
  boxes: np.ndarray  # (T, 4) float32, clipped to the frame; NaN where not visible
  visible: np.ndarray  # (T,) bool
  out_of_view: np.ndarray  # (T,) bool: NaN rows
  bad: np.ndarray  # (T,) bool: wholly outside the frame, empty or infinite
  clipped: np.ndarray  # (T,) bool: visible, partly outside, clipped


def check_boxes(boxes: np.ndarray, height: int, width: int) -> CheckedBoxes:
  """Sorts xyxy ground truth of a ``height x width`` frame into usable and not.

  Args:
    boxes: ``(T, 4)`` xyxy boxes, NaN rows for frames without a true box.
    height, width: the frame's size.

  Returns:
    `CheckedBoxes`.
  """
  boxes = np.asarray(boxes, np.float32)
  out_of_view = np.isnan(boxes).any(-1)
  x1, y1, x2, y2 = boxes.T
  empty = (x2 <= x1) | (y2 <= y1)
  outside = (x2 <= 0) | (y2 <= 0) | (x1 >= width) | (y1 >= height)
  bad = ~out_of_view & (~np.isfinite(boxes).all(-1) | empty | outside)
  visible = ~out_of_view & ~bad
  inside = np.clip(boxes, 0, np.array([width, height, width, height], np.float32))
  inside[~visible] = np.nan
  clipped = visible & (inside != boxes).any(-1)
  return CheckedBoxes(inside, visible, out_of_view, bad, clipped)


@dataclasses.dataclass(frozen=True, eq=False)
class _Track:
  """One sequence of a source: its files and its checked ground truth."""
  files: sequences.SequenceFiles
  height: int
  width: int
  checked: CheckedBoxes


class _FrameFiles:
  """The encoded frames of a sequence, each file read when it is indexed."""

  def __init__(self, files: sequences.SequenceFiles):
    self.files = files

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, index: int) -> bytes:
    return _read_bytes(self.files, int(index))

  def file(self, index: int) -> pathlib.Path:
    """The file of frame `index`, for errors."""
    return self.files.frame_paths[int(index)]


def _read_bytes(files: sequences.SequenceFiles, index: int) -> bytes:
  path = files.frame_paths[index]
  try:
    data = path.read_bytes()
  except OSError as e:
    raise sequences.SequenceError(f'sequence {files.name}: cannot read frame {index} file '
                                  f'{path}: {e}') from e
  if not data:
    raise sequences.SequenceError(f'sequence {files.name}: frame {index} file {path} is empty '
                                  '(0 bytes)')
  return data


def _frame_size(files: sequences.SequenceFiles) -> tuple[int, int]:
  """(height, width) of a sequence from its first frame's header."""
  try:
    return images_lib.image_size(files.frame_paths[0])
  except ValueError as e:
    raise sequences.SequenceError(f'sequence {files.name}: frame 0: {e}') from e


def _line_numbers(path: pathlib.Path) -> list[int]:
  """1-based line numbers of the rows `sequences.read_groundtruth` reads (non-blank lines)."""
  return [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]


def _open_tracks(layout: str, root: pathlib.Path, name: str) -> list[_Track]:
  """Every sequence under a root, its ground truth checked against its frame size."""
  try:
    dataset = layouts.open_root(layout, root)
  except FileNotFoundError as e:
    raise FileNotFoundError(f'source {name!r}: {e}') from e
  out = []
  for files in dataset.sequences:
    height, width = _frame_size(files)
    out.append(_Track(files, height, width, check_boxes(files.boxes, height, width)))
  return out


def _bad_lines(tracks: list[_Track]) -> str:
  """'FILE lines 3, 7 (+2 more); FILE line 4' for the skipped boxes of the first files."""
  parts = []
  bad = [t for t in tracks if t.checked.bad.any()]
  for track in bad[:_SHOWN]:
    rows = np.flatnonzero(track.checked.bad)
    lines = [str(_line_numbers(track.files.groundtruth)[r]) for r in rows[:_SHOWN]]
    more = f' (+{len(rows) - _SHOWN} more)' if len(rows) > _SHOWN else ''
    parts.append(f'{track.files.groundtruth} line{"s" if len(rows) > 1 else ""} '
                 f'{", ".join(lines)}{more}')
  if len(bad) > _SHOWN:
    parts.append(f'and {len(bad) - _SHOWN} more files')
  return '; '.join(parts)


def _count(tracks: list[_Track], field: str) -> int:
  return int(sum(getattr(t.checked, field).sum() for t in tracks))


# The share of `target_region` a small target is given: 4x the simulator's minimum.
REGION_TARGET_AREA = 4 * synthetic.MIN_TARGET_AREA


def target_region(box, height: int, width: int) -> tuple[int, int, int, int]:
  """The part of a frame the simulator runs over for the target `box`: (x0, y0, x1, y1) ints.

  The whole frame when the box covers at least `REGION_TARGET_AREA` of it;
  else a window of the frame's aspect ratio, centred on the box and shifted
  into the frame, in which it covers that share (at most; the window is at
  least 1.5x the box a side), as if the camera were closer.
  """
  x0, y0, x1, y1 = (float(v) for v in box)
  w, h = x1 - x0, y1 - y0
  if w * h >= REGION_TARGET_AREA * height * width:
    return 0, 0, width, height
  scale = np.sqrt(w * h / (REGION_TARGET_AREA * height * width))
  rw = int(np.ceil(min(width, max(width * scale, 1.5 * w))))
  rh = int(np.ceil(min(height, max(height * scale, 1.5 * h))))
  left = int(np.clip(round((x0 + x1) / 2 - rw / 2), 0, width - rw))
  top = int(np.clip(round((y0 + y1) / 2 - rh / 2), 0, height - rh))
  return left, top, left + rw, top + rh


def _image_items(tracks: list[_Track]) -> np.ndarray:
  """(sequence, frame) pairs of every visible box: the simulator's examples."""
  items = [(k, t) for k, track in enumerate(tracks) for t in np.flatnonzero(track.checked.visible)]
  return np.array(items, np.int64).reshape(-1, 2)


class FolderSource:
  """Random access to the sequences under a folder (see the module docstring).

  Args:
    name: ``KIND:ROOT`` (one example per sequence, `tfds_sources.TRACK`) or
      ``KIND_sim:ROOT`` (one per frame to simulate over, `tfds_sources.IMAGE`),
      KIND one of `layouts.KINDS`; a relative ROOT is taken from the
      working directory.

  Attributes:
    name, layout, kind, root: the mixture name, the layout (``otb``, ...), the
      kind, the absolute root.
    counts: what was read and skipped: ``sequences``, ``frames``, ``visible``,
      ``out_of_view`` (NaN rows), ``bad_boxes``, ``clipped``,
      ``empty_sequences`` (skipped: no visible frame); for ``otb_sim`` also
      ``examples``.

  Raises:
    FileNotFoundError: the root is no folder or holds no sequence folder.
    sequences.SequenceError: a damaged sequence (named, with its file).
    ValueError: not a folder source's name, or nothing usable under the root.
  """

  def __init__(self, name: str):
    parsed = parse_name(name)
    if parsed is None:
      raise ValueError(f'{name!r} is not KIND:ROOT or KIND{SIM_SUFFIX}:ROOT with KIND one of '
                       f'{", ".join(layouts.KINDS)}')
    self.name = name
    self.layout, self.kind, root = parsed
    self.root = root.absolute()
    tracks = _open_tracks(self.layout, self.root, name)
    self.counts = {'sequences': len(tracks), 'frames': sum(len(t.files) for t in tracks)}
    for field, key in (('visible', 'visible'), ('out_of_view', 'out_of_view'),
                       ('bad', 'bad_boxes'), ('clipped', 'clipped')):
      self.counts[key] = _count(tracks, field)
    if self.counts['bad_boxes']:
      logging.warning('%s: %d ground-truth boxes wholly outside their frame or empty, treated as '
                      'not visible: %s', name, self.counts['bad_boxes'], _bad_lines(tracks))
    self.tracks = self._usable(tracks)
    if self.kind == tfds_sources.IMAGE:
      self.items = _image_items(self.tracks)
      self.counts['examples'] = len(self.items)
    logging.info('%s: %s', name, self.counts)

  def _usable(self, tracks: list[_Track]) -> list[_Track]:
    """The tracks with a visible frame; the others are skipped with a warning."""
    usable = [t for t in tracks if t.checked.visible.any()]
    empty = [t.files.name for t in tracks if not t.checked.visible.any()]
    self.counts['empty_sequences'] = len(empty)
    if empty:
      shown = ', '.join(empty[:_SHOWN]) + (f' and {len(empty) - _SHOWN} more'
                                           if len(empty) > _SHOWN else '')
      logging.warning('%s: %d sequences without a visible box skipped: %s', self.name, len(empty),
                      shown)
    if not usable:
      raise ValueError(f'source {self.name!r}: no sequence under {self.root} has a visible box '
                       f'(counts: {self.counts})')
    return usable

  def __len__(self) -> int:
    return len(self.items) if self.kind == tfds_sources.IMAGE else len(self.tracks)

  def __getitem__(self, index: int) -> dict[str, Any]:
    if self.kind == tfds_sources.IMAGE:
      k, t = (int(x) for x in self.items[index])
      track = self.tracks[k]
      box = track.checked.boxes[t]
      return {'image': _read_bytes(track.files, t), 'boxes': box[None],
              'region': target_region(box, track.height, track.width),
              'image_id': f'{track.files.name}/{track.files.frame_paths[t].name}'}
    track = self.tracks[index]
    return {'frames': _FrameFiles(track.files), 'boxes': track.checked.boxes,
            'visible': track.checked.visible, 'height': track.height, 'width': track.width,
            'video': track.files.name}
