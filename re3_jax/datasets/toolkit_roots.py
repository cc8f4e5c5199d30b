"""Benchmark roots read through the got10k toolkit: DTB70, TColor-128, NfS and UAV123.

Each reader returns the root's sequences as `sequences.SequenceFiles` (frames
read on demand; boxes xyxy, from the files' 1-based ``x, y, w, h`` as for
OTB, `boxes.from_otb`); `re3_jax.datasets.dataset_roots` wraps them into a
`dataset_roots.Dataset` for the evaluation harness and the training sources.

What comes from the toolkit (``pip install got10k``; the readers raise an
ImportError saying so without it), and why:

* ``dtb70`` (``ROOT/NAME/img/00001.jpg``, ``ROOT/NAME/groundtruth_rect.txt``):
  got10k's `DTB70` class.
* ``tcolor128`` (``ROOT/NAME/img/0001.jpg``, ``ROOT/NAME/NAME_gt.txt``,
  ``ROOT/NAME/NAME_frames.txt``: the first and last frame):
  got10k's `TColor128` class, with ``download=False`` (it would otherwise
  fetch the dataset over the network when the root holds 100 entries or fewer).
* ``nfs`` (Need for Speed at 30 fps, the benchmark's usual setting:
  ``ROOT/NAME/30/NAME/00001.jpg``, ``ROOT/NAME/30/NAME.txt`` with
  ``id left top right bottom ...`` lines, sometimes at 240 fps' line count):
  got10k's `NfS` class, which also keeps every 8th line of a 240 fps file.
* ``uav123`` (``ROOT/anno/UAV123/NAME.txt``, ``ROOT/data_seq/UAV123/FOLDER/
  000001.jpg``): got10k's sequence table (``uav123.json``: which folder and
  frames each of the 123 sequences uses; e.g. ``bird1_2`` is frames 775-1477
  of ``bird1``), read with our own code: got10k's `UAV123` class refuses a
  root with fewer than four entries, and the download's root holds two
  (``anno/``, ``data_seq/``). A sequence missing from the table (a user's own
  sequence in this layout) uses its whole folder.

The toolkit's own checks are asserts and bare exceptions; here every problem
is a `sequences.SequenceError` naming the sequence and file: an annotation
file that does not parse, frame and box counts that differ, a frame missing
from the numbering or from the sequence's range. A root without sequences is
a FileNotFoundError naming it.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import json
import pathlib
from typing import Any, Callable

import numpy as np

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import images as images_lib
from re3_jax.datasets import sequences

SequenceError = sequences.SequenceError
NFS_FPS = 30


# Modules the got10k toolkit imports whose pip package has another name.
_PIP_NAMES = {'PIL': 'Pillow', 'cv2': 'opencv-python', 'shapely': 'Shapely'}


def install_hint(error: ImportError) -> str:
  """``pip install NAME`` for the module `error` found missing: ``got10k`` itself, or one it
  imports but does not declare (``six``: ``pip install got10k`` leaves it out)."""
  missing = (error.name or 'got10k').split('.')[0]
  return f'pip install {_PIP_NAMES.get(missing, missing)}'


def toolkit_datasets():
  """got10k's ``datasets`` module; ImportError with the install hint without it."""
  try:
    from got10k import datasets  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('reading DTB70, TColor-128, NfS and UAV123 roots uses the got10k '
                      f'toolkit ({e}): {install_hint(e)}') from e
  return datasets


def check_root(root: pathlib.Path, label: str) -> None:
  if not root.is_dir():
    raise FileNotFoundError(f'{label} dataset root {root} is not a folder')


def _make_sequence(name: str, paths, xywh: np.ndarray, groundtruth: pathlib.Path,
                  check_numbering: bool = True) -> sequences.SequenceFiles:
  """A sequence from frame files and ``(T, 4)`` 1-based ``x, y, w, h`` boxes.

  Args:
    check_numbering: check the numbered files for a gap (`sequences.select_frames`);
      else check that each file exists (paths made from a frame range).
  """
  paths = [pathlib.Path(p) for p in paths]
  if not paths:
    raise SequenceError(f'sequence {name}: no frames (ground truth {groundtruth})')
  if check_numbering:
    paths = sequences.select_frames(name, paths)
  else:
    missing = next((p for p in paths if not p.is_file()), None)
    if missing is not None:
      raise SequenceError(f'sequence {name}: frame file {missing} is missing')
  xywh = np.asarray(xywh, np.float32).reshape(-1, 4)  # the toolkit gives (4,) for one line
  return sequences.SequenceFiles(name, tuple(paths), boxes_lib.from_otb(xywh), groundtruth)


def _from_toolkit(dataset: Any, label: str, root: pathlib.Path,
                  check_numbering: bool) -> list[sequences.SequenceFiles]:
  """The sequences of a got10k dataset object, its errors named."""
  out = []
  for index, name in enumerate(dataset.seq_names):
    groundtruth = pathlib.Path(dataset.anno_files[index])
    try:
      with contextlib.redirect_stdout(io.StringIO()):
        paths, xywh = dataset[index]
    except AssertionError:
      raise SequenceError(f'sequence {name}: the frames do not match the ground truth '
                          f'{groundtruth} (their counts differ, or it is not 4 values a line)'
                          ) from None
    except (ValueError, IndexError, OSError) as e:
      raise SequenceError(f'sequence {name}: cannot read {groundtruth}: {e}') from e
    out.append(_make_sequence(name, paths, xywh, groundtruth, check_numbering))
  if not out:
    raise FileNotFoundError(f'{label} root {root} holds no sequence')
  return out


def _construct(make: Callable[[Any], Any], label: str, root: pathlib.Path) -> Any:
  """``make(got10k.datasets)``: a got10k dataset, its prints muted, its bare exceptions named."""
  check_root(root, label)
  module = toolkit_datasets()
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      return make(module)
  except IndexError:  # TColor128: a sequence folder without NAME_frames.txt
    missing = [p for p in sorted(root.iterdir()) if p.is_dir() and not any(p.glob('*_frames.txt'))]
    raise SequenceError(f'sequence {missing[0].name if missing else "?"}: {label} needs '
                        f'{missing[0] if missing else root}/NAME_frames.txt (first,last frame)'
                        ) from None
  except Exception as e:  # pylint: disable=broad-except  # got10k raises bare Exception
    raise FileNotFoundError(f'{label} root {root}: {e}') from e


def dtb70(root: str | pathlib.Path) -> list[sequences.SequenceFiles]:
  """A DTB70 root (see the module docstring)."""
  root = pathlib.Path(root)
  dataset = _construct(lambda d: d.DTB70(str(root)), 'DTB70', root)
  return _from_toolkit(dataset, 'DTB70', root, check_numbering=True)


def tcolor128(root: str | pathlib.Path) -> list[sequences.SequenceFiles]:
  """A TColor-128 root (see the module docstring)."""
  root = pathlib.Path(root)
  dataset = _construct(lambda d: d.TColor128(str(root), download=False),
                       'TColor-128', root)
  return _from_toolkit(dataset, 'TColor-128', root, check_numbering=False)


def nfs(root: str | pathlib.Path) -> list[sequences.SequenceFiles]:
  """An NfS root at 30 fps (see the module docstring)."""
  root = pathlib.Path(root)
  dataset = _construct(lambda d: d.NfS(str(root), fps=NFS_FPS), 'NfS', root)
  return _from_toolkit(dataset, 'NfS', root, check_numbering=True)


def uav123_table() -> dict[str, dict[str, Any]]:
  """got10k's UAV123 sequence table: name -> ``folder_name``, ``start_frame``, ``end_frame``."""
  table = importlib.resources.files(toolkit_datasets()) / 'uav123.json'
  return json.loads(table.read_text())['UAV123']


def uav123(root: str | pathlib.Path) -> list[sequences.SequenceFiles]:
  """A UAV123 root (see the module docstring)."""
  root = pathlib.Path(root)
  check_root(root, 'UAV123')
  table = uav123_table()
  anno_dir, data_dir = root / 'anno/UAV123', root / 'data_seq/UAV123'
  annos = sorted(anno_dir.glob('*.txt')) if anno_dir.is_dir() else []
  if not annos:
    raise FileNotFoundError(f'UAV123 root {root} holds no anno/UAV123/NAME.txt')
  out = []
  for anno in annos:
    name = anno.stem
    meta = table.get(name, {'folder_name': name})
    folder = data_dir / meta['folder_name']
    if not folder.is_dir():
      raise SequenceError(f'sequence {name}: frames folder {folder} is missing (for {anno})')
    frame_range = (meta['start_frame'], meta['end_frame']) if 'start_frame' in meta else None
    paths = sequences.select_frames(name, images_lib.list_images(folder), frame_range)
    boxes = sequences.sequence_groundtruth(name, anno, otb=True)
    out.append(sequences.SequenceFiles(name, tuple(paths), boxes, anno))
  return out
