"""Tests of `re3_jax.datasets.sequences`: single sequence folders (OTB, VOT, GOT-10k layouts),
frames read on demand, and the errors for damaged folders.

Fakes are a few 16x12 JPEGs written here; the real OTB and VOT sequences of
``../shared/sequences`` are read when present.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from PIL import Image

from re3_jax.datasets import sequences

H, W = 12, 16


def write_frames(folder: pathlib.Path, numbers, digits: int = 4, suffix: str = '.jpg'):
  """Writes frames whose pixel values encode their number (frame k is all k * 10)."""
  folder.mkdir(parents=True, exist_ok=True)
  for k in numbers:
    Image.fromarray(np.full((H, W, 3), k * 10 % 256, np.uint8)).save(
        folder / f'{k:0{digits}d}{suffix}', quality=95)


def otb_lines(n: int, sep: str = ',') -> str:
  return ''.join(sep.join(str(v) for v in (1 + i % 5, 2, 4, 3)) + '\n' for i in range(n))


@pytest.mark.parametrize('sep', [',', '\t', ' ', ', '])
def test_otb_folder_separators_and_conversion(tmp_path, sep):
  folder = tmp_path / 'Seq'
  write_frames(folder / 'img', range(1, 6))
  (folder / 'groundtruth_rect.txt').write_text(otb_lines(5, sep))
  seq = sequences.open_sequence(folder)
  assert seq.name == 'Seq' and len(seq) == 5
  assert seq.groundtruth == folder / 'groundtruth_rect.txt'
  # OTB x=1, y=2, w=4, h=3 (1-based) -> xyxy [0, 1, 4, 4].
  np.testing.assert_array_equal(seq.boxes[0], [0, 1, 4, 4])
  assert seq.check() == (H, W)
  frames = list(seq.frames())
  assert [int(f.mean() + 0.5) for f in frames] == [10, 20, 30, 40, 50]
  loaded = seq.head(3).load()
  assert loaded.frames.shape == (3, H, W, 3) and loaded.boxes.shape == (3, 4)
  assert sequences.load_sequence(folder, max_frames=2).frames.shape == (2, H, W, 3)


def test_vot_folder_polygons_sequence_file_and_nan(tmp_path):
  folder = tmp_path / 'bag'
  write_frames(folder / 'color', range(1, 4), digits=8)
  (folder / 'sequence').write_text('channels.color=color/%08d.jpg\nformat=default\nfps=30\n')
  (folder / 'groundtruth.txt').write_text('1,1,5,1,5,4,1,4\nnan,nan,nan,nan\n2,2,3,4\n')
  seq = sequences.open_sequence(folder)
  assert len(seq) == 3 and seq.frame_paths[0].parent.name == 'color'
  np.testing.assert_array_equal(seq.boxes[0], [0, 0, 4, 3])
  assert np.all(np.isnan(seq.boxes[1]))
  np.testing.assert_array_equal(seq.boxes[2], [1, 1, 4, 5])


def test_multi_target_otb_folder(tmp_path):
  folder = tmp_path / 'Jogging'
  write_frames(folder / 'img', range(1, 4))
  (folder / 'groundtruth_rect.1.txt').write_text(otb_lines(3))
  (folder / 'groundtruth_rect.2.txt').write_text(otb_lines(3, '\t').replace('2\t4', '5\t4'))
  seqs = sequences.open_sequences(folder)
  assert [s.name for s in seqs] == ['Jogging.1', 'Jogging.2']
  assert seqs[0].frame_paths == seqs[1].frame_paths
  assert seqs[1].boxes[0, 1] == 4
  with pytest.raises(sequences.SequenceError, match='2 targets'):
    sequences.open_sequence(folder)
  # An empty target file (Human4's .1 in OTB-2015) is dropped: one target left, named plainly.
  (folder / 'groundtruth_rect.1.txt').write_text('\n')
  assert [s.name for s in sequences.open_sequences(folder)] == ['Jogging']


def test_frame_ranges(tmp_path):
  folder = tmp_path / 'bag'
  write_frames(folder / 'imgs', range(1, 9), digits=8)
  (folder / 'groundtruth.txt').write_text(otb_lines(4))
  with pytest.raises(sequences.SequenceError, match='8 frames but 4 ground-truth boxes'):
    sequences.open_sequence(folder)
  (folder / 'bag_frames.txt').write_text('3,6\n')
  seq = sequences.open_sequence(folder)
  assert [p.name for p in seq.frame_paths] == [f'{k:08d}.jpg' for k in range(3, 7)]
  (folder / 'bag_frames.txt').write_text('5,9\n')
  with pytest.raises(sequences.SequenceError, match=r'00000009\.jpg is missing'):
    sequences.open_sequence(folder)
  # OTB-2015's David: img/ holds more frames than its ground truth; the toolkit's range applies.
  david = tmp_path / 'David'
  write_frames(david / 'img', range(1, 780))
  (david / 'groundtruth_rect.txt').write_text(otb_lines(471))
  seq = sequences.open_sequence(david)
  assert seq.frame_paths[0].name == '0300.jpg' and seq.frame_paths[-1].name == '0770.jpg'


def test_missing_and_unreadable_frames_are_named(tmp_path):
  folder = tmp_path / 'Gap'
  write_frames(folder / 'img', [1, 2, 4, 5])
  (folder / 'groundtruth_rect.txt').write_text(otb_lines(5))
  with pytest.raises(sequences.SequenceError, match=r'sequence Gap: frame file .*img/0003\.jpg '
                     r'is missing'):
    sequences.open_sequence(folder)
  write_frames(folder / 'img', [3])
  seq = sequences.open_sequence(folder)
  # Frames are read on demand: damage shows when a frame is read (or checked), named.
  (folder / 'img/0004.jpg').write_bytes(b'not a jpeg')
  assert seq.read(2).shape == (H, W, 3)
  with pytest.raises(sequences.SequenceError, match=r'sequence Gap: frame 3: .*0004\.jpg'):
    seq.read(3)
  with pytest.raises(sequences.SequenceError, match=r'sequence Gap: frame 3: cannot read frame .*0004'):
    seq.check()
  (folder / 'img/0004.jpg').unlink()
  with pytest.raises(sequences.SequenceError, match=r'frame 3 file .*0004\.jpg is missing'):
    seq.read(3)
  Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(folder / 'img/0004.jpg')
  with pytest.raises(sequences.SequenceError, match=r'frame 3 .* is 5x5, frame 0 16x12'):
    seq.check()


def test_bad_groundtruth_is_named(tmp_path):
  folder = tmp_path / 'Bad'
  write_frames(folder / 'img', range(1, 3))
  with pytest.raises(sequences.SequenceError, match='sequence Bad: .* no groundtruth_rect.txt'):
    sequences.open_sequence(folder)
  (folder / 'groundtruth_rect.txt').write_text('1,2,3,4\n1,2,x,4\n')
  with pytest.raises(sequences.SequenceError, match=r'sequence Bad: .*groundtruth_rect.txt:2: '
                     'not numbers'):
    sequences.open_sequence(folder)
  (folder / 'groundtruth_rect.txt').write_text('1,2,3,4\n1,1,5,1,5,4,1,4\n')
  with pytest.raises(sequences.SequenceError, match=r'groundtruth_rect.txt:2: expected 4'):
    sequences.open_sequence(folder)
  (folder / 'groundtruth_rect.txt').write_text('1,2,3,4\n')
  with pytest.raises(sequences.SequenceError, match=r'sequence Bad: 2 frames but 1 ground-truth '
                     r'boxes in .*groundtruth_rect.txt'):
    sequences.open_sequence(folder)
  (folder / 'groundtruth.txt').write_text('m1,2,3\n')
  (folder / 'groundtruth_rect.txt').unlink()
  with pytest.raises(sequences.SequenceError, match='segmentation mask'):
    sequences.open_sequence(folder)


def test_shared_sequences(sequences_dir):
  otb = sequences.open_sequence(sequences_dir / 'otb_crossing')
  vot = sequences.open_sequence(sequences_dir / 'vot15_bag')
  assert (len(otb), len(vot)) == (120, 196)
  assert otb.check() == (240, 360) and vot.check() == (360, 480)
  np.testing.assert_array_equal(otb.boxes[0], [204, 150, 221, 200])
  assert otb.read(119).shape == (240, 360, 3)


def test_frames_numbered_without_padding_are_in_numeric_order(tmp_path):
  # One image lister for sequences and videos (`images.list_images`): natural order, so
  # 2.png comes before 10.png.
  (tmp_path / 'img').mkdir()
  for i in range(1, 13):
    Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(tmp_path / 'img' / f'{i}.png')
  assert [p.name for p in sequences.frame_files(tmp_path)] == [f'{i}.png' for i in range(1, 13)]
