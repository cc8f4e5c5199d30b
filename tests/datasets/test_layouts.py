"""Tests of `re3_jax.datasets.layouts`: ``KIND:ROOT`` specs and ImageNet VID val roots.

The fake VID root is written by `re3_jax.testing.fake_datasets.write_vid`; the
real ``../shared/sequences`` folder (an OTB and a VOT sequence side by side) is
read when present.
"""

from __future__ import annotations

import pathlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from re3_jax.datasets import layouts
from re3_jax.datasets import sequences
from re3_jax.datasets import vid_roots
from re3_jax.testing import fake_datasets


def test_vid_val_root(tmp_path):
  fake_datasets.write_vid(tmp_path, split='val', videos=2, frames=5, tracks_per_video=2)
  ds = layouts.open_dataset(f'vid:{tmp_path}')
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
  only = layouts.open_dataset(f'vid:{tmp_path / "ILSVRC2015"}', names=[video])
  assert only.names == [f'{video}/0', f'{video}/1']
  xml.unlink()
  with pytest.raises(sequences.SequenceError, match=rf'sequence {video}: frame .*000003.JPEG has '
                     'no annotation'):
    vid_roots.vid(tmp_path)


def test_vid_invisible_frames_have_no_truth(tmp_path):
  fake_datasets.write_vid(tmp_path, split='val', videos=1, frames=4, tracks_per_video=1)
  xml = tmp_path / 'ILSVRC2015/Annotations/VID/val/ILSVRC2015_val_00000000/000001.xml'
  root = ET.parse(xml).getroot()
  for obj in list(root.iter('object')):
    root.remove(obj)
  ET.ElementTree(root).write(xml)
  (seq,) = vid_roots.vid(tmp_path).sequences
  assert np.isnan(seq.boxes[:, 0]).tolist() == [False, True, False, False]


def test_specs():
  assert layouts.parse_spec('otb:/data/OTB') == ('otb', pathlib.Path('/data/OTB'))
  for bad in ('otb', 'trackingnet:/x', 'otb:', '/data/OTB'):
    with pytest.raises(ValueError, match='KIND:ROOT'):
      layouts.parse_spec(bad)
  with pytest.raises(FileNotFoundError, match='not a folder'):
    layouts.open_dataset('vot:/no/such/folder')


def test_shared_folder_holds_one_otb_and_one_vot_sequence(sequences_dir):
  assert layouts.open_dataset(f'otb:{sequences_dir}').names == ['otb_crossing']
  assert layouts.open_dataset(f'vot:{sequences_dir}').names == ['vot15_bag']
  assert len(layouts.open_dataset(f'vot:{sequences_dir / "vot15_bag"}').sequences[0]) == 196
