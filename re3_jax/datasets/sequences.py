"""Tracking sequences: a frames + ground-truth container and benchmark folder readers
with frames read on demand (a clip that needs no files: `synthetic_clips.synthetic_clip`).

One sequence folder in the benchmarks' layouts (`open_sequence`; whole dataset
roots are `re3_jax.datasets.dataset_roots`):

* OTB: ``groundtruth_rect.txt`` (``x,y,w,h`` per line, 1-based; comma, tab or
  space separated; multi-target folders such as ``Jogging`` hold
  ``groundtruth_rect.1.txt``, ``groundtruth_rect.2.txt``) and frames in ``img/``.
* VOT: ``groundtruth.txt`` (8-value polygons or 4-value rectangles; the
  axis-aligned box is the min/max of the corners) and frames in ``imgs/``,
  ``color/`` or the folder itself; a VOT ``sequence`` file's
  ``channels.color=color/%08d.jpg`` names the frames folder.
* GOT-10k: ``groundtruth.txt`` (``x,y,w,h``, 1-based like OTB) and frames
  ``00000001.jpg`` ... beside it.

Frame ranges: a ``NAME_frames.txt`` file in the folder (``first,last`` frame
numbers, 1-based, as shipped with OTB sequences by ECO and pytracking, and with
``vot15_bag``) selects those frames; without one, the OTB-2015 sequences whose
``img/`` holds more frames than their ground truth (David, Football1,
Freeman3, Freeman4, Diving) get the OTB toolkit's ranges (`OTB_FRAME_RANGES`)
when the counts differ.

Ground-truth rows with ``nan`` values stand for frames without a true box (the
metrics leave them out, see `re3_jax.evaluation.metrics`).

Errors: a missing frame (a gap in the numbering, or a number in the frame range
without its file), an unreadable frame, or a ground-truth line count that does
not match the frames raise `SequenceError`, naming the sequence and the file.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Iterator

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import images as images_lib

_FRAME_FOLDERS = ('img', 'imgs', 'color', '.')
OTB_GROUNDTRUTH = 'groundtruth_rect.txt'
VOT_GROUNDTRUTH = 'groundtruth.txt'

# OTB-2015 sequences whose img/ holds more frames than their ground truth: the
# (first, last) 1-based frame numbers the OTB toolkit evaluates.
OTB_FRAME_RANGES = {
    'david': (300, 770),
    'football1': (1, 74),
    'freeman3': (1, 460),
    'freeman4': (1, 283),
    'diving': (1, 215),
}


class SequenceError(ValueError):
  """A sequence on disk that cannot be used; the message names the sequence and file."""


@dataclasses.dataclass(frozen=True)
class Sequence:
  """A clip with one tracked object, all frames in memory.

  Attributes:
    name: the sequence's name.
    frames: (T, H, W, 3) uint8 RGB frames.
    boxes: (T, 4) float32 xyxy ground truth, one per frame.
  """
  name: str
  frames: np.ndarray
  boxes: np.ndarray


def read_groundtruth(path: str | pathlib.Path, otb: bool = False) -> np.ndarray:
  """Reads OTB, VOT or GOT-10k ground truth into (T, 4) xyxy boxes.

  Args:
    path: the ground-truth file: one box per line, 4 values (``x, y, w, h``,
      1-based) or 8 (a VOT polygon), separated by commas, tabs or spaces.
      ``nan`` values give a NaN box (no true box in that frame).
    otb: accept only 4-value lines.

  Raises:
    ValueError: naming the file and line, for a line that is not 4 or 8
      numbers (VOT segmentation masks, ``m...`` lines, are not supported) or a
      file with no boxes.
  """
  path = pathlib.Path(path)
  rows = []
  for lineno, line in enumerate(path.read_text().splitlines(), 1):
    if not line.strip():
      continue
    if line.lstrip().startswith('m'):
      raise ValueError(f'{path}:{lineno}: a VOT segmentation mask; only boxes and polygons '
                       'are supported')
    fields = [f for f in re.split(r'[,\s]+', line.strip()) if f]
    try:
      values = [float(f) for f in fields]
    except ValueError:
      raise ValueError(f'{path}:{lineno}: not numbers: {line!r}') from None
    expected = (4,) if otb else (4, 8)
    if len(values) not in expected:
      raise ValueError(f'{path}:{lineno}: expected '
                       f'{"4 (x,y,w,h)" if otb else "4 (x,y,w,h) or 8 (polygon)"} values, '
                       f'got {len(values)}: {line!r}')
    rows.append(boxes_lib.from_vot_polygon(np.asarray(values, np.float32)))
  if not rows:
    raise ValueError(f'{path} holds no boxes')
  return np.stack(rows).astype(np.float32)


def sequence_groundtruth(name: str, path: pathlib.Path, otb: bool = False) -> np.ndarray:
  """`read_groundtruth` of sequence `name`'s file: a missing or bad file is a `SequenceError`
  naming the sequence and the file."""
  if not path.is_file():
    raise SequenceError(f'sequence {name}: {path} is missing')
  try:
    return read_groundtruth(path, otb)
  except ValueError as e:
    raise SequenceError(f'sequence {name}: {e}') from e


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceFiles:
  """A sequence on disk: frame files and ground truth; frames are read on demand.

  Attributes:
    name: the sequence's name (unique within a dataset).
    frame_paths: the T frame files in order.
    boxes: (T, 4) float32 xyxy ground truth; NaN rows for frames without a
      true box.
    groundtruth: the file the boxes came from (for messages).
  """
  name: str
  frame_paths: tuple[pathlib.Path, ...]
  boxes: np.ndarray
  groundtruth: pathlib.Path | None = None

  def __post_init__(self):
    boxes = np.asarray(self.boxes, np.float32)
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
      raise SequenceError(f'sequence {self.name}: boxes must be (T, 4), got {boxes.shape}')
    if len(boxes) != len(self.frame_paths):
      where = f' in {self.groundtruth}' if self.groundtruth else ''
      raise SequenceError(f'sequence {self.name}: {len(self.frame_paths)} frames but '
                          f'{len(boxes)} ground-truth boxes{where}')
    if not self.frame_paths:
      raise SequenceError(f'sequence {self.name} has no frames')
    object.__setattr__(self, 'frame_paths', tuple(pathlib.Path(p) for p in self.frame_paths))
    object.__setattr__(self, 'boxes', boxes)

  def __len__(self) -> int:
    return len(self.frame_paths)

  def read(self, index: int) -> np.ndarray:
    """Frame `index` as (H, W, 3) uint8 RGB.

    Raises:
      SequenceError: naming the sequence and file, if it is missing or unreadable.
    """
    path = self.frame_paths[index]
    if not path.is_file():
      raise SequenceError(f'sequence {self.name}: frame {index} file {path} is missing')
    try:
      return images_lib.read_frame(path)
    except ValueError as e:
      raise SequenceError(f'sequence {self.name}: frame {index}: {e}') from e

  def frames(self) -> Iterator[np.ndarray]:
    """The frames in order, each read when it is reached."""
    for i in range(len(self)):
      yield self.read(i)

  def head(self, n: int | None) -> SequenceFiles:
    """The first `n` frames (all if `n` is None)."""
    if n is None or n >= len(self):
      return self
    if n < 1:
      raise ValueError(f'a sequence needs at least one frame, asked for {n}')
    return SequenceFiles(self.name, self.frame_paths[:n], self.boxes[:n], self.groundtruth)

  def check(self) -> tuple[int, int]:
    """Checks every frame file from its header (no decoding); returns (height, width).

    Raises:
      SequenceError: naming the sequence and file, for a missing or unreadable
        frame or frames of different sizes.
    """
    size = None
    for i, path in enumerate(self.frame_paths):
      if not path.is_file():
        raise SequenceError(f'sequence {self.name}: frame {i} file {path} is missing')
      try:
        this = images_lib.image_size(path)
      except ValueError as e:
        raise SequenceError(f'sequence {self.name}: frame {i}: {e}') from e
      if size is None:
        size = this
      elif this != size:
        raise SequenceError(f'sequence {self.name}: frame {i} {path} is {this[1]}x{this[0]}, '
                            f'frame 0 {size[1]}x{size[0]} (width x height)')
    return size

  def load(self) -> Sequence:
    """All frames in memory as a `Sequence`."""
    frames = list(self.frames())
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
      raise SequenceError(f'sequence {self.name}: frames of different sizes {sorted(shapes)}')
    return Sequence(self.name, np.stack(frames), self.boxes)


def frame_number(path: pathlib.Path) -> int | None:
  """The number in a frame file's name (``0001.jpg`` -> 1), or None if it has none."""
  return int(path.stem) if path.stem.isdigit() else None


def _numbered_name(like: pathlib.Path, number: int) -> pathlib.Path:
  return like.with_name(f'{number:0{len(like.stem)}d}{like.suffix}')


def select_frames(name: str, paths: list[pathlib.Path],
                  frame_range: tuple[int, int] | None = None) -> list[pathlib.Path]:
  """Checks the numbering of frame files and applies a (first, last) frame range.

  Args:
    name: the sequence's name, for errors.
    paths: the frame files, sorted.
    frame_range: 1-based inclusive frame numbers to keep (the file names' numbers).

  Returns:
    The frames to use, in order.

  Raises:
    SequenceError: naming the first missing file, if the numbered frames have a
      gap (or the range asks for frames that are not there).
  """
  numbers = [frame_number(p) for p in paths]
  if not paths or any(n is None for n in numbers):
    if frame_range is not None:
      raise SequenceError(f'sequence {name}: a frame range {frame_range} needs numbered frame '
                          f'files, found {paths[0].name if paths else "none"}')
    return paths
  by_number = dict(zip(numbers, paths))
  first, last = frame_range if frame_range is not None else (numbers[0], numbers[-1])
  for n in range(first, last + 1):
    if n not in by_number:
      raise SequenceError(f'sequence {name}: frame file {_numbered_name(paths[0], n)} is missing '
                          f'(frames {first}..{last} expected)')
  return [by_number[n] for n in range(first, last + 1)]


def _read_frame_range(path: pathlib.Path) -> tuple[int, int]:
  values = [f for f in re.split(r'[,\s]+', path.read_text().strip()) if f]
  try:
    first, last = (int(v) for v in values)
  except ValueError:
    raise SequenceError(f'{path}: expected two frame numbers "first,last", got '
                        f'{path.read_text().strip()!r}') from None
  if not 1 <= first <= last:
    raise SequenceError(f'{path}: bad frame range {first}..{last}')
  return first, last


def _vot_frames_folder(folder: pathlib.Path) -> pathlib.Path | None:
  """The frames folder named by a VOT ``sequence`` file's ``channels.color``, if any."""
  meta = folder / 'sequence'
  if not meta.is_file():
    return None
  for line in meta.read_text().splitlines():
    key, _, value = line.partition('=')
    if key.strip() == 'channels.color' and value.strip():
      return folder / pathlib.Path(value.strip()).parent
  return None


def frame_files(folder: pathlib.Path, name: str | None = None) -> list[pathlib.Path]:
  """The image files of a sequence folder (VOT ``sequence`` file, img/, imgs/, color/, itself)."""
  name = name or folder.name
  candidates = [_vot_frames_folder(folder)] + [folder / sub for sub in _FRAME_FOLDERS]
  for d in candidates:
    if d is not None and d.is_dir():
      paths = images_lib.list_images(d)
      if paths:
        return paths
  raise SequenceError(f'sequence {name}: {folder} has no frames in img/, imgs/, color/ or itself')


def groundtruth_files(folder: pathlib.Path) -> list[pathlib.Path]:
  """The ground-truth files of a sequence folder: OTB single or multi-target, else VOT/GOT-10k."""
  if (folder / OTB_GROUNDTRUTH).is_file():
    return [folder / OTB_GROUNDTRUTH]
  multi = sorted(folder.glob('groundtruth_rect.*.txt'),
                 key=lambda p: (len(p.name), p.name))
  if multi:
    return multi
  if (folder / VOT_GROUNDTRUTH).is_file():
    return [folder / VOT_GROUNDTRUTH]
  return []


def open_sequences(folder: str | pathlib.Path, name: str | None = None,
                   frame_range: tuple[int, int] | None = None) -> list[SequenceFiles]:
  """Opens an OTB-, VOT- or GOT-10k-layout sequence folder; frames are not read.

  A multi-target OTB folder (``groundtruth_rect.1.txt``, ...) gives one
  sequence per non-empty file, named ``NAME.1``, ``NAME.2`` (as the got10k
  toolkit does; an empty file, like Human4's ``.1``, is skipped, and a folder
  left with one target is named ``NAME``).

  Args:
    folder: the sequence folder.
    name: the sequence name (default: the folder's name).
    frame_range: (first, last) 1-based frame numbers; default from a
      ``*_frames.txt`` file or `OTB_FRAME_RANGES`, else all frames.

  Raises:
    SequenceError: naming the sequence and file: no ground truth or frames, a
      missing frame, a bad ground-truth line, or a ground-truth line count that
      does not match the frame count.
  """
  folder = pathlib.Path(folder)
  name = name or folder.name
  gt_paths = groundtruth_files(folder)
  if not gt_paths:
    raise SequenceError(f'sequence {name}: {folder} has no {OTB_GROUNDTRUTH}, '
                        f'groundtruth_rect.N.txt or {VOT_GROUNDTRUTH}')
  if len(gt_paths) > 1:
    gt_paths = [p for p in gt_paths if p.read_text().strip()] or gt_paths[:1]
  gts = [sequence_groundtruth(name, p, otb=p.name.startswith('groundtruth_rect'))
         for p in gt_paths]
  all_paths = frame_files(folder, name)
  if frame_range is None:
    range_files = sorted(folder.glob('*_frames.txt'))
    if range_files:
      frame_range = _read_frame_range(range_files[0])
    elif len(all_paths) != len(gts[0]):
      frame_range = OTB_FRAME_RANGES.get(folder.name.lower())
  paths = select_frames(name, all_paths, frame_range)
  out = []
  for gt_path, gt in zip(gt_paths, gts):
    seq_name = name
    if len(gt_paths) > 1:
      seq_name = f'{name}.{gt_path.name.split(".")[1]}'
    out.append(SequenceFiles(seq_name, tuple(paths), gt, gt_path))
  return out


def open_sequence(folder: str | pathlib.Path, name: str | None = None,
                  frame_range: tuple[int, int] | None = None) -> SequenceFiles:
  """Opens a single-target sequence folder (see `open_sequences`)."""
  seqs = open_sequences(folder, name, frame_range)
  if len(seqs) != 1:
    raise SequenceError(f'sequence {seqs[0].name.rsplit(".", 1)[0]}: {folder} holds '
                        f'{len(seqs)} targets ({", ".join(s.name for s in seqs)}); '
                        'use open_sequences')
  return seqs[0]


def load_sequence(folder: str | pathlib.Path, max_frames: int | None = None) -> Sequence:
  """Loads an OTB- or VOT-layout sequence folder into memory.

  Args:
    folder: the sequence folder.
    max_frames: read only the first `max_frames` frames.

  Raises:
    SequenceError (a ValueError): no ground truth or frames, an unreadable
      frame, or a ground truth line count that does not match the frame count
      (each named).
  """
  return open_sequence(folder).head(max_frames).load()
