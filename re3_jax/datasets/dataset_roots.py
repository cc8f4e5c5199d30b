"""Benchmark roots: the sequences under an OTB, VOT, GOT-10k, LaSOT, UAV123, DTB70,
TColor-128 or NfS root, for the evaluation harness and the training sources.

A dataset is a list of `sequences.SequenceFiles`: names, frame paths and
ground truth; frames are read only when a tracker reaches them, so a whole
dataset never sits in memory. Each reader is an entry of the one table of layouts,
`re3_jax.datasets.layouts.LAYOUTS` (which also holds ImageNet VID's,
`re3_jax.datasets.vid_roots`), whose `open_root(kind, root)` picks the reader for the
evaluation and the training sources:

* ``otb``: one folder per sequence with ``groundtruth_rect.txt`` (or, for
  multi-target sequences like ``Jogging``, ``groundtruth_rect.1.txt``,
  ``groundtruth_rect.2.txt``: sequences ``Jogging.1`` and ``Jogging.2``) and
  ``img/``. Folders without OTB ground truth are ignored, so a folder holding
  OTB and VOT sequences side by side (``../shared/sequences``) works. This is
  also the layout of a user's own data (README, "Training on your own videos").
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
* ``lasot``: ``ROOT/CATEGORY/CATEGORY-N/`` with ``img/00000001.jpg ...``,
  ``groundtruth.txt`` (``x,y,w,h``, 1-based) and ``full_occlusion.txt`` /
  ``out_of_view.txt`` (one line of comma-separated 0/1 flags): flagged frames
  have no true box (NaN rows; LaSOT's authors say their boxes are arbitrary,
  HengLan/LaSOT_Evaluation_Toolkit issue 19). The root may also be one
  category or one sequence folder; a ``list.txt`` of sequence names (e.g.
  the 280 test sequences) selects those.
* ``uav123``, ``dtb70``, ``tcolor128``, ``nfs``: read through the got10k
  toolkit, see `re3_jax.datasets.toolkit_roots`.

A root that is itself one sequence folder (it holds the ground-truth file) is
a one-sequence dataset (``otb``, ``vot``, ``got10k``, ``lasot``).

Why these readers are ours rather than got10k's dataset classes: got10k's
`OTB` and `VOT` download the benchmark when any sequence of their version is
missing and read no frame-range files; its `GOT10k` leaves absent frames'
boxes in place; its `LaSOT` (0.1.3) fails at construction (`_check_integrity`
is called with one argument too many) and ignores the absence flags.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Callable, Sequence

import numpy as np

from re3_jax.core import images as images_lib
from re3_jax.datasets import sequences
from re3_jax.datasets import toolkit_roots

SequenceError = sequences.SequenceError


@dataclasses.dataclass(frozen=True)
class Dataset:
  """The sequences of one dataset root.

  Attributes:
    kind: what read it: a layout of `re3_jax.datasets.layouts.LAYOUTS`.
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


def unique(seqs: list[sequences.SequenceFiles], root: pathlib.Path) -> tuple:
  """The sequences as a tuple; SequenceError if a name appears twice."""
  seen = set()
  for s in seqs:
    if s.name in seen:
      raise SequenceError(f'sequence {s.name} appears twice under {root}')
    seen.add(s.name)
  return tuple(seqs)


def otb(root: str | pathlib.Path) -> Dataset:
  """An OTB root: every folder with ``groundtruth_rect[.N].txt`` (see the module docstring)."""
  root = pathlib.Path(root)
  toolkit_roots.check_root(root, 'OTB')
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
  return Dataset('otb', root, unique(seqs, root))


def _listed_root(root: str | pathlib.Path, kind: str, label: str,
                 open_one: Callable[[pathlib.Path], sequences.SequenceFiles]) -> Dataset:
  """A root of sequence folders with ``groundtruth.txt``: those of ``list.txt``, else all.

  A root that is itself a sequence folder gives that one sequence.
  """
  root = pathlib.Path(root)
  toolkit_roots.check_root(root, label)
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
  return Dataset(kind, root, unique([open_one(f) for f in folders], root))


def _vot_sequence(folder: pathlib.Path) -> sequences.SequenceFiles:
  if not (folder / sequences.VOT_GROUNDTRUTH).is_file():
    raise SequenceError(f'sequence {folder.name}: {folder / sequences.VOT_GROUNDTRUTH} is missing')
  return sequences.open_sequence(folder)


def vot(root: str | pathlib.Path) -> Dataset:
  """A VOT root: the sequences of ``list.txt``, else every folder with ``groundtruth.txt``."""
  return _listed_root(root, 'vot', 'VOT', _vot_sequence)


def _read_labels(path: pathlib.Path, name: str, n: int) -> np.ndarray | None:
  """The per-frame integers of a label file (whitespace or comma separated); None if absent."""
  if not path.is_file():
    return None
  try:
    values = np.array([int(v) for v in re.split(r'[,\s]+', path.read_text().strip()) if v],
                      np.int64)
  except ValueError:
    raise SequenceError(f'sequence {name}: {path} holds a value that is not an integer') from None
  if len(values) != n:
    raise SequenceError(f'sequence {name}: {path} has {len(values)} values for {n} frames')
  return values


# (label file, the value that marks a frame without the target): frames without a true box.
GOT10K_HIDDEN = (('absence.label', 1), ('cover.label', 0))
LASOT_HIDDEN = (('full_occlusion.txt', 1), ('out_of_view.txt', 1))


def _labelled(name: str, paths, gt: np.ndarray, gt_path: pathlib.Path,
              rules) -> sequences.SequenceFiles:
  """The sequence, with NaN rows where a label file beside `gt_path` (`rules`: optional files)
  marks the target absent. `SequenceFiles` checks the frame and box counts (naming the
  ground-truth file) before the labels are read."""
  seq = sequences.SequenceFiles(name, tuple(paths), gt, gt_path)
  hidden = np.zeros(len(seq), bool)
  for file, value in rules:
    labels = _read_labels(gt_path.parent / file, name, len(seq))
    if labels is not None:
      hidden |= labels == value
  return dataclasses.replace(seq, boxes=np.where(hidden[:, None], np.nan, seq.boxes))


def got10k_sequence(folder: str | pathlib.Path) -> sequences.SequenceFiles:
  """One GOT-10k sequence folder (see the module docstring)."""
  folder = pathlib.Path(folder)
  name = folder.name
  gt_path = folder / sequences.VOT_GROUNDTRUTH
  gt = sequences.sequence_groundtruth(name, gt_path, otb=True)
  paths = sequences.select_frames(name, sequences.frame_files(folder, name))
  if len(gt) == 1 and len(paths) > 1:
    gt = np.concatenate([gt, np.full((len(paths) - 1, 4), np.nan, np.float32)])
  return _labelled(name, paths, gt, gt_path, GOT10K_HIDDEN)


def got10k(root: str | pathlib.Path) -> Dataset:
  """A GOT-10k split folder: the sequences of ``list.txt``, else every folder with ground truth."""
  return _listed_root(root, 'got10k', 'GOT-10k', got10k_sequence)


LASOT_GROUNDTRUTH = 'groundtruth.txt'


def _is_lasot(folder: pathlib.Path) -> bool:
  return (folder / LASOT_GROUNDTRUTH).is_file() and (folder / 'img').is_dir()


def lasot_sequence(folder: str | pathlib.Path) -> sequences.SequenceFiles:
  """One LaSOT sequence folder (see the module docstring)."""
  folder = pathlib.Path(folder)
  name = folder.name
  gt_path = folder / LASOT_GROUNDTRUTH
  gt = sequences.sequence_groundtruth(name, gt_path, otb=True)
  if not (folder / 'img').is_dir():
    raise SequenceError(f'sequence {name}: frames folder {folder / "img"} is missing')
  paths = sequences.select_frames(name, images_lib.list_images(folder / 'img'))
  return _labelled(name, paths, gt, gt_path, LASOT_HIDDEN)


def _lasot_folders(root: pathlib.Path) -> list[pathlib.Path]:
  """Sequence folders: listed (``list.txt``: ``CATEGORY-N`` names), or found two levels down."""
  if _is_lasot(root):
    return [root]
  listed = root / 'list.txt'
  if listed.is_file():
    names = [n.strip() for n in listed.read_text().splitlines() if n.strip()]
    folders = []
    for n in names:
      options = [root / n.rsplit('-', 1)[0] / n, root / n]
      found = next((f for f in options if f.is_dir()), None)
      if found is None:
        raise SequenceError(f'sequence {n}: listed in {listed} but neither '
                            f'{options[0]} nor {options[1]} is a folder')
      folders.append(found)
    return folders
  found = [f for f in _subfolders(root) if _is_lasot(f)]
  return found or [f for c in _subfolders(root) for f in _subfolders(c) if _is_lasot(f)]


def lasot(root: str | pathlib.Path) -> Dataset:
  """A LaSOT root (see the module docstring)."""
  root = pathlib.Path(root)
  toolkit_roots.check_root(root, 'LaSOT')
  folders = _lasot_folders(root)
  if not folders:
    raise FileNotFoundError(f'LaSOT root {root} holds no CATEGORY/CATEGORY-N folder with '
                            f'{LASOT_GROUNDTRUTH} and img/')
  return Dataset('lasot', root, unique([lasot_sequence(f) for f in folders], root))


def _toolkit_reader(kind: str, read) -> Callable[[str | pathlib.Path], Dataset]:
  def reader(root):
    root = pathlib.Path(root)
    return Dataset(kind, root, unique(read(root), root))
  reader.__doc__ = f'A {kind} root, read by `toolkit_roots.{read.__name__}`.'
  return reader


uav123 = _toolkit_reader('uav123', toolkit_roots.uav123)
dtb70 = _toolkit_reader('dtb70', toolkit_roots.dtb70)
tcolor128 = _toolkit_reader('tcolor128', toolkit_roots.tcolor128)
nfs = _toolkit_reader('nfs', toolkit_roots.nfs)
