"""The dataset layouts, by name: `LAYOUTS`, the one table of ``KIND:ROOT`` readers, and the
``KIND:ROOT`` specs over it (`parse_spec`, `open_dataset`).

An entry makes a layout on disk both an evaluation dataset (``python -m re3_jax.evaluate
--dataset=KIND:ROOT``, ``--config.eval_dataset``: `open_dataset`) and a
training source (``--config.data.mixture=KIND:ROOT=...`` and ``KIND_sim:ROOT``,
`folder_sources`): both look the kind up here. The readers themselves live beside the code
they share: the benchmark roots in `re3_jax.datasets.dataset_roots` (the got10k-read ones through
`re3_jax.datasets.toolkit_roots`), ImageNet VID validation in `vid_roots` (it assembles tracks
by the training input's rules, `tracks`). Adding a layout is a reader (a function ``root ->
dataset_roots.Dataset``) and one entry in `LAYOUTS` (docs/EXTENDING.md).
"""

from __future__ import annotations

import pathlib
from typing import Callable, NamedTuple, Sequence

from re3_jax.core import tables
from re3_jax.datasets import dataset_roots
from re3_jax.datasets import vid_roots

Dataset = dataset_roots.Dataset


class Layout(NamedTuple):
  """A dataset layout.

  name: the KIND of ``KIND:ROOT`` (and the `Dataset.kind` its reader gives).
  read: root -> the `Dataset` of every sequence under it (raises `sequences.SequenceError`
    for a damaged sequence, naming it and its file; FileNotFoundError for a root without
    sequences).
  about: the layout on disk, in a line.
  read_some: (root, names) -> a `Dataset` holding at least the named sequences of the root
    that exist, reading less than `read` (VID parses only the named videos' xmls); None:
    `read`, then select.
  """
  name: str
  read: Callable[[pathlib.Path], Dataset]
  about: str
  read_some: Callable[[pathlib.Path, Sequence[str]], Dataset] | None = None


LAYOUTS = tables.by_name(
    'layouts',
    Layout('otb', dataset_roots.otb, 'NAME/img/0001.jpg and NAME/groundtruth_rect.txt'),
    Layout('vot', dataset_roots.vot, 'NAME/groundtruth.txt and NAME/color/00000001.jpg'),
    Layout('got10k', dataset_roots.got10k, 'a split: list.txt, NAME/groundtruth.txt, '
           'NAME/00000001.jpg, absence.label, cover.label'),
    Layout('lasot', dataset_roots.lasot, 'CATEGORY/CATEGORY-N/img/00000001.jpg, groundtruth.txt, '
           'full_occlusion.txt, out_of_view.txt'),
    Layout('uav123', dataset_roots.uav123, 'anno/UAV123/NAME.txt, data_seq/UAV123/FOLDER/ '
           '(got10k)'),
    Layout('dtb70', dataset_roots.dtb70, 'NAME/img/00001.jpg, NAME/groundtruth_rect.txt (got10k)'),
    Layout('tcolor128', dataset_roots.tcolor128, 'NAME/img/0001.jpg, NAME/NAME_gt.txt, '
           'NAME/NAME_frames.txt (got10k)'),
    Layout('nfs', dataset_roots.nfs, 'NAME/30/NAME/00001.jpg, NAME/30/NAME.txt (got10k)'),
    Layout('vid', vid_roots.vid, 'ImageNet VID val: ILSVRC2015/Data/VID/val/VIDEO/000000.JPEG '
           'and Annotations/VID/val/VIDEO/000000.xml',
           read_some=lambda root, names: vid_roots.vid(root, videos=names)),
)
KINDS = tuple(LAYOUTS)


def get(kind: str) -> Layout:
  """The layout `kind`; ValueError naming the registered ones for another kind."""
  if kind not in LAYOUTS:
    raise ValueError(f'unknown dataset kind {kind!r}: one of {", ".join(KINDS)}')
  return LAYOUTS[kind]


def open_root(kind: str, root: str | pathlib.Path,
              names: Sequence[str] | None = None) -> Dataset:
  """The sequences of a ``kind`` root (one of `KINDS`).

  `names`: a hint, not a selection: a layout that can read only some sequences
  (`Layout.read_some`) reads those; the result may hold others and lacks the names the root
  does not have (`Dataset.select` selects and names the missing ones).

  Raises:
    ValueError: an unknown kind; `sequences.SequenceError` for a damaged
      sequence (named, with its file); FileNotFoundError for a root without
      sequences; ImportError for a toolkit layout without got10k installed.
  """
  layout = get(kind)
  root = pathlib.Path(root).expanduser()
  if names is not None and layout.read_some is not None:
    return layout.read_some(root, names)
  return layout.read(root)


def parse_spec(spec: str) -> tuple[str, pathlib.Path]:
  """``'otb:ROOT'`` -> ('otb', Path(ROOT)); raises ValueError naming the known kinds."""
  kind, sep, root = spec.partition(':')
  if not sep or kind not in LAYOUTS or not root:
    raise ValueError(f'dataset {spec!r} must be KIND:ROOT with KIND one of {", ".join(KINDS)}')
  return kind, pathlib.Path(root).expanduser()


def read(spec: str, names: Sequence[str] | None = None) -> Dataset:
  """Opens ``KIND:ROOT``, reading only `names` where the layout can (`open_root`: a hint; the
  result may hold other sequences and lack some names). For several datasets whose names are
  selected together (`select`)."""
  kind, root = parse_spec(spec)
  return open_root(kind, root, names)


def open_dataset(spec: str, names: Sequence[str] | None = None) -> Dataset:
  """Opens ``KIND:ROOT`` and keeps the sequences `names` (all if None), in that order.

  Raises:
    ValueError: a bad spec; `sequences.SequenceError` for a damaged sequence;
      FileNotFoundError for a root without sequences; ValueError for unknown names;
      ImportError for a got10k-read layout without got10k installed.
  """
  return read(spec, names).select(names)
