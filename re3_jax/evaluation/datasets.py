"""Evaluation datasets: the sequences under an OTB, VOT, GOT-10k or ImageNet VID root.

A dataset is a list of `sequences.SequenceFiles`: names, frame paths and
ground truth; frames are read only when a tracker reaches them, so a whole
dataset never sits in memory. `open_dataset('otb:ROOT')` picks the reader:

* ``otb``: one folder per sequence with ``groundtruth_rect.txt`` (or, for
  multi-target sequences like ``Jogging``, ``groundtruth_rect.1.txt``,
  ``groundtruth_rect.2.txt``: sequences ``Jogging.1`` and ``Jogging.2``) and
  ``img/``. Folders without OTB ground truth are ignored, so a folder holding
  OTB and VOT sequences side by side (``../shared/sequences``) works.
* ``vot``: one folder per sequence with ``groundtruth.txt`` (polygons or
  rectangles) and frames in ``color/`` (or as a ``sequence`` file says),
  ``imgs/``, ``img/`` or the folder itself; the sequences of ``list.txt`` if
  the root has one, else every such folder.
* ``got10k``: a split folder (e.g. ``GOT-10k/val``) with ``list.txt`` and per
  sequence ``groundtruth.txt`` (``x,y,w,h``, 1-based) and ``00000001.jpg``
  ...; frames marked in ``absence.label`` (1) or ``cover.label`` (0) have no
  true box (NaN rows), as the GOT-10k toolkit scores only visible frames. A
  ``groundtruth.txt`` with only the first box (the test split) gives NaN
  truth for the other frames: results can be written, metrics are NaN.
* ``vid``: ImageNet VID validation, the raw layout
  ``ILSVRC2015/Data/VID/val/<video>/000000.JPEG`` with
  ``ILSVRC2015/Annotations/VID/val/<video>/000000.xml``; one sequence per
  track (``<video>/<trackid>``), from the object's first to its last visible
  frame, NaN truth where it is not visible (the track rules of
  `re3_jax.input.tracks.vid_tracks`).

A root that is itself one sequence folder (it holds the ground-truth file) is
a one-sequence dataset.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable, Sequence

import numpy as np

from re3_jax.input import annotations
from re3_jax.input import layouts
from re3_jax.input import tracks as tracks_lib
from re3_jax.media import sequences

SequenceError = sequences.SequenceError
KINDS = ('otb', 'vot', 'got10k', 'vid')
VID_FRAME_SUFFIX = layouts.VID_FRAME_SUFFIX


@dataclasses.dataclass(frozen=True)
class Dataset:
  """The sequences of one dataset root.

  Attributes:
    kind: one of `KINDS`.
    root: the root the user gave.
    sequences: the sequences, in the dataset's order.
  """
  kind: str
  root: pathlib.Path
  sequences: tuple[sequences.SequenceFiles, ...]

  @property
  def names(self) -> list[str]:
    return [s.name for s in self.sequences]

  def __len__(self) -> int:
    return len(self.sequences)

  def select(self, names: Sequence[str] | None) -> Dataset:
    """The named sequences (see `select`); all if `names` is None."""
    if names is None:
      return self
    return Dataset(self.kind, self.root,
                   select(self.sequences, names, f'{self.kind} dataset {self.root}'))


def select(seqs: Sequence[sequences.SequenceFiles], names: Sequence[str],
           where: str) -> tuple[sequences.SequenceFiles, ...]:
  """The sequences named `names`, in that order.

  A name that is no sequence's selects the sequences it prefixes as ``NAME.N``
  (the targets of a multi-target OTB folder) or ``NAME/...`` (the tracks of a
  VID video).

  Raises:
    ValueError: naming the unknown names, `where`, and some known names.
  """
  by_name = {s.name: s for s in seqs}
  chosen, unknown = [], []
  for n in names:
    found = [by_name[n]] if n in by_name else [
        s for s in seqs if s.name.startswith((n + '.', n + '/'))]
    chosen.extend(s for s in found if s not in chosen)
    if not found:
      unknown.append(n)
  if unknown:
    known = ', '.join(list(by_name)[:10]) + (' ...' if len(by_name) > 10 else '')
    raise ValueError(f'{where} has no sequence {", ".join(unknown)} (it has {known or "none"})')
  return tuple(chosen)


def _check_root(root: pathlib.Path, kind: str) -> None:
  if not root.is_dir():
    raise FileNotFoundError(f'{kind} dataset root {root} is not a folder')


def _list_file(root: pathlib.Path) -> list[str] | None:
  path = root / 'list.txt'
  if not path.is_file():
    return None
  names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
  for n in names:
    if not (root / n).is_dir():
      raise SequenceError(f'sequence {n}: listed in {path} but {root / n} is not a folder')
  return names


def _subfolders(root: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in root.iterdir() if p.is_dir())


def _unique(seqs: list[sequences.SequenceFiles], root: pathlib.Path) -> tuple:
  seen = set()
  for s in seqs:
    if s.name in seen:
      raise SequenceError(f'sequence {s.name} appears twice under {root}')
    seen.add(s.name)
  return tuple(seqs)


def otb(root: str | pathlib.Path) -> Dataset:
  """An OTB root: every folder with ``groundtruth_rect[.N].txt`` (see the module docstring)."""
  root = pathlib.Path(root)
  _check_root(root, 'OTB')
  if any(p.name.startswith('groundtruth_rect') for p in sequences.groundtruth_files(root)):
    folders = [root]
  else:
    folders = [f for f in _subfolders(root)
               if any(p.name.startswith('groundtruth_rect')
                      for p in sequences.groundtruth_files(f))]
  if not folders:
    raise FileNotFoundError(f'OTB root {root} holds no sequence folder with '
                            f'{sequences.OTB_GROUNDTRUTH}')
  seqs = [s for f in folders for s in sequences.open_sequences(f)]
  return Dataset('otb', root, _unique(seqs, root))


def _listed_root(root: str | pathlib.Path, kind: str, label: str,
                 open_one: Callable[[pathlib.Path], sequences.SequenceFiles]) -> Dataset:
  """A root of sequence folders with ``groundtruth.txt``: those of ``list.txt``, else all.

  A root that is itself a sequence folder gives that one sequence.
  """
  root = pathlib.Path(root)
  _check_root(root, label)
  if (root / sequences.VOT_GROUNDTRUTH).is_file():
    return Dataset(kind, root, (open_one(root),))
  listed = _list_file(root)
  if listed is not None:
    folders = [root / n for n in listed]
  else:
    folders = [f for f in _subfolders(root) if (f / sequences.VOT_GROUNDTRUTH).is_file()]
  if not folders:
    raise FileNotFoundError(f'{label} root {root} holds no list.txt and no sequence folder '
                            f'with {sequences.VOT_GROUNDTRUTH}')
  return Dataset(kind, root, _unique([open_one(f) for f in folders], root))


def _vot_sequence(folder: pathlib.Path) -> sequences.SequenceFiles:
  if not (folder / sequences.VOT_GROUNDTRUTH).is_file():
    raise SequenceError(f'sequence {folder.name}: {folder / sequences.VOT_GROUNDTRUTH} is missing')
  return sequences.open_sequence(folder)


def vot(root: str | pathlib.Path) -> Dataset:
  """A VOT root: the sequences of ``list.txt``, else every folder with ``groundtruth.txt``."""
  return _listed_root(root, 'vot', 'VOT', _vot_sequence)


def _read_labels(path: pathlib.Path, name: str, n: int) -> np.ndarray | None:
  if not path.is_file():
    return None
  try:
    values = np.array([int(v) for v in path.read_text().split()], np.int64)
  except ValueError:
    raise SequenceError(f'sequence {name}: {path} holds a value that is not an integer') from None
  if len(values) != n:
    raise SequenceError(f'sequence {name}: {path} has {len(values)} values for {n} frames')
  return values


def got10k_sequence(folder: str | pathlib.Path) -> sequences.SequenceFiles:
  """One GOT-10k sequence folder (see the module docstring)."""
  folder = pathlib.Path(folder)
  name = folder.name
  gt_path = folder / sequences.VOT_GROUNDTRUTH
  if not gt_path.is_file():
    raise SequenceError(f'sequence {name}: {gt_path} is missing')
  try:
    gt = sequences.read_groundtruth(gt_path, otb=True)
  except ValueError as e:
    raise SequenceError(f'sequence {name}: {e}') from e
  paths = sequences.select_frames(name, sequences.frame_files(folder, name))
  if len(gt) == 1 and len(paths) > 1:
    gt = np.concatenate([gt, np.full((len(paths) - 1, 4), np.nan, np.float32)])
  elif len(gt) != len(paths):
    raise SequenceError(f'sequence {name}: {len(paths)} frames but {len(gt)} ground-truth '
                        f'boxes in {gt_path}')
  absent = _read_labels(folder / 'absence.label', name, len(gt))
  cover = _read_labels(folder / 'cover.label', name, len(gt))
  hidden = np.zeros(len(gt), bool)
  if absent is not None:
    hidden |= absent == 1
  if cover is not None:
    hidden |= cover == 0
  gt = np.where(hidden[:, None], np.nan, gt).astype(np.float32)
  return sequences.SequenceFiles(name, tuple(paths), gt, gt_path)


def got10k(root: str | pathlib.Path) -> Dataset:
  """A GOT-10k split folder: the sequences of ``list.txt``, else every folder with ground truth."""
  return _listed_root(root, 'got10k', 'GOT-10k', got10k_sequence)


def _vid_video_sequences(data_dir: pathlib.Path, ann_dir: pathlib.Path,
                         video: str) -> list[sequences.SequenceFiles]:
  """The tracks of one VID video as sequences (reads its xmls, not its frames)."""
  frames_dir, xml_dir = data_dir / video, ann_dir / video
  jpegs = sorted(p for p in frames_dir.glob('*' + VID_FRAME_SUFFIX))
  if not jpegs:
    return []
  if not xml_dir.is_dir():
    raise SequenceError(f'sequence {video}: annotation folder {xml_dir} is missing')
  xmls = {p.stem: p for p in xml_dir.glob('*.xml')}
  for j in jpegs:
    if j.stem not in xmls:
      raise SequenceError(f'sequence {video}: frame {j} has no annotation '
                          f'{xml_dir / (j.stem + ".xml")}')
  extra = sorted(set(xmls) - {j.stem for j in jpegs})
  if extra:
    raise SequenceError(f'sequence {video}: annotation {xmls[extra[0]]} has no frame '
                        f'{frames_dir / (extra[0] + VID_FRAME_SUFFIX)}')
  jpegs = sequences.select_frames(video, jpegs)
  index = [sequences.frame_number(j) for j in jpegs]
  try:
    frames = [annotations.parse_vid_xml(xmls[j.stem]) for j in jpegs]
  except annotations.AnnotationError as e:
    raise SequenceError(f'sequence {video}: {e}') from e
  by_index = dict(zip(index, jpegs))
  out = []
  for track in tracks_lib.vid_tracks(frames, index, annotations.SkipCounter(), video):
    boxes = np.where(track.visible[:, None], track.boxes, np.nan).astype(np.float32)
    paths = tuple(by_index[int(t)] for t in track.frame_index)
    out.append(sequences.SequenceFiles(f'{video}/{track.track_id}', paths, boxes,
                                       xmls[jpegs[0].stem].parent))
  return out


def vid(root: str | pathlib.Path, videos: Sequence[str] | None = None,
        workers: int = 8) -> Dataset:
  """ImageNet VID validation tracks (see the module docstring).

  Args:
    root: the folder holding ``ILSVRC2015/`` (or ``ILSVRC2015`` itself).
    videos: read only these videos (names or ``video/trackid`` names select
      their video); default all. Only the selected videos' xmls are parsed.
    workers: threads reading xmls.
  """
  root = pathlib.Path(root)
  base = layouts.resolve_root(root, ['ILSVRC2015'], ['Data/VID/val', 'Annotations/VID/val'],
                              'ImageNet VID')
  data_dir, ann_dir = base / 'Data/VID/val', base / 'Annotations/VID/val'
  names = layouts.vid_videos(data_dir, ann_dir)
  if videos is not None:
    wanted = {v.split('/')[0] for v in videos}
    names = [n for n in names if n in wanted]
  per_video = layouts.threaded_map(lambda v: _vid_video_sequences(data_dir, ann_dir, v), names,
                                   workers=workers)
  return Dataset('vid', root, _unique([s for seqs in per_video for s in seqs], root))


_READERS = {'otb': otb, 'vot': vot, 'got10k': got10k, 'vid': vid}


def parse_spec(spec: str) -> tuple[str, pathlib.Path]:
  """``'otb:ROOT'`` -> ('otb', Path(ROOT)); raises ValueError naming the known kinds."""
  kind, sep, root = spec.partition(':')
  if not sep or kind not in KINDS or not root:
    raise ValueError(f'dataset {spec!r} must be KIND:ROOT with KIND one of {", ".join(KINDS)}')
  return kind, pathlib.Path(root).expanduser()


def open_dataset(spec: str, names: Sequence[str] | None = None) -> Dataset:
  """Opens ``KIND:ROOT`` and keeps the sequences `names` (all if None), in that order.

  Raises:
    ValueError: a bad spec; `sequences.SequenceError` for a damaged sequence;
      FileNotFoundError for a root without sequences; ValueError for unknown names.
  """
  kind, root = parse_spec(spec)
  if kind == 'vid':
    return vid(root, videos=names).select(names)
  return _READERS[kind](root).select(names)
