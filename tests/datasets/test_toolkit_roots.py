"""Tests of `re3_jax.datasets.toolkit_roots` and the LaSOT reader of `dataset_roots`: each layout
on a tiny fake written in its real format (`re3_jax.testing.fake_benchmarks`).

The independent check is the boxes the fake wrote: every reader must give
``boxes.from_otb`` of the ``x, y, w, h`` rows (1-based), NaN where the layout
says the target is absent, and frame files that show the red box there.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from re3_jax.core import boxes as boxes_lib
from re3_jax.datasets import layouts
from re3_jax.datasets import layouts
from re3_jax.datasets import dataset_roots
from re3_jax.datasets import sequences
from re3_jax.datasets import toolkit_roots
from re3_jax.testing import fake_benchmarks

pytest.importorskip('got10k')

T = 5


def rows(n: int = T, shift: int = 0) -> np.ndarray:
  """(n, 4) x, y, w, h boxes that move 3 px a frame, inside a 64x48 frame."""
  return np.array([[5 + 3 * t + shift, 6 + t, 12, 10] for t in range(n)], np.float64)


def check_red_box(seq: sequences.SequenceFiles, t: int) -> None:
  """The frame shows the fake's red box where the reader says the target is."""
  x1, y1, x2, y2 = (int(v) for v in seq.boxes[t])
  frame = seq.read(t).astype(int)
  inside = frame[y1 + 2:y2 - 2, x1 + 2:x2 - 2]
  assert inside[..., 0].mean() > 180 and inside[..., 2].mean() < 60


def test_lasot_root_layout_absence_and_list(tmp_path):
  fake_benchmarks.write_lasot(tmp_path, 'airplane-1', rows(), occluded=[2], out_of_view=[4])
  fake_benchmarks.write_lasot(tmp_path, 'airplane-13', rows(shift=1))
  fake_benchmarks.write_lasot(tmp_path, 'bear-2', rows(3))
  ds = layouts.open_dataset(f'lasot:{tmp_path}')
  assert ds.kind == 'lasot' and ds.names == ['airplane-1', 'airplane-13', 'bear-2']
  seq = ds.sequences[0]
  expected = boxes_lib.from_otb(rows().astype(np.float32))
  expected[[2, 4]] = np.nan  # full occlusion, out of view: no true box
  np.testing.assert_array_equal(seq.boxes, expected)
  assert seq.frame_paths[0].name == '00000001.jpg'
  check_red_box(seq, 3)
  # A category folder, a sequence folder, a list.txt of names.
  assert dataset_roots.lasot(tmp_path / 'airplane').names == ['airplane-1', 'airplane-13']
  assert dataset_roots.lasot(tmp_path / 'bear/bear-2').names == ['bear-2']
  (tmp_path / 'list.txt').write_text('bear-2\nairplane-13\n')
  assert dataset_roots.lasot(tmp_path).names == ['bear-2', 'airplane-13']
  (tmp_path / 'list.txt').write_text('bear-9\n')
  with pytest.raises(sequences.SequenceError, match=r'sequence bear-9: listed in .*list.txt'):
    dataset_roots.lasot(tmp_path)


def test_lasot_errors_name_the_file(tmp_path):
  folder = fake_benchmarks.write_lasot(tmp_path, 'cat-1', rows())
  (folder / 'out_of_view.txt').write_text('0,0,1\n')
  with pytest.raises(sequences.SequenceError, match=r'cat-1: .*out_of_view.txt has 3 values for '
                     '5 frames'):
    dataset_roots.lasot(tmp_path)
  (folder / 'out_of_view.txt').unlink()
  (folder / 'img/00000003.jpg').unlink()
  with pytest.raises(sequences.SequenceError,
                     match=r'cat-1: frame file .*img/00000003.jpg is missing'):
    dataset_roots.lasot(tmp_path)
  (folder / 'img/00000005.jpg').rename(folder / 'img/00000003.jpg')
  with pytest.raises(sequences.SequenceError, match=r'cat-1: 4 frames but 5 ground-truth boxes in '
                     r'.*cat-1/groundtruth.txt'):
    dataset_roots.lasot(tmp_path)
  (folder / 'groundtruth.txt').write_text('1,2,3\n')
  with pytest.raises(sequences.SequenceError, match=r'groundtruth.txt:1: expected 4'):
    dataset_roots.lasot(tmp_path)
  with pytest.raises(FileNotFoundError, match='holds no CATEGORY/CATEGORY-N folder'):
    dataset_roots.lasot(tmp_path / 'cat/cat-1/img')


def test_uav123_uses_the_toolkit_table(tmp_path):
  table = toolkit_roots.uav123_table()
  assert table['bird1_2'] == {'start_frame': 775, 'end_frame': 1477, 'folder_name': 'bird1'}
  # uav6 is frames 1-109 of its folder; a name outside the table uses its whole folder.
  uav6 = np.array([[2 + t % 40, 3, 10, 8] for t in range(109)], np.float64)
  uav6[[7, 8]] = np.nan  # UAV123 writes NaN,NaN,NaN,NaN where the target is out of view
  fake_benchmarks.write_uav123(tmp_path, 'uav6', uav6, size=(24, 64))
  fake_benchmarks.write_uav123(tmp_path, 'mine', rows())
  ds = layouts.open_dataset(f'uav123:{tmp_path}')
  assert ds.names == ['mine', 'uav6']
  mine, seq = ds.sequences
  assert len(seq) == 109 and seq.frame_paths[-1].name == '000109.jpg'
  np.testing.assert_array_equal(seq.boxes, boxes_lib.from_otb(uav6.astype(np.float32)))
  check_red_box(mine, 4)
  # Where got10k's own class opens the root (it needs more than three entries in it), it
  # gives the same frames and boxes.
  from got10k.datasets import UAV123  # pylint: disable=g-import-not-at-top
  (tmp_path / 'anno/UAV123/mine.txt').unlink()
  for extra in ('readme.txt', 'configSeqs.m'):
    (tmp_path / extra).write_text('')
  theirs_paths, theirs_xywh = UAV123(str(tmp_path))['uav6']
  assert [str(p) for p in seq.frame_paths] == theirs_paths
  np.testing.assert_array_equal(seq.boxes, boxes_lib.from_otb(theirs_xywh.astype(np.float32)))
  (tmp_path / 'data_seq/UAV123/uav6/000050.jpg').unlink()
  with pytest.raises(sequences.SequenceError,
                     match='uav6: frame file .*uav6/000050.jpg is missing'):
    dataset_roots.uav123(tmp_path)
  (tmp_path / 'anno/UAV123/gone.txt').write_text('1,1,2,2\n')
  with pytest.raises(sequences.SequenceError, match=r'gone: frames folder .*UAV123/gone is '
                     'missing'):
    dataset_roots.uav123(tmp_path)
  with pytest.raises(FileNotFoundError, match='holds no anno/UAV123/NAME.txt'):
    dataset_roots.uav123(tmp_path / 'data_seq')


def test_dtb70(tmp_path):
  fake_benchmarks.write_dtb70(tmp_path, 'Animal1', rows())
  fake_benchmarks.write_dtb70(tmp_path, 'Car2', rows(4, shift=2))
  ds = layouts.open_dataset(f'dtb70:{tmp_path}')
  assert ds.names == ['Animal1', 'Car2'] and len(ds.sequences[1]) == 4
  np.testing.assert_array_equal(ds.sequences[1].boxes,
                                boxes_lib.from_otb(rows(4, shift=2).astype(np.float32)))
  check_red_box(ds.sequences[0], 2)
  (tmp_path / 'Car2/groundtruth_rect.txt').write_text('1,2,3,4\n' * 3)
  with pytest.raises(sequences.SequenceError, match=r'Car2: the frames do not match the ground '
                     r'truth .*Car2/groundtruth_rect.txt'):
    dataset_roots.dtb70(tmp_path)
  (tmp_path / 'Car2/groundtruth_rect.txt').write_text('1,2,3,4\n1,2,x,4\n1,2,3,4\n1,2,3,4\n')
  with pytest.raises(sequences.SequenceError, match=r'Car2: cannot read .*groundtruth_rect.txt'):
    dataset_roots.dtb70(tmp_path)
  (tmp_path / 'Car2/groundtruth_rect.txt').write_text('1,2,3,4\n' * 3)
  (tmp_path / 'Car2/img/00004.jpg').unlink()
  (tmp_path / 'Car2/img/00002.jpg').unlink()
  (tmp_path / 'Car2/groundtruth_rect.txt').write_text('1,2,3,4\n' * 2)
  with pytest.raises(sequences.SequenceError, match='Car2: frame file .*img/00002.jpg is missing'):
    dataset_roots.dtb70(tmp_path)


def test_tcolor128_frame_range(tmp_path):
  fake_benchmarks.write_tcolor128(tmp_path, 'Airport_ce', rows(), first=3)
  (seq,) = layouts.open_dataset(f'tcolor128:{tmp_path}').sequences
  assert [p.name for p in seq.frame_paths] == ['0003.jpg', '0004.jpg', '0005.jpg', '0006.jpg',
                                               '0007.jpg']
  np.testing.assert_array_equal(seq.boxes, boxes_lib.from_otb(rows().astype(np.float32)))
  check_red_box(seq, 0)
  (tmp_path / 'Airport_ce/img/0006.jpg').unlink()
  with pytest.raises(sequences.SequenceError,
                     match=r'Airport_ce: frame file .*0006.jpg is missing'):
    dataset_roots.tcolor128(tmp_path)
  (tmp_path / 'Airport_ce/Airport_ce_frames.txt').unlink()
  with pytest.raises(sequences.SequenceError, match='Airport_ce: TColor-128 needs .*_frames.txt'):
    dataset_roots.tcolor128(tmp_path)


def test_nfs_30fps_and_240fps_line_counts(tmp_path):
  fake_benchmarks.write_nfs(tmp_path, 'airboard_1', rows())
  fake_benchmarks.write_nfs(tmp_path, 'basketball_2', rows(4, shift=1), lines_per_frame=8)
  ds = layouts.open_dataset(f'nfs:{tmp_path}')
  assert ds.names == ['airboard_1', 'basketball_2']
  for seq, expected in zip(ds.sequences, (rows(), rows(4, shift=1))):
    np.testing.assert_array_equal(seq.boxes, boxes_lib.from_otb(expected.astype(np.float32)))
  check_red_box(ds.sequences[1], 3)
  # The toolkit cuts one surplus box; a gap in the frames is still an error.
  (tmp_path / 'airboard_1/30/airboard_1/00003.jpg').unlink()
  with pytest.raises(sequences.SequenceError,
                     match='airboard_1: frame file .*00003.jpg is missing'):
    dataset_roots.nfs(tmp_path)
  (tmp_path / 'airboard_1/30/airboard_1.txt').write_text('1 2 3 4 5 1 0 0 0 "x"\n' * 9)
  with pytest.raises(sequences.SequenceError, match=r'airboard_1: the frames do not match the '
                     r'ground truth .*airboard_1.txt'):
    dataset_roots.nfs(tmp_path)


def test_toolkit_layouts_need_got10k(tmp_path, monkeypatch):
  fake_benchmarks.write_dtb70(tmp_path, 'Animal1', rows())
  monkeypatch.setitem(sys.modules, 'got10k', None)
  for kind in ('dtb70', 'tcolor128', 'nfs', 'uav123'):
    with pytest.raises(ImportError, match='pip install got10k'):
      layouts.open_root(kind, tmp_path)


def test_a_module_got10k_imports_but_does_not_declare_is_the_one_named(tmp_path, monkeypatch):
  # `pip install got10k` leaves out `six`, which its datasets import: the hint names six.
  fake_benchmarks.write_dtb70(tmp_path, 'Animal1', rows())
  for name in [n for n in sys.modules if n == 'got10k' or n.startswith('got10k.')]:
    monkeypatch.delitem(sys.modules, name)
  monkeypatch.setitem(sys.modules, 'six', None)
  with pytest.raises(ImportError, match=r'\(import of six halted.*\): pip install six$'):
    layouts.open_root('dtb70', tmp_path)
  assert toolkit_roots.install_hint(ModuleNotFoundError('x', name='PIL')) == 'pip install Pillow'


def test_empty_and_missing_roots(tmp_path):
  for kind in layouts.KINDS:
    with pytest.raises(FileNotFoundError, match='not a folder'):
      layouts.open_root(kind, tmp_path / 'none')
  for kind in ('dtb70', 'tcolor128', 'nfs'):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
      layouts.open_root(kind, tmp_path)
