"""Tests of re3_jax.datasets.annotations (parsers, JPEG checks, skip counts) and the fakes."""

from __future__ import annotations

import hashlib
import pathlib

import cv2
import numpy as np
import pytest

from re3_jax.datasets import annotations as an
from re3_jax.datasets import downloads
from re3_jax.datasets import tracks as tracks_lib
from re3_jax.testing import fake_datasets

VID_XML = """<annotation>
\t<folder>ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000</folder>
\t<filename>000000</filename>
\t<source><database>ILSVRC_2015</database></source>
\t<size><width>1280</width><height>720</height></size>
\t<object>
\t\t<trackid>3</trackid>
\t\t<name>n01674464</name>
\t\t<bndbox><xmax>759</xmax><xmin>363</xmin><ymax>569</ymax><ymin>247</ymin></bndbox>
\t\t<occluded>1</occluded>
\t\t<generated>0</generated>
\t</object>
\t<object>
\t\t<trackid>0</trackid>
\t\t<name>n02084071</name>
\t\t<bndbox><xmax>10.5</xmax><xmin>0</xmin><ymax>20</ymax><ymin>5</ymin></bndbox>
\t\t<occluded>0</occluded>
\t\t<generated>1</generated>
\t</object>
</annotation>
"""


def _write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
  path = tmp_path / name
  path.write_text(text)
  return path


def _jpeg(height: int = 24, width: int = 40) -> bytes:
  image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
  return cv2.imencode('.jpg', image)[1].tobytes()


# --- XML ---------------------------------------------------------------------


def test_parse_vid_xml(tmp_path):
  frame = an.parse_vid_xml(_write(tmp_path, 'a.xml', VID_XML))
  assert (frame.width, frame.height) == (1280, 720)
  assert [o.trackid for o in frame.objects] == [3, 0]
  assert [o.name for o in frame.objects] == ['n01674464', 'n02084071']
  np.testing.assert_array_equal(frame.objects[0].box, [363, 247, 759, 569])
  np.testing.assert_array_equal(frame.objects[1].box, [0, 5, 10.5, 20])
  assert frame.objects[0].box.dtype == np.float32
  assert (frame.objects[0].occluded, frame.objects[0].generated) == (True, False)
  assert (frame.objects[1].occluded, frame.objects[1].generated) == (False, True)


def test_parse_det_xml_has_no_trackids(tmp_path):
  text = VID_XML.replace('<trackid>3</trackid>', '').replace('<trackid>0</trackid>', '')
  frame = an.parse_det_xml(_write(tmp_path, 'a.xml', text))
  assert [o.trackid for o in frame.objects] == [-1, -1]
  np.testing.assert_array_equal(frame.objects[0].box, [363, 247, 759, 569])


def test_parse_xml_without_objects(tmp_path):
  start, end = VID_XML.index('\t<object>'), VID_XML.rindex('</object>') + len('</object>\n')
  frame = an.parse_vid_xml(_write(tmp_path, 'a.xml', VID_XML[:start] + VID_XML[end:]))
  assert frame.objects == ()


@pytest.mark.parametrize('broken, message', [
    (VID_XML[:200], 'corrupt XML'),
    (VID_XML.replace('<size><width>1280</width><height>720</height></size>', ''), 'no <size>'),
    (VID_XML.replace('<xmax>759</xmax>', '<xmax>75x9</xmax>'), 'not a number'),
    (VID_XML.replace('<ymin>247</ymin>', ''), 'has no <ymin>'),
    (VID_XML.replace('<trackid>3</trackid>', '<trackid>a</trackid>'), 'trackid'),
    (VID_XML.replace('<width>1280</width>', '<width>-3</width>'), 'bad image size'),
])
def test_corrupt_xml_names_the_file(tmp_path, broken, message):
  path = _write(tmp_path, 'broken_000017.xml', broken)
  with pytest.raises(an.AnnotationError, match=message) as info:
    an.parse_vid_xml(path)
  assert str(path) in str(info.value)
  assert isinstance(info.value, ValueError)


# --- ALOV .ann ---------------------------------------------------------------


def test_parse_alov_ann(tmp_path):
  path = _write(tmp_path, 'v.ann', '1 12.5 30 40 32 38 60 10 58\n\n6 1 2 3 4 5 6 7 8\n')
  frames, boxes = an.parse_alov_ann(path)
  np.testing.assert_array_equal(frames, [1, 6])
  np.testing.assert_array_equal(boxes, [[10, 30, 40, 60], [1, 2, 7, 8]])
  assert boxes.dtype == np.float32


@pytest.mark.parametrize('lines, line, message', [
    (['1 1 2 3 4 5 6 7 8', '6 1 2 3 4 5 6 7'], 2, 'expected 9 fields'),
    (['1 1 2 3 4 5 6 7 8', '6 1 2 3 x 5 6 7 8'], 2, 'not numbers'),
    (['1 1 2 3 4 5 6 7 8', '6 1 2 3 nan 5 6 7 8'], 2, 'NaN'),
    (['5 1 2 3 4 5 6 7 8', '5 1 2 3 4 5 6 7 8'], 2, 'must increase'),
    (['0 1 2 3 4 5 6 7 8'], 1, 'integer >= 1'),
    (['1.5 1 2 3 4 5 6 7 8'], 1, 'integer >= 1'),
])
def test_corrupt_ann_line_names_file_and_line(tmp_path, lines, line, message):
  path = _write(tmp_path, 'video00001.ann', '\n'.join(lines) + '\n')
  with pytest.raises(an.AnnotationError, match=message) as info:
    an.parse_alov_ann(path)
  assert f'{path}:{line}:' in str(info.value)


def test_empty_ann_is_an_error(tmp_path):
  path = _write(tmp_path, 'v.ann', '\n\n')
  with pytest.raises(an.AnnotationError, match='empty') as info:
    an.parse_alov_ann(path)
  assert str(path) in str(info.value)


# --- JPEG --------------------------------------------------------------------


def test_check_jpeg_reads_the_size():
  assert an.check_jpeg(_jpeg(24, 40), 'x.JPEG') == (24, 40)
  progressive = cv2.imencode('.jpg', np.zeros((17, 9, 3), np.uint8),
                             [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
  assert an.check_jpeg(progressive, 'p.JPEG') == (17, 9)
  gray = cv2.imencode('.jpg', np.zeros((5, 7), np.uint8))[1].tobytes()
  assert an.check_jpeg(gray, 'g.JPEG') == (5, 7)


def test_check_jpeg_tolerates_bytes_after_eoi():
  assert an.check_jpeg(_jpeg() + b'\x00\x00trailer', 'x.JPEG') == (24, 40)


@pytest.mark.parametrize('cut', [0.3, 0.9, 0.999])
def test_truncated_jpeg_names_the_file(cut):
  data = _jpeg(64, 64)
  with pytest.raises(an.AnnotationError, match='truncated') as info:
    an.check_jpeg(data[:int(len(data) * cut)], '/videos/000003.JPEG')
  assert '/videos/000003.JPEG' in str(info.value)


def test_check_jpeg_rejects_other_formats():
  png = cv2.imencode('.png', np.zeros((4, 4, 3), np.uint8))[1].tobytes()
  with pytest.raises(an.AnnotationError, match='not a JPEG'):
    an.check_jpeg(png, 'a.JPEG')
  with pytest.raises(an.AnnotationError, match='truncated'):
    an.check_jpeg(b'\xff\xd8\xff\xe0\x00', 'b.JPEG')
  with pytest.raises(an.AnnotationError, match='not a JPEG'):
    an.check_jpeg(b'', 'c.JPEG')


# --- XML to tracks ------------------------------------------------------------


def test_nan_box_in_xml_parses_and_counts_as_degenerate(tmp_path):
  path = _write(tmp_path, 'a.xml', VID_XML.replace('<xmax>759</xmax>', '<xmax>nan</xmax>'))
  frame = an.parse_vid_xml(path)
  assert np.isnan(frame.objects[0].box[2])
  ok = an.VidFrame(1280, 720, (an.VidObject(3, 'n01674464', np.float32([363, 247, 759, 569]),
                                            False, False),))
  skips = an.SkipCounter()
  (track,) = tracks_lib.vid_tracks([frame, ok, ok], range(3), skips, 'v')
  # The NaN frame was the track's first: trimmed. Trackid 0 is in one frame only.
  np.testing.assert_array_equal(track.frame_index, [1, 2])
  assert track.visible.all()
  assert skips.as_dict() == {'degenerate_boxes': 1, 'short_tracks': 1}


def test_skip_counter_update_and_examples():
  a, b = an.SkipCounter(max_examples=2), an.SkipCounter()
  a.add('x', 'p1')
  b.add('x', 'p2', n=3)
  b.add('x', 'p3')
  b.add('y', n=0)
  a.update(b)
  assert a.as_dict() == {'x': 5}
  assert a.examples['x'] == ['p1', 'p2']


# --- Fakes -------------------------------------------------------------------


def _digest(root: pathlib.Path) -> str:
  h = hashlib.sha256()
  for path in sorted(root.rglob('*')):
    if path.is_file():
      h.update(str(path.relative_to(root)).encode())
      h.update(path.read_bytes())
  return h.hexdigest()


def test_fakes_are_deterministic_and_in_the_real_layout(tmp_path):
  for name in ('a', 'b'):
    fake_datasets.write_vid(tmp_path / name, videos=1, frames=2)
    fake_datasets.write_vid(tmp_path / name, split='val', videos=1, frames=2)
    fake_datasets.write_alov(tmp_path / name, videos=1, frames=6)
    fake_datasets.write_det(tmp_path / name, images=1)
    fake_datasets.write_det(tmp_path / name, split='val', images=1)
  assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
  root = tmp_path / 'a'
  expected = [
      'ILSVRC2015/Data/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/000001.JPEG',
      'ILSVRC2015/Annotations/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/'
      '000001.xml',
      'ILSVRC2015/Data/VID/val/ILSVRC2015_val_00000000/000000.JPEG',
      'ILSVRC2015/Annotations/VID/val/ILSVRC2015_val_00000000/000000.xml',
      'imagedata++/01-Light/01-Light_video00001/00000006.jpg',
      'alov300++_rectangleAnnotation_full/01-Light/01-Light_video00001.ann',
      'ILSVRC/Data/DET/train/ILSVRC2013_train/n01440764/n01440764_00001.JPEG',
      'ILSVRC/Annotations/DET/train/ILSVRC2013_train/n01440764/n01440764_00001.xml',
      'ILSVRC/Data/DET/val/ILSVRC2012_val_00000001.JPEG',
      'ILSVRC/Annotations/DET/val/ILSVRC2012_val_00000001.xml',
  ]
  for rel in expected:
    assert (root / rel).is_file(), rel
  assert fake_datasets.write_vid(tmp_path / 'c', seed=1, videos=1, frames=2) == tmp_path / 'c'
  assert _digest(tmp_path / 'c') != _digest(tmp_path / 'a')


def test_fake_vid_frames_show_the_objects_at_their_boxes(tmp_path):
  root = fake_datasets.write_vid(tmp_path, videos=1, frames=3, size=(720, 1280),
                                 tracks_per_video=1)
  rel = 'ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000'
  data_dir = root / 'ILSVRC2015/Data/VID/train' / rel
  video = downloads.load_vid_video(root / 'ILSVRC2015/Data/VID/train',
                                 root / 'ILSVRC2015/Annotations/VID/train', rel)
  assert (video.height, video.width) == (720, 1280)
  (track,) = video.tracks
  boxes = track.boxes.astype(int)
  assert np.all(boxes[:, 2:] - boxes[:, :2] >= 100)  # 20-40% of the frame, give or take.
  assert np.abs(np.diff(boxes, axis=0)).max() < 60  # Smooth motion.
  image = cv2.imread(str(data_dir / '000001.JPEG')).astype(np.float32)
  x1, y1, x2, y2 = boxes[1]
  # The texture's dark border runs along the box edges.
  assert image[y1:y2, x1:x1 + 2].mean() < 40 and image[y1:y1 + 2, x1:x2].mean() < 40


def test_fake_alov_annotates_every_fifth_frame_and_the_last():
  assert fake_datasets.alov_annotated_frames(11) == [1, 6, 11]
  assert fake_datasets.alov_annotated_frames(13) == [1, 6, 11, 13]
