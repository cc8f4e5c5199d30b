"""Tests of the TFDS builders (re3_jax/input/builders/): the real builders on fake downloads."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

tfds = pytest.importorskip('tensorflow_datasets')

from re3_jax.datasets import annotations  # noqa: E402
from re3_jax.input.builders import common  # noqa: E402
from re3_jax.input.builders.alov300 import alov300_dataset_builder  # noqa: E402
from re3_jax.input.builders.imagenet_det import imagenet_det_dataset_builder  # noqa: E402
from re3_jax.input.builders.imagenet_vid import imagenet_vid_dataset_builder  # noqa: E402
from re3_jax.testing import fake_datasets  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
VID_TRAIN = 'ILSVRC2015/Data/VID/train/ILSVRC2015_VID_train_0000'
VID_TRAIN_ANN = 'ILSVRC2015/Annotations/VID/train/ILSVRC2015_VID_train_0000'
VIDEO0 = 'ILSVRC2015_train_00000000'
ALOV_VIDEO = '01-Light/01-Light_video00001'

tfds.disable_progress_bar()


def _build(module, manual: pathlib.Path, data_dir: pathlib.Path):
  builder = module.Builder(data_dir=os.fspath(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual)))
  return builder


def _read(builder, split: str, raw: bool = False) -> dict[str, dict]:
  """key -> example; with raw, frames/image come back as the stored bytes."""
  decoders = None
  if raw:
    name = 'image' if 'image' in builder.info.features else 'frames'
    decoders = {name: common.RawBytes()}
  source = builder.as_data_source(split=split, decoders=decoders)
  examples = [source[i] for i in range(len(source))]
  key = 'image_id' if 'image_id' in builder.info.features else None
  out = {}
  for ex in examples:
    name = (ex['image_id'] if key else ex['video'] + b'/' + str(ex['track_id']).encode())
    out[name.decode()] = ex
  return out


def _vid_fake(root: pathlib.Path, **kwargs) -> pathlib.Path:
  fake_datasets.write_vid(root, **kwargs)
  fake_datasets.write_vid(root, split='val', videos=1, frames=3)
  return root


def _xml_truth(path: pathlib.Path) -> dict[int, tuple]:
  """trackid -> (box, occluded, generated) read straight from a VID xml."""
  out = {}
  for obj in ET.parse(path).getroot().iter('object'):
    box = [float(obj.find(f'bndbox/{t}').text) for t in ('xmin', 'ymin', 'xmax', 'ymax')]
    out[int(obj.find('trackid').text)] = (box, obj.find('occluded').text == '1',
                                          obj.find('generated').text == '1')
  return out


def _edit_objects(path: pathlib.Path, edit) -> None:
  """Rewrites a VID/DET xml after edit(root) changes its <object>s."""
  tree = ET.parse(path)
  edit(tree.getroot())
  tree.write(path)


def _remove_track(trackid: int):
  def edit(root):
    for obj in list(root.iter('object')):
      if obj.find('trackid').text == str(trackid):
        root.remove(obj)
  return edit


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  """All three datasets built from one fake manual_dir: (manual, builders)."""
  tmp = tmp_path_factory.mktemp('built')
  manual = _vid_fake(tmp / 'manual')
  fake_datasets.write_alov(manual)
  fake_datasets.write_det(manual)
  fake_datasets.write_det(manual, split='val', images=2)
  builders = {
      'vid': _build(imagenet_vid_dataset_builder, manual, tmp / 'data'),
      'alov': _build(alov300_dataset_builder, manual, tmp / 'data'),
      'det': _build(imagenet_det_dataset_builder, manual, tmp / 'data'),
  }
  return manual, builders


# --- The normal builds -------------------------------------------------------


def test_builders_default_to_array_record(built, tmp_path):
  _, builders = built
  for builder in builders.values():
    assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
    assert list(pathlib.Path(builder.data_dir).glob('*.array_record-*'))
  # An explicit format wins; a prepared dataset keeps its own.
  explicit = imagenet_vid_dataset_builder.Builder(data_dir=os.fspath(tmp_path),
                                                  file_format='tfrecord')
  assert explicit.info.file_format == tfds.core.FileFormat.TFRECORD
  reopened = imagenet_vid_dataset_builder.Builder(
      data_dir=pathlib.Path(builders['vid'].data_dir).parents[1])
  assert reopened.is_prepared()
  assert reopened.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
  assert reopened.info.metadata['skipped'] == {'train': {}, 'val': {}}


def test_vid_tracks_match_the_xml(built):
  manual, builders = built
  builder = builders['vid']
  assert builder.info.splits['train'].num_examples == 4  # 2 videos x 2 tracks.
  assert builder.info.splits['val'].num_examples == 2
  examples = _read(builder, 'train')
  assert sorted(examples) == [f'ILSVRC2015_VID_train_0000/ILSVRC2015_train_0000000{v}/{k}'
                              for v in (0, 1) for k in (0, 1)]
  for key, ex in examples.items():
    video, trackid = key.rsplit('/', 1)
    assert ex['video'].decode() == video and ex['track_id'] == int(trackid)
    assert ex['label'].decode() == fake_datasets.VID_WNIDS[int(trackid)]
    assert (ex['height'], ex['width']) == (72, 96)
    assert len(ex['frames']) == 6 and ex['frames'][0].shape == (72, 96, 3)
    assert ex['frames'][0].dtype == np.uint8
    np.testing.assert_array_equal(ex['frame_index'], np.arange(6))
    ann_dir = manual / 'ILSVRC2015/Annotations/VID/train' / video
    truth = [_xml_truth(ann_dir / f'{t:06d}.xml')[int(trackid)] for t in range(6)]
    np.testing.assert_array_equal(ex['boxes'], [b for b, _, _ in truth])
    assert ex['boxes'].dtype == np.float32 and ex['frame_index'].dtype == np.int32
    np.testing.assert_array_equal(ex['occluded'], [o for _, o, _ in truth])
    np.testing.assert_array_equal(ex['interpolated'], [g for _, _, g in truth])
    assert ex['visible'].dtype == bool and ex['visible'].all()
  # The fake has some <generated> frames and both labels; make sure the test saw them.
  assert any(ex['interpolated'].any() for ex in examples.values())
  assert builder.info.metadata['skipped'] == {'train': {}, 'val': {}}


def test_vid_frames_are_the_original_bytes(built):
  manual, builders = built
  for split, base in [('train', 'ILSVRC2015/Data/VID/train'), ('val', 'ILSVRC2015/Data/VID/val')]:
    for key, ex in _read(builders['vid'], split, raw=True).items():
      video = key.rsplit('/', 1)[0]
      assert isinstance(ex['frames'][0], bytes)
      files = [(manual / base / video / f'{t:06d}.JPEG').read_bytes() for t in ex['frame_index']]
      assert ex['frames'] == files


def test_alov_interpolates_between_annotations(built):
  manual, builders = built
  builder = builders['alov']
  assert list(builder.info.splits) == ['train']
  examples = _read(builder, 'train', raw=True)
  assert sorted(examples) == [f'{ALOV_VIDEO}/0', '02-SurfaceCover/02-SurfaceCover_video00001/0']
  for key, ex in examples.items():
    video = key[:-2]
    assert ex['label'].decode() == video.split('/')[0] and ex['track_id'] == 0
    # Expected by hand from the .ann: box = min/max of the corners at frames 1, 6, 11,
    # frames in between at (5 - k)/5 and k/5 of the neighbours.
    rows = [list(map(float, line.split()))
            for line in (manual / 'alov300++_rectangleAnnotation_full' / f'{video}.ann')
            .read_text().splitlines()]
    assert [int(r[0]) for r in rows] == [1, 6, 11]
    keys = np.array([[min(r[1::2]), min(r[2::2]), max(r[1::2]), max(r[2::2])] for r in rows])
    expected = [keys[0] + (keys[1] - keys[0]) * k / 5 for k in range(5)]
    expected += [keys[1] + (keys[2] - keys[1]) * k / 5 for k in range(6)]
    np.testing.assert_allclose(ex['boxes'], expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(ex['frame_index'], np.arange(11))
    np.testing.assert_array_equal(ex['interpolated'], [k not in (0, 5, 10) for k in range(11)])
    assert ex['visible'].all() and not ex['occluded'].any()
    files = [(manual / 'imagedata++' / video / f'{t + 1:08d}.jpg').read_bytes() for t in range(11)]
    assert ex['frames'] == files


def test_det_drops_small_boxes_and_keeps_bytes(built):
  manual, builders = built
  builder = builders['det']
  assert builder.info.splits['train'].num_examples == 4
  assert builder.info.splits['val'].num_examples == 2
  for split in ('train', 'val'):
    for image_id, ex in _read(builder, split, raw=True).items():
      assert ex['image_id'].decode() == image_id
      jpeg = manual / 'ILSVRC/Data/DET' / split / f'{image_id}.JPEG'
      assert ex['image'] == jpeg.read_bytes()
      objects = list(ET.parse(manual / 'ILSVRC/Annotations/DET' / split / f'{image_id}.xml')
                     .getroot().iter('object'))
      boxes = [[float(o.find(f'bndbox/{t}').text) for t in ('xmin', 'ymin', 'xmax', 'ymax')]
               for o in objects]
      # The fake's last object is the small one.
      np.testing.assert_array_equal(ex['boxes'], boxes[:-1])
      assert [b.decode() for b in ex['labels']] == [o.find('name').text for o in objects[:-1]]
      assert (ex['height'], ex['width']) == (72, 96)
  decoded = _read(builder, 'train')
  assert next(iter(decoded.values()))['image'].shape == (72, 96, 3)
  assert builder.info.metadata['skipped'] == {'train': {'small_boxes': 4},
                                              'val': {'small_boxes': 2}}


def test_metadata_is_readable_from_the_directory(built):
  _, builders = built
  restored = tfds.builder_from_directory(builders['det'].data_dir)
  assert restored.info.metadata['skipped']['train'] == {'small_boxes': 4}
  assert len(restored.info.metadata['skip_examples']['train']['small_boxes']) == 4
  ds = tfds.data_source('imagenet_vid', split='val',
                        data_dir=pathlib.Path(builders['vid'].data_dir).parents[1])
  assert len(ds) == 2


# --- Damage: errors naming the file -----------------------------------------


def test_vid_corrupt_xml_names_the_file(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  bad = manual / VID_TRAIN_ANN / VIDEO0 / '000001.xml'
  bad.write_text(bad.read_text()[:150])
  with pytest.raises(annotations.AnnotationError, match='corrupt XML') as info:
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert str(bad) in str(info.value)


def test_vid_truncated_jpeg_names_the_file(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  bad = manual / VID_TRAIN / VIDEO0 / '000002.JPEG'
  data = bad.read_bytes()
  bad.write_bytes(data[:len(data) // 2])
  with pytest.raises(annotations.AnnotationError, match='truncated') as info:
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert str(bad) in str(info.value)


def test_vid_annotation_without_its_frame(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  (manual / VID_TRAIN / VIDEO0 / '000001.JPEG').unlink()
  with pytest.raises(annotations.AnnotationError, match='annotation without its frame') as info:
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert str(manual / VID_TRAIN_ANN / VIDEO0 / '000001.xml') in str(info.value)


def test_vid_frame_without_its_annotation(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  (manual / VID_TRAIN_ANN / VIDEO0 / '000002.xml').unlink()
  with pytest.raises(annotations.AnnotationError, match='frame without its annotation') as info:
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert str(manual / VID_TRAIN / VIDEO0 / '000002.JPEG') in str(info.value)


def test_vid_jpeg_size_differs_from_xml(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  bad = manual / VID_TRAIN_ANN / VIDEO0 / '000000.xml'
  bad.write_text(bad.read_text().replace('<width>96</width>', '<width>97</width>'))
  with pytest.raises(annotations.AnnotationError, match='96 x 72 but') as info:
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert str(manual / VID_TRAIN / VIDEO0 / '000000.JPEG') in str(info.value)


def test_alov_corrupt_ann_line_names_file_and_line(tmp_path):
  manual = fake_datasets.write_alov(tmp_path / 'm', videos=1)
  ann = manual / 'alov300++_rectangleAnnotation_full' / f'{ALOV_VIDEO}.ann'
  lines = ann.read_text().splitlines()
  lines[1] = lines[1].rsplit(' ', 1)[0]  # 8 fields.
  ann.write_text('\n'.join(lines) + '\n')
  with pytest.raises(annotations.AnnotationError, match='expected 9 fields') as info:
    _build(alov300_dataset_builder, manual, tmp_path / 'd')
  assert f'{ann}:2:' in str(info.value)


def test_alov_annotated_frame_beyond_the_frames(tmp_path):
  manual = fake_datasets.write_alov(tmp_path / 'm', videos=1)
  for number in (10, 11):
    (manual / 'imagedata++' / ALOV_VIDEO / f'{number:08d}.jpg').unlink()
  ann = manual / 'alov300++_rectangleAnnotation_full' / f'{ALOV_VIDEO}.ann'
  with pytest.raises(annotations.AnnotationError, match='frame 10 .* frames up to 9') as info:
    _build(alov300_dataset_builder, manual, tmp_path / 'd')
  assert str(ann) in str(info.value)


def test_alov_video_without_ann(tmp_path):
  manual = fake_datasets.write_alov(tmp_path / 'm', videos=2)
  ann = manual / 'alov300++_rectangleAnnotation_full' / f'{ALOV_VIDEO}.ann'
  ann.unlink()
  with pytest.raises(annotations.AnnotationError, match='is missing') as info:
    _build(alov300_dataset_builder, manual, tmp_path / 'd')
  assert str(ann) in str(info.value)


def test_det_truncated_jpeg_names_the_file(tmp_path):
  manual = fake_datasets.write_det(tmp_path / 'm', images=2)
  fake_datasets.write_det(manual, split='val', images=1)
  bad = manual / 'ILSVRC/Data/DET/val/ILSVRC2012_val_00000001.JPEG'
  bad.write_bytes(bad.read_bytes()[:-40])
  with pytest.raises(annotations.AnnotationError, match='truncated') as info:
    _build(imagenet_det_dataset_builder, manual, tmp_path / 'd')
  assert str(bad) in str(info.value)


@pytest.mark.parametrize('module, layout', [
    (imagenet_vid_dataset_builder, 'ILSVRC2015/Data/VID'),
    (alov300_dataset_builder, 'imagedata++'),
    (imagenet_det_dataset_builder, 'ILSVRC/Data/DET'),
])
def test_wrong_manual_dir_names_the_expected_path(tmp_path, module, layout):
  manual = tmp_path / 'downloads'
  (manual / 'something_else').mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match='not found under manual_dir') as info:
    _build(module, manual, tmp_path / 'd')
  assert str(manual / layout) in str(info.value)


def test_vid_missing_split_is_left_out(tmp_path):
  manual = fake_datasets.write_vid(tmp_path / 'm', videos=1, frames=2)  # No val split.
  builder = _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert list(builder.info.splits) == ['train']
  assert builder.info.metadata['skipped'] == {'train': {}}


def test_vid_split_without_annotations_or_no_split_at_all(tmp_path):
  manual = fake_datasets.write_vid(tmp_path / 'm', videos=1, frames=2, split='val')
  shutil.rmtree(manual / 'ILSVRC2015/Annotations/VID/val')
  with pytest.raises(FileNotFoundError, match='Annotations/VID/val not found'):
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  shutil.rmtree(manual / 'ILSVRC2015/Data/VID/val')
  with pytest.raises(FileNotFoundError, match='no split found, expected .*Data/VID/train or'):
    _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd2')


def test_vid_manual_dir_may_be_the_ilsvrc2015_folder(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=2)
  builder = _build(imagenet_vid_dataset_builder, manual / 'ILSVRC2015', tmp_path / 'd')
  assert builder.info.splits['train'].num_examples == 2


# --- Genuine oddities: skipped and counted ----------------------------------


def test_vid_empty_video_folder_is_counted(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  (manual / VID_TRAIN / 'ILSVRC2015_train_00000009').mkdir()
  (manual / VID_TRAIN_ANN / 'ILSVRC2015_train_00000009').mkdir()
  (manual / 'ILSVRC2015/Data/VID/val/ILSVRC2015_val_00000005').mkdir()  # No annotation folder.
  builder = _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert builder.info.splits['train'].num_examples == 2
  assert builder.info.metadata['skipped'] == {'train': {'empty_videos': 1},
                                              'val': {'empty_videos': 1}}


def test_alov_empty_video_folder_is_counted(tmp_path):
  manual = fake_datasets.write_alov(tmp_path / 'm', videos=2)
  shutil.rmtree(manual / 'imagedata++/02-SurfaceCover/02-SurfaceCover_video00001')
  (manual / 'imagedata++/02-SurfaceCover/02-SurfaceCover_video00001').mkdir()
  builder = _build(alov300_dataset_builder, manual, tmp_path / 'd')
  assert builder.info.splits['train'].num_examples == 1
  assert builder.info.metadata['skipped'] == {'train': {'empty_videos': 1}}


def test_vid_degenerate_box_is_counted_and_not_visible(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=4)
  path = manual / VID_TRAIN_ANN / VIDEO0 / '000002.xml'

  def flip(root):
    obj = root.find('object')  # trackid 0
    obj.find('bndbox/xmin').text, obj.find('bndbox/xmax').text = (
        obj.find('bndbox/xmax').text, obj.find('bndbox/xmin').text)
    obj.find('occluded').text = '1'
  _edit_objects(path, flip)
  builder = _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  ex = _read(builder, 'train')[f'ILSVRC2015_VID_train_0000/{VIDEO0}/0']
  np.testing.assert_array_equal(ex['visible'], [True, True, False, True])
  np.testing.assert_array_equal(ex['boxes'][2], 0)
  assert not ex['occluded'][2] and not ex['interpolated'][2]
  assert builder.info.metadata['skipped']['train'] == {'degenerate_boxes': 1}


def test_vid_one_frame_track_is_counted(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  path = manual / VID_TRAIN_ANN / VIDEO0 / '000001.xml'

  def add_track_7(root):
    obj = ET.fromstring(ET.tostring(root.find('object')))
    obj.find('trackid').text = '7'
    root.append(obj)
  _edit_objects(path, add_track_7)
  builder = _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert builder.info.splits['train'].num_examples == 2
  assert builder.info.metadata['skipped']['train'] == {'short_tracks': 1}
  assert builder.info.metadata['skip_examples']['train']['short_tracks'] == [
      f'ILSVRC2015_VID_train_0000/{VIDEO0} trackid 7']


def test_vid_track_that_disappears_and_reappears(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=6)
  ann_dir = manual / VID_TRAIN_ANN / VIDEO0
  for t in (0, 2, 3, 5):
    _edit_objects(ann_dir / f'{t:06d}.xml', _remove_track(0))
  builder = _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  examples = _read(builder, 'train', raw=True)
  ex = examples[f'ILSVRC2015_VID_train_0000/{VIDEO0}/0']
  np.testing.assert_array_equal(ex['frame_index'], [1, 2, 3, 4])  # Trimmed to frames 1..4.
  np.testing.assert_array_equal(ex['visible'], [True, False, False, True])
  np.testing.assert_array_equal(ex['boxes'][1:3], 0)
  for k, t in enumerate([1, 4]):
    np.testing.assert_array_equal(ex['boxes'][3 * k], _xml_truth(ann_dir / f'{t:06d}.xml')[0][0])
  assert ex['frames'] == [(manual / VID_TRAIN / VIDEO0 / f'{t:06d}.JPEG').read_bytes()
                          for t in (1, 2, 3, 4)]
  assert len(examples[f'ILSVRC2015_VID_train_0000/{VIDEO0}/1']['frames']) == 6
  assert builder.info.metadata['skipped']['train'] == {}


def test_vid_video_without_objects_is_counted(tmp_path):
  manual = _vid_fake(tmp_path / 'm', videos=2, frames=2)
  for t in range(2):
    path = manual / VID_TRAIN_ANN / 'ILSVRC2015_train_00000001' / f'{t:06d}.xml'
    _edit_objects(path, lambda root: [root.remove(o) for o in list(root.iter('object'))])
  builder = _build(imagenet_vid_dataset_builder, manual, tmp_path / 'd')
  assert builder.info.splits['train'].num_examples == 2
  assert builder.info.metadata['skipped']['train'] == {'videos_without_objects': 1}


def test_det_image_with_only_small_boxes_is_skipped(tmp_path):
  manual = fake_datasets.write_det(tmp_path / 'm', images=3)
  fake_datasets.write_det(manual, split='val', images=1)
  path = manual / 'ILSVRC/Annotations/DET/train/ILSVRC2013_train/n01440764/n01440764_00002.xml'
  _edit_objects(path, lambda root: [root.remove(o) for o in list(root.iter('object'))[:-1]])
  builder = _build(imagenet_det_dataset_builder, manual, tmp_path / 'd')
  assert builder.info.splits['train'].num_examples == 2
  assert 'ILSVRC2013_train/n01440764/n01440764_00002' not in _read(builder, 'train', raw=True)
  assert builder.info.metadata['skipped']['train'] == {'images_only_small_boxes': 1,
                                                       'small_boxes': 3}


# --- The tfds CLI ------------------------------------------------------------

# tfds 4.9.10's `tfds` entry point imports apache_beam and mlcroissant for its
# other sub-commands; without them, run the same `build` sub-command through
# tfds's own argument parser.
_BUILD_ONLY = ('from absl import app; '
               'from tensorflow_datasets.scripts.cli import build, cli_utils; '
               'app.run(lambda args: args.execute(), '
               'flags_parser=cli_utils.make_flags_parser(build.Args, description="tfds build"))')


def test_tfds_build_cli(tmp_path):
  try:
    importlib.import_module('tensorflow')
  except ImportError as e:
    pytest.skip(f'the tfds CLI needs TensorFlow: {e}')
  manual = _vid_fake(tmp_path / 'm', videos=1, frames=3)
  args = ['re3_jax/input/builders/imagenet_vid', f'--manual_dir={manual}',
          f'--data_dir={tmp_path / "d"}',
          '--file_format=array_record']
  full_cli = shutil.which('tfds') and all(
      importlib.util.find_spec(m) for m in ('apache_beam', 'mlcroissant'))
  command = ['tfds', 'build'] + args if full_cli else [sys.executable, '-c', _BUILD_ONLY] + args
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  out = tmp_path / 'd/imagenet_vid/1.0.0'
  assert list(out.glob('imagenet_vid-train.array_record-*'))
  source = tfds.data_source('imagenet_vid', split='train', data_dir=tmp_path / 'd',
                            decoders={'frames': common.RawBytes()})
  assert len(source) == 2
  assert tfds.builder_from_directory(out).info.metadata['skipped'] == {'train': {}, 'val': {}}


def test_data_build_command(tmp_path):
  # The TensorFlow-free route: python -m re3_jax.input.builders.build NAME --manual_dir --data_dir.
  manual = fake_datasets.write_alov(tmp_path / 'm', videos=2, frames=11)
  command = [sys.executable, '-m', 're3_jax.input.builders.build', 'alov300',
             f'--manual_dir={manual}', f'--data_dir={tmp_path / "d"}']
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'train: 2 examples' in result.stdout
  assert list((tmp_path / 'd/alov300/1.0.0').glob('alov300-train.array_record-*'))
  bad = subprocess.run(command[:3] + ['no_such_set'] + command[4:], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
  assert bad.returncode != 0 and "unknown dataset 'no_such_set'" in bad.stderr


def test_data_build_command_defaults_to_the_data_folder(tmp_path):
  # Without flags the command reads data/manual and writes data/tfds under the working
  # directory (data/README.md): the layout of the repository's data/ folder.
  fake_datasets.write_alov(tmp_path / 'data/manual', videos=2, frames=11)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      p for p in (str(REPO), os.environ.get('PYTHONPATH')) if p))
  result = subprocess.run([sys.executable, '-m', 're3_jax.input.builders.build', 'alov300'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert list((tmp_path / 'data/tfds/alov300/1.0.0').glob('alov300-train.array_record-*'))
  missing = subprocess.run([sys.executable, '-m', 're3_jax.input.builders.build', 'imagenet_vid'],
                           cwd=tmp_path / 'data', env=env, capture_output=True, text=True,
                           timeout=300)
  assert missing.returncode != 0 and 'data/manual' in missing.stderr
