"""Tests of `re3_jax.datasets.dataset_roots`: OTB, VOT and GOT-10k roots (fake roots written here,
frames tiny JPEGs); LaSOT and the toolkit-read layouts are in `test_toolkit_roots.py`, ImageNet
VID and the ``KIND:ROOT`` specs in ``tests/datasets/test_layouts.py``.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from PIL import Image

from re3_jax.datasets import layouts
from re3_jax.datasets import dataset_roots
from re3_jax.datasets import sequences


def write_frames(folder: pathlib.Path, numbers, digits: int = 4):
  folder.mkdir(parents=True, exist_ok=True)
  for k in numbers:
    Image.fromarray(np.full((12, 16, 3), k * 10 % 256, np.uint8)).save(
        folder / f'{k:0{digits}d}.jpg')


def otb_lines(n: int, sep: str = ',') -> str:
  return ''.join(sep.join(str(v) for v in (1 + i % 5, 2, 4, 3)) + '\n' for i in range(n))


def test_otb_root(tmp_path):
  for name in ('Basketball', 'Crossing'):
    write_frames(tmp_path / name / 'img', range(1, 4))
    (tmp_path / name / 'groundtruth_rect.txt').write_text(otb_lines(3, '\t'))
  write_frames(tmp_path / 'Jogging/img', range(1, 3))
  for k in (1, 2):
    (tmp_path / f'Jogging/groundtruth_rect.{k}.txt').write_text(otb_lines(2))
  write_frames(tmp_path / 'vot_seq', range(1, 3), digits=8)  # VOT layout: not an OTB sequence
  (tmp_path / 'vot_seq/groundtruth.txt').write_text(otb_lines(2))
  (tmp_path / 'notes').mkdir()
  ds = layouts.open_root('otb', tmp_path)
  assert ds.kind == 'otb' and ds.names == ['Basketball', 'Crossing', 'Jogging.1', 'Jogging.2']
  assert ds.select(['Jogging', 'Crossing']).names == ['Jogging.1', 'Jogging.2', 'Crossing']
  with pytest.raises(ValueError, match='no sequence Nope .*it has Basketball'):
    ds.select(['Nope'])
  # A sequence folder is a one-sequence root.
  assert dataset_roots.otb(tmp_path / 'Crossing').names == ['Crossing']
  with pytest.raises(FileNotFoundError, match='no sequence folder'):
    dataset_roots.otb(tmp_path / 'notes')


def test_vot_root_with_and_without_list(tmp_path):
  for name in ('ball', 'bag', 'car'):
    write_frames(tmp_path / name / 'color', range(1, 3), digits=8)
    (tmp_path / name / 'groundtruth.txt').write_text('1,1,5,1,5,4,1,4\n' * 2)
  assert dataset_roots.vot(tmp_path).names == ['bag', 'ball', 'car']
  (tmp_path / 'list.txt').write_text('car\nball\n')
  ds = layouts.open_root('vot', tmp_path)
  assert ds.names == ['car', 'ball'] and len(ds) == 2
  np.testing.assert_array_equal(ds.sequences[0].boxes[1], [0, 0, 4, 3])
  (tmp_path / 'list.txt').write_text('car\ngone\n')
  with pytest.raises(sequences.SequenceError, match='sequence gone: listed in .*list.txt'):
    dataset_roots.vot(tmp_path)
  (tmp_path / 'list.txt').write_text('car\n')
  (tmp_path / 'car/groundtruth.txt').write_text('1,1,5,1,5,4,1,4\n' * 3)
  with pytest.raises(sequences.SequenceError, match=r'sequence car: 2 frames but 3 ground-truth '
                     r'boxes in .*car/groundtruth.txt'):
    dataset_roots.vot(tmp_path)


def test_got10k_root(tmp_path):
  names = ['GOT-10k_Val_000001', 'GOT-10k_Val_000002', 'GOT-10k_Test_000001']
  for name in names:
    write_frames(tmp_path / name, range(1, 5), digits=8)
  (tmp_path / 'list.txt').write_text('\n'.join(names) + '\n')
  (tmp_path / names[0] / 'groundtruth.txt').write_text(otb_lines(4))
  (tmp_path / names[0] / 'absence.label').write_text('0\n1\n0\n0\n')
  (tmp_path / names[0] / 'cover.label').write_text('8\n0\n0\n3\n')
  (tmp_path / names[1] / 'groundtruth.txt').write_text(otb_lines(4))
  (tmp_path / names[2] / 'groundtruth.txt').write_text('1,2,4,3\n')  # test split: first box only
  ds = layouts.open_root('got10k', tmp_path)
  assert ds.names == names
  first, second, test = ds.sequences
  # Absent or fully covered frames have no true box.
  assert np.isnan(first.boxes[:, 0]).tolist() == [False, True, True, False]
  assert not np.isnan(second.boxes).any()
  np.testing.assert_array_equal(test.boxes[0], [0, 1, 4, 4])
  assert len(test) == 4 and np.isnan(test.boxes[1:]).all()
  (tmp_path / names[0] / 'cover.label').write_text('8\n0\n')
  with pytest.raises(sequences.SequenceError, match=r'GOT-10k_Val_000001: .*cover.label has 2 '
                     'values for 4 frames'):
    dataset_roots.got10k(tmp_path)


