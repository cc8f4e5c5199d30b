"""Tests of `re3_jax.evaluation.datasets`: OTB, VOT, GOT-10k and ImageNet VID val roots.

Fake roots are written here (frames are tiny JPEGs)
and with `re3_jax.testing.fake_datasets.write_vid`; the real ``../shared/sequences``
folder (an OTB and a VOT sequence side by side) is read when present.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pathlib

import numpy as np
import pytest
from PIL import Image

from re3_jax.evaluation import datasets
from re3_jax.media import sequences
from re3_jax.testing import fake_datasets


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
  ds = datasets.open_dataset(f'otb:{tmp_path}')
  assert ds.kind == 'otb' and ds.names == ['Basketball', 'Crossing', 'Jogging.1', 'Jogging.2']
  assert ds.select(['Jogging', 'Crossing']).names == ['Jogging.1', 'Jogging.2', 'Crossing']
  with pytest.raises(ValueError, match='no sequence Nope .*it has Basketball'):
    ds.select(['Nope'])
  # A sequence folder is a one-sequence root.
  assert datasets.otb(tmp_path / 'Crossing').names == ['Crossing']
  with pytest.raises(FileNotFoundError, match='no sequence folder'):
    datasets.otb(tmp_path / 'notes')


def test_vot_root_with_and_without_list(tmp_path):
  for name in ('ball', 'bag', 'car'):
    write_frames(tmp_path / name / 'color', range(1, 3), digits=8)
    (tmp_path / name / 'groundtruth.txt').write_text('1,1,5,1,5,4,1,4\n' * 2)
  assert datasets.vot(tmp_path).names == ['bag', 'ball', 'car']
  (tmp_path / 'list.txt').write_text('car\nball\n')
  ds = datasets.open_dataset(f'vot:{tmp_path}')
  assert ds.names == ['car', 'ball'] and len(ds) == 2
  np.testing.assert_array_equal(ds.sequences[0].boxes[1], [0, 0, 4, 3])
  (tmp_path / 'list.txt').write_text('car\ngone\n')
  with pytest.raises(sequences.SequenceError, match='sequence gone: listed in .*list.txt'):
    datasets.vot(tmp_path)
  (tmp_path / 'list.txt').write_text('car\n')
  (tmp_path / 'car/groundtruth.txt').write_text('1,1,5,1,5,4,1,4\n' * 3)
  with pytest.raises(sequences.SequenceError, match=r'sequence car: 2 frames but 3 ground-truth '
                     r'boxes in .*car/groundtruth.txt'):
    datasets.vot(tmp_path)


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
  ds = datasets.open_dataset(f'got10k:{tmp_path}')
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
    datasets.got10k(tmp_path)


def test_vid_val_root(tmp_path):
  fake_datasets.write_vid(tmp_path, split='val', videos=2, frames=5, tracks_per_video=2)
  ds = datasets.open_dataset(f'vid:{tmp_path}')
  video = 'ILSVRC2015_val_00000000'
  assert ds.names == [f'{video}/0', f'{video}/1', 'ILSVRC2015_val_00000001/0',
                      'ILSVRC2015_val_00000001/1']
  seq = ds.sequences[1]
  assert len(seq) == 5 and seq.check() == (72, 96)
  xml = tmp_path / 'ILSVRC2015/Annotations/VID/val' / video / '000003.xml'
  obj = [o for o in ET.parse(xml).getroot().iter('object') if o.findtext('trackid') == '1'][0]
  expected = [float(obj.find('bndbox').findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
  np.testing.assert_allclose(seq.boxes[3], expected)
  assert seq.read(3).shape == (72, 96, 3)
  # Only the selected videos are parsed; a video name selects its tracks.
  only = datasets.open_dataset(f'vid:{tmp_path / "ILSVRC2015"}', names=[video])
  assert only.names == [f'{video}/0', f'{video}/1']
  xml.unlink()
  with pytest.raises(sequences.SequenceError, match=rf'sequence {video}: frame .*000003.JPEG has '
                     'no annotation'):
    datasets.vid(tmp_path)


def test_vid_invisible_frames_have_no_truth(tmp_path):
  fake_datasets.write_vid(tmp_path, split='val', videos=1, frames=4, tracks_per_video=1)
  xml = tmp_path / 'ILSVRC2015/Annotations/VID/val/ILSVRC2015_val_00000000/000001.xml'
  root = ET.parse(xml).getroot()
  for obj in list(root.iter('object')):
    root.remove(obj)
  ET.ElementTree(root).write(xml)
  (seq,) = datasets.vid(tmp_path).sequences
  assert np.isnan(seq.boxes[:, 0]).tolist() == [False, True, False, False]


def test_specs():
  assert datasets.parse_spec('otb:/data/OTB') == ('otb', pathlib.Path('/data/OTB'))
  for bad in ('otb', 'lasot:/x', 'otb:', '/data/OTB'):
    with pytest.raises(ValueError, match='KIND:ROOT'):
      datasets.parse_spec(bad)
  with pytest.raises(FileNotFoundError, match='not a folder'):
    datasets.open_dataset('vot:/no/such/folder')


def test_shared_folder_holds_one_otb_and_one_vot_sequence(sequences_dir):
  assert datasets.open_dataset(f'otb:{sequences_dir}').names == ['otb_crossing']
  assert datasets.open_dataset(f'vot:{sequences_dir}').names == ['vot15_bag']
  assert len(datasets.open_dataset(f'vot:{sequences_dir / "vot15_bag"}').sequences[0]) == 196
