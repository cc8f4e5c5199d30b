"""Evaluation datasets: ``KIND:ROOT`` specs over the one table of layouts,
`re3_jax.input.dataset_layouts.LAYOUTS` (OTB, VOT, GOT-10k, LaSOT, UAV123, DTB70, TColor-128,
NfS, ImageNet VID validation: the same table the training sources read).
"""

from __future__ import annotations

from typing import Sequence

from re3_jax.input import dataset_layouts
from re3_jax.input import vid_roots
from re3_jax.media import dataset_roots
from re3_jax.media import sequences

Dataset = dataset_roots.Dataset
select = dataset_roots.select
SequenceError = sequences.SequenceError
KINDS = dataset_layouts.KINDS
VID_FRAME_SUFFIX = vid_roots.VID_FRAME_SUFFIX
vid = vid_roots.vid
parse_spec = dataset_layouts.parse_spec


def read(spec: str, names: Sequence[str] | None = None) -> Dataset:
  """Opens ``KIND:ROOT``, reading only `names` where the layout can (`dataset_layouts.open_root`:
  a hint; the result may hold other sequences and lack some names). For several datasets
  whose names are selected together (`select`)."""
  kind, root = parse_spec(spec)
  return dataset_layouts.open_root(kind, root, names)


def open_dataset(spec: str, names: Sequence[str] | None = None) -> Dataset:
  """Opens ``KIND:ROOT`` and keeps the sequences `names` (all if None), in that order.

  Raises:
    ValueError: a bad spec; `sequences.SequenceError` for a damaged sequence;
      FileNotFoundError for a root without sequences; ValueError for unknown names;
      ImportError for a got10k-read layout without got10k installed.
  """
  return read(spec, names).select(names)

