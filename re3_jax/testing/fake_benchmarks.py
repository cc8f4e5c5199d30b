"""Tiny fake benchmark roots in the real layouts: LaSOT, GOT-10k, UAV123, DTB70, TColor-128
and NfS (OTB folders: `fake_datasets.write_otb_sequence`).

Each writer puts one sequence into a root as the real download lays it out
(`re3_jax.datasets.dataset_roots`, `re3_jax.datasets.toolkit_roots`): noise JPEG
frames with a red box where ``rows`` say, and the ground truth in the
layout's own file format. ``rows`` are ``(T, 4)`` ``x, y, w, h`` boxes,
1-based pixels as the benchmarks write them; NaN rows are frames without a
box. Each writer returns the sequence folder.
"""

from __future__ import annotations

import pathlib

import numpy as np

from re3_jax.testing.fake_datasets import PathLike, write_box_frames, xywh_lines


def _int_lines(rows) -> list[str]:
  """``x,y,w,h`` lines as integers (LaSOT, DTB70 and TColor-128 write whole pixels)."""
  return [','.join(str(int(round(v))) for v in row) for row in np.nan_to_num(rows)]


def _write(path: pathlib.Path, lines: list[str]) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text('\n'.join(lines) + '\n')


def write_lasot(root: PathLike, name: str, rows, *, occluded=(), out_of_view=(),
                size: tuple[int, int] = (48, 64), seed: int = 0) -> pathlib.Path:
  """``ROOT/CATEGORY/NAME/`` (NAME is ``CATEGORY-N``): ``img/00000001.jpg``,
  ``groundtruth.txt``, ``full_occlusion.txt`` and ``out_of_view.txt`` (the
  0-based frame indices `occluded`, `out_of_view` flagged 1), ``nlp.txt``."""
  folder = pathlib.Path(root) / name.rsplit('-', 1)[0] / name
  write_box_frames(folder / 'img', rows, size, seed, digits=8)
  _write(folder / 'groundtruth.txt', _int_lines(rows))
  for file, flagged in (('full_occlusion.txt', occluded), ('out_of_view.txt', out_of_view)):
    _write(folder / file, [','.join('1' if t in flagged else '0' for t in range(len(rows)))])
  _write(folder / 'nlp.txt', ['a red box on noise'])
  return folder


def write_got10k(root: PathLike, name: str, rows, *, absent=(), first_box_only: bool = False,
                 size: tuple[int, int] = (48, 64), seed: int = 0) -> pathlib.Path:
  """``ROOT/NAME/00000001.jpg ...``, ``groundtruth.txt`` (only the first box with
  `first_box_only`, as on the test split, which has no labels), ``absence.label``
  (1 at the 0-based frames `absent`) and ``cover.label``; appends NAME to
  ``ROOT/list.txt``."""
  root = pathlib.Path(root)
  folder = write_box_frames(root / name, rows, size, seed, digits=8)
  _write(folder / 'groundtruth.txt', xywh_lines(rows[:1] if first_box_only else rows))
  if not first_box_only:
    _write(folder / 'absence.label', ['1' if t in absent else '0' for t in range(len(rows))])
    _write(folder / 'cover.label', ['0' if t in absent else '8' for t in range(len(rows))])
  listed = (root / 'list.txt').read_text().split() if (root / 'list.txt').is_file() else []
  _write(root / 'list.txt', listed + [name])
  return folder


def write_got10k_split(root: PathLike, split: str = 'test', *, videos: int = 3, frames: int = 5,
                       size: tuple[int, int] = (72, 96), seed: int = 0) -> pathlib.Path:
  """A GOT-10k split ``ROOT/SPLIT/`` of `videos` sequences ``GOT-10k_Test_000001`` ...
  (``Val``, ``Train`` after `split`), each a box moving a few pixels a frame; the
  test split's ground truth is the first box only. Returns the split folder."""
  if split not in ('train', 'val', 'test'):
    raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
  folder = pathlib.Path(root) / split
  height, width = size
  rng = np.random.default_rng(seed)
  for v in range(videos):
    w, h = rng.uniform(0.2, 0.35) * width, rng.uniform(0.2, 0.35) * height
    x, y = rng.uniform(1, width - w - 3 * frames), rng.uniform(1, height - h - frames)
    rows = np.array([[x + 3 * t, y + t, w, h] for t in range(frames)]).round(4)
    write_got10k(folder, f'GOT-10k_{split.capitalize()}_{v + 1:06d}', rows,
                 first_box_only=split == 'test', size=size, seed=seed + v)
  return folder


def write_uav123(root: PathLike, name: str, rows, *, folder_name: str | None = None,
                 first: int = 1, size: tuple[int, int] = (48, 64), seed: int = 0) -> pathlib.Path:
  """``ROOT/anno/UAV123/NAME.txt`` and frames ``ROOT/data_seq/UAV123/FOLDER/000001.jpg``.

  The sequence's rows are frames ``first ... first + T - 1`` of the folder
  (UAV123's split sequences, e.g. ``bird1_2``); frames before ``first`` are
  written too, without a box.
  """
  root = pathlib.Path(root)
  rows = np.asarray(rows, np.float64)
  folder = root / 'data_seq/UAV123' / (folder_name or name)
  before = np.full((first - 1, 4), np.nan)
  existing = len(list(folder.glob('*.jpg'))) if folder.is_dir() else 0
  write_box_frames(folder, np.concatenate([before, rows])[existing:], size, seed, digits=6,
                   first=existing + 1)
  _write(root / 'anno/UAV123' / f'{name}.txt', xywh_lines(rows))
  return folder


def write_dtb70(root: PathLike, name: str, rows, *, size: tuple[int, int] = (48, 64),
                seed: int = 0) -> pathlib.Path:
  """``ROOT/NAME/img/00001.jpg ...`` and ``ROOT/NAME/groundtruth_rect.txt``."""
  folder = pathlib.Path(root) / name
  write_box_frames(folder / 'img', rows, size, seed, digits=5)
  _write(folder / 'groundtruth_rect.txt', _int_lines(rows))
  return folder


def write_tcolor128(root: PathLike, name: str, rows, *, first: int = 1,
                    size: tuple[int, int] = (48, 64), seed: int = 0) -> pathlib.Path:
  """``ROOT/NAME/img/0001.jpg ...``, ``NAME_gt.txt`` and ``NAME_frames.txt`` (``first,last``):
  the rows are frames ``first ...``; earlier frames are written without a box."""
  folder = pathlib.Path(root) / name
  rows = np.asarray(rows, np.float64)
  write_box_frames(folder / 'img', np.concatenate([np.full((first - 1, 4), np.nan), rows]), size,
                   seed, digits=4)
  _write(folder / f'{name}_gt.txt', _int_lines(rows))
  _write(folder / f'{name}_frames.txt', [f'{first},{first + len(rows) - 1}'])
  return folder


def write_nfs(root: PathLike, name: str, rows, *, lines_per_frame: int = 1,
              size: tuple[int, int] = (48, 64), seed: int = 0) -> pathlib.Path:
  """``ROOT/NAME/30/NAME/00001.jpg ...`` and ``ROOT/NAME/30/NAME.txt``: lines
  ``1 left top right bottom frame lost occluded generated "label"`` (the got10k
  toolkit reads ``left, top, right - left, bottom - top`` as ``x, y, w, h``);
  ``lines_per_frame=8`` writes the 240 fps line count, every 8th line the
  frame's box (the others shifted)."""
  folder = pathlib.Path(root) / name / '30'
  write_box_frames(folder / name, rows, size, seed, digits=5)
  lines = []
  for t, (x, y, w, h) in enumerate(np.asarray(rows, np.float64)):
    for k in range(lines_per_frame):
      left, top = x + 5 * k, y
      lines.append(f'1 {left:g} {top:g} {left + w:g} {top + h:g} {t * lines_per_frame + k + 1} '
                   '0 0 0 "object"')
  _write(folder / f'{name}.txt', lines)
  return folder
