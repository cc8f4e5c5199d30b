"""Tests of `re3_jax.input.folder_sources`: ``otb:ROOT`` and ``otb_sim:ROOT`` over tiny folders
written in the real layout (JPEG frames in img/, groundtruth_rect.txt), the other benchmark
layouts (``lasot:ROOT``, ``got10k:ROOT``, ...: `re3_jax.testing.fake_benchmarks`), through the
pipeline, and over ../shared/real_sequences/train when it is there."""

import json
import logging
import pathlib
import pickle
import re

import cv2
import numpy as np
import pytest

from re3_jax.input import folder_sources
from re3_jax.input import pipeline
from re3_jax.input import tfds_sources
from re3_jax.datasets import sequences
from re3_jax.testing import fake_benchmarks
from re3_jax.testing import fake_datasets

SIZE = (48, 64)  # (height, width) of the tiny frames
SMALL = pipeline.PipelineConfig(frame_size=(120, 160), sim_size=(96, 128), num_distractors=4,
                                num_threads=2, prefetch=2, mirror_prob=0.0)
NAN = (np.nan,) * 4
REPO = pathlib.Path(__file__).resolve().parents[2]
REAL = REPO.parent / 'shared' / 'real_sequences' / 'train'


def _write_sequence(root, name, rows, size=SIZE, lines=None, seed=0):
  return fake_datasets.write_otb_sequence(root, name, rows, size, lines, seed)


def _rows(n, seed):
  """``n`` random 1-based (x, y, w, h) boxes inside a SIZE frame, with fractional values."""
  rng = np.random.default_rng(seed)
  wh = rng.uniform(12, 24, (n, 2)).round(2)
  xy = 1 + rng.uniform(0, 1, (n, 2)) * (np.array(SIZE[::-1]) - wh)
  return np.concatenate([xy.round(2), wh], -1)


@pytest.fixture
def tiny(tmp_path):
  """A root with two sequences: ``a`` (6 frames, frame 4 out of view) and ``b`` (4 frames)."""
  rows_a = _rows(6, 1)
  rows_a[3] = NAN
  _write_sequence(tmp_path, 'a', rows_a, seed=1)
  _write_sequence(tmp_path, 'b', _rows(4, 2), seed=2)
  (tmp_path / 'notes').mkdir()  # a folder without ground truth is ignored
  return tmp_path


# --- names and the mixture text ------------------------------------------------------------


def test_parse_name_and_the_mixture_text():
  assert folder_sources.parse_name('imagenet_vid') is None
  assert folder_sources.parse_name('otb:../data') == ('otb', tfds_sources.TRACK,
                                                     pathlib.Path('../data'))
  assert folder_sources.parse_name('lasot_sim:x')[:2] == ('lasot', tfds_sources.IMAGE)
  assert folder_sources.parse_name('otb_sim:x')[1] == tfds_sources.IMAGE
  text = 'otb:../shared/real_sequences/train=0.5,otb_sim:../shared/real_sequences/train=0.3,' \
         'procedural=0.2'
  mixture = pipeline.parse_mixture(text)
  assert mixture == (('otb:../shared/real_sequences/train', 0.5),
                     ('otb_sim:../shared/real_sequences/train', 0.3), ('procedural', 0.2))
  assert pipeline.parse_mixture(pipeline.format_mixture(mixture)) == mixture
  with pytest.raises(ValueError, match="cannot hold ',' or '='"):
    pipeline.parse_mixture('otb:/data/a=b=0.5')
  for root in ('/data/a=b', '/data/a,b'):
    with pytest.raises(ValueError, match='the mixture text splits on'):
      pipeline.PipelineConfig(mixture=((f'otb:{root}', 1.0),))
  with pytest.raises(ValueError, match='no folder'):
    folder_sources.parse_name('otb_sim:')


# --- bad input ------------------------------------------------------------------------------


def test_a_missing_frame_file_is_named_at_open(tiny):
  (tiny / 'b' / 'img' / '0002.jpg').unlink()
  with pytest.raises(sequences.SequenceError, match=r'sequence b: frame file .*0002\.jpg'):
    folder_sources.FolderSource(f'otb:{tiny}')


def test_a_ground_truth_line_count_that_does_not_match_names_the_file(tiny):
  (tiny / 'b' / 'img' / '0004.jpg').unlink()  # the last frame: 3 frames, 4 lines
  with pytest.raises(sequences.SequenceError, match=r'sequence b: 3 frames but 4 .*b/groundtruth'):
    folder_sources.FolderSource(f'otb_sim:{tiny}')


@pytest.mark.parametrize('make', ['empty', 'no_ground_truth', 'missing'])
def test_a_root_without_sequence_folders_is_named(tmp_path, make):
  root = tmp_path / 'root'
  if make != 'missing':
    (root / 'seq' / 'img').mkdir(parents=True)
  if make == 'no_ground_truth':
    cv2.imwrite(str(root / 'seq' / 'img' / '0001.jpg'), np.zeros(SIZE + (3,), np.uint8))
  with pytest.raises(FileNotFoundError, match=re.escape(str(root))):
    folder_sources.FolderSource(f'otb:{root}')


def test_bad_boxes_are_skipped_counted_and_reported_once_nan_rows_silently(tmp_path, caplog):
  good = (5.0, 6.0, 20.0, 16.0)
  rows = [good, good, (200.0, 5.0, 10.0, 10.0), (5.0, 5.0, 0.0, 10.0), (-4.0, 40.0, 20.0, 20.0),
          NAN, good]
  text = [','.join(map(str, r)) for r in rows]
  # A blank line before the third box: read_groundtruth skips it, the warning names the file's lines.
  _write_sequence(tmp_path, 's1', rows, lines=text[:2] + [''] + text[2:])
  _write_sequence(tmp_path, 's2', [good, (5.0, 5.0, 10.0, -3.0)])
  with caplog.at_level(logging.INFO):
    source = folder_sources.FolderSource(f'otb:{tmp_path}')
  counts = source.counts
  assert counts['bad_boxes'] == 3 and counts['out_of_view'] == 1 and counts['clipped'] == 1
  assert counts['visible'] == 5 and counts['frames'] == 9
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1, warnings
  assert '3 ground-truth boxes' in warnings[0]
  assert f'{tmp_path / "s1" / "groundtruth_rect.txt"} lines 4, 5;' in warnings[0]
  assert f'{tmp_path / "s2" / "groundtruth_rect.txt"} line 2' in warnings[0]
  example = source[0]
  np.testing.assert_array_equal(example['visible'], [1, 1, 0, 0, 1, 0, 1])
  # Partly outside: x = -4 (1-based) is x1 = -5, clipped to 0; y2 = 39 + 20 = 59 to 48.
  np.testing.assert_array_equal(example['boxes'][4], [0, 39, 15, 48])
  assert np.isnan(example['boxes'][[2, 3, 5]]).all()


def test_a_sequence_without_a_visible_frame_is_skipped_and_none_left_is_an_error(tmp_path, caplog):
  _write_sequence(tmp_path, 'gone', [NAN, NAN, (300.0, 1.0, 5.0, 5.0)])
  with pytest.raises(ValueError, match=f'no sequence under {re.escape(str(tmp_path))} has a visible box'):
    folder_sources.FolderSource(f'otb:{tmp_path}')
  _write_sequence(tmp_path, 'kept', _rows(3, 0))
  with caplog.at_level(logging.WARNING):
    source = folder_sources.FolderSource(f'otb:{tmp_path}')
  assert len(source) == 1 and source[0]['video'] == 'kept'
  assert source.counts['empty_sequences'] == 1
  assert any('1 sequences without a visible box skipped: gone' in r.getMessage()
             for r in caplog.records)


# --- otb:ROOT: windows of the true boxes and the files' frames ------------------------------


@pytest.mark.parametrize('seq_len', [3, 5])  # 5: longer than any visible run, played ping-pong
def test_windows_have_the_true_boxes_and_the_decoded_frames(tiny, seq_len):
  name = f'otb:{tiny}'
  canvas = (40, 56)  # scale 5/6 (> 1/2: decoded whole, then area-resized by `fit`)
  config = SMALL.replace(mixture=((name, 1.0),), frame_size=canvas)
  maker = pipeline.SequenceMaker(config, seq_len, seed=0)
  source = maker.sources[0]
  assert source.kind == tfds_sources.TRACK and len(source) == 2
  seen = set()
  for i in range(8):
    seq = maker(i)
    rng = maker.rng(i)  # replay the maker's draws: the source, the sequence, the window
    rng.choice(1, p=[1.0])
    example = source[int(rng.integers(len(source)))]
    idx = tfds_sources.visible_window(example['visible'], seq_len, rng)
    folder = tiny / example['video']
    rows = np.loadtxt(folder / 'groundtruth_rect.txt', delimiter=',')[idx]
    for t, j in enumerate(idx):
      image = cv2.cvtColor(cv2.imread(str(folder / 'img' / f'{j + 1:04d}.jpg')), cv2.COLOR_BGR2RGB)
      np.testing.assert_array_equal(seq['frames'][t], tfds_sources.fit(image, canvas))
    fitted_h, fitted_w = seq['frames'][0].shape[:2]
    assert (fitted_h, fitted_w) == (40, 53)
    sx, sy = fitted_w / SIZE[1], fitted_h / SIZE[0]
    # 1-based x, y, w, h -> xyxy: x1 = x - 1, x2 = x1 + w; then scaled to the fitted frame.
    expected = np.stack([(rows[:, 0] - 1) * sx, (rows[:, 1] - 1) * sy,
                         (rows[:, 0] - 1 + rows[:, 2]) * sx, (rows[:, 1] - 1 + rows[:, 3]) * sy], -1)
    # The pipeline computes in float32: from_otb (2 roundings) and scale_boxes (1), each at most
    # half an ulp of values < 64 px (ulp(64) = 7.6e-6), so the error is < 1.2e-5 px; 1e-4 holds
    # that with room and still catches any half-pixel or scaling mistake.
    np.testing.assert_allclose(seq['boxes'], expected, rtol=0, atol=1e-4)
    seen.add(example['video'])
  assert seen == {'a', 'b'}


def test_frames_are_read_from_the_files_when_used(tiny):
  source = folder_sources.FolderSource(f'otb:{tiny}')
  example = source[1]
  assert example['frames'][2] == (tiny / 'b' / 'img' / '0003.jpg').read_bytes()
  (tiny / 'b' / 'img' / '0003.jpg').unlink()
  with pytest.raises(sequences.SequenceError, match=r'sequence b: cannot read frame 2 .*0003\.jpg'):
    example['frames'][2]  # pylint: disable=pointless-statement


@pytest.mark.parametrize('content, message', [
    (b'', 'sequence a: frame {t} file {file} is empty \\(0 bytes\\)$'),
    (b'not a jpeg', "otb:{root}\\[0\\] \\(video 'a'\\) frame {t} \\({file}\\): the JPEG cannot be "
                    'decoded$')])
def test_a_damaged_frame_stops_training_naming_the_sequence_and_file(tmp_path, content, message):
  """The rule of the module docstring: a damaged frame is never skipped, it is named."""
  _write_sequence(tmp_path, 'a', _rows(4, 1), seed=1)
  for t in (2, 3, 4):  # frame 0 is read at open (its size); these only in a window
    (tmp_path / 'a' / 'img' / f'{t:04d}.jpg').write_bytes(content)
  config = SMALL.replace(mixture=((f'otb:{tmp_path}', 1.0),))
  with pipeline.Pipeline(config, seq_len=3, batch_size=2, seed=0, process_index=0,
                         process_count=1) as p:
    with pytest.raises(ValueError) as e:
      next(p)
  folder = re.escape(str(tmp_path / 'a' / 'img'))
  assert re.match(message.format(root=re.escape(str(tmp_path)), t='[123]',
                                 file=folder + '/000[234]\\.jpg'), str(e.value)), str(e.value)


def test_a_maker_over_folders_pickles_for_worker_processes(tiny):
  config = SMALL.replace(mixture=((f'otb:{tiny}', 1.0), (f'otb_sim:{tiny}', 1.0)))
  maker = pipeline.SequenceMaker(config, 3, seed=0)
  copy = pickle.loads(pickle.dumps(maker))
  for i in range(4):
    a, b = maker(i), copy(i)
    assert all(np.array_equal(x, y) for x, y in zip(a['frames'], b['frames']))
    np.testing.assert_array_equal(a['boxes'], b['boxes'])


# --- otb_sim:ROOT: the simulator over real frames --------------------------------------------


def test_otb_sim_examples_are_the_frames_with_large_enough_boxes(tiny):
  source = folder_sources.FolderSource(f'otb_sim:{tiny}')
  assert source.kind == tfds_sources.IMAGE
  assert len(source) == source.counts['examples'] == 9  # 10 frames, one out of view
  example = source[3]  # sequence a's frames 1, 2, 3, 5, 6: the 4th is its 5th frame
  assert example['image_id'] == 'a/0005.jpg'
  assert example['image'] == (tiny / 'a' / 'img' / '0005.jpg').read_bytes()
  row = _rows(6, 1)[4]
  np.testing.assert_allclose(example['boxes'], [[row[0] - 1, row[1] - 1, row[0] - 1 + row[2],
                                                 row[1] - 1 + row[3]]], atol=1e-4)
  # A box under 1% of the frame (3 x 3 of 64 x 48) is simulated over a window around it.
  _write_sequence(tiny, 'c', [(5.0, 5.0, 3.0, 3.0)] * 2)
  source = folder_sources.FolderSource(f'otb_sim:{tiny}')
  assert len(source) == 11
  assert source[9]['image_id'] == 'c/0001.jpg'
  assert source[9]['region'] == folder_sources.target_region(source[9]['boxes'][0], 48, 64)
  assert source[3]['region'] == (0, 0, 64, 48)  # a large enough box: the whole frame


def test_target_region_by_hand():
  # A 10 x 10 box in a 640 x 360 frame covers 0.04% of it; the window where it covers 4%
  # has the frame's aspect ratio and area 100 / 0.04 = 2500: sqrt(2500 * 16 / 9) = 66.67
  # wide, 37.5 high (ceil: 67 x 38), centred on the box's centre (105, 55).
  assert folder_sources.target_region([100, 50, 110, 60], 360, 640) == (72, 36, 139, 74)
  # Near the corner it shifts into the frame.
  assert folder_sources.target_region([0, 0, 10, 10], 360, 640) == (0, 0, 67, 38)
  # A thin box, 2 x 30: area 1500 gives 51.6 x 29.0, but the window is at least 1.5x the
  # box a side, so 45 high (and ceil(51.6) = 52 wide).
  x0, y0, x1, y1 = folder_sources.target_region([300, 100, 302, 130], 360, 640)
  assert (x1 - x0, y1 - y0) == (52, 45)


def test_otb_sim_sequences_move_the_pasted_object_with_its_box(tmp_path):
  # One frame with a red object on grey noise: every simulated box holds the red object.
  _write_sequence(tmp_path, 'red', [(40.0, 30.0, 30.0, 24.0)], size=(96, 128))
  config = SMALL.replace(mixture=((f'otb_sim:{tmp_path}', 1.0),), num_distractors=0)
  for i in range(3):
    seq = pipeline.SequenceMaker(config, 4, seed=i)(0)
    assert len(seq['frames']) == 4 and seq['frames'][0].shape == (96, 128, 3)
    assert len({tuple(b) for b in seq['boxes'].tolist()}) > 1  # it moves
    for frame, box in zip(seq['frames'], seq['boxes']):
      red = (frame[..., 0] > 150) & (frame[..., 1] < 80) & (frame[..., 2] < 80)
      x1, y1, x2, y2 = np.round(box).astype(int) + [1, 1, -1, -1]  # inside the resampled rim
      assert red[y1:y2, x1:x2].mean() > 0.95, box
      # And no larger: a ring 2-4 px outside the box is (almost) not red.
      ring = np.zeros_like(red)
      x1, y1, x2, y2 = np.round(box).astype(int) + [-4, -4, 4, 4]
      ring[max(y1, 0):y2, max(x1, 0):x2] = True
      x1, y1, x2, y2 = np.round(box).astype(int) + [-2, -2, 2, 2]
      ring[max(y1, 0):y2, max(x1, 0):x2] = False
      assert red[ring].mean() < 0.1, box


# --- the mixture through the pipeline -------------------------------------------------------


def test_a_mixture_of_the_three_makes_batches_and_resumes_exactly(tiny):
  mixture = pipeline.parse_mixture(f'otb:{tiny}=0.5,otb_sim:{tiny}=0.3,procedural=0.2')
  config = SMALL.replace(mixture=mixture)
  with pipeline.Pipeline(config, seq_len=3, batch_size=4, seed=3, process_index=0,
                         process_count=1) as p:
    batch = next(p)
    state = json.loads(json.dumps(p.get_state()))
    expected = [next(p) for _ in range(2)]
  assert batch.frames.shape == (4, 3, 120, 160, 3) and batch.boxes.shape == (4, 3, 4)
  assert batch.valid_sizes.shape == (4, 3, 2) and np.isfinite(batch.boxes).all()
  assert state['stream']['mixture'] == [list(m) for m in mixture]
  with pipeline.Pipeline(config, seq_len=3, batch_size=4, seed=3, process_index=0,
                         process_count=1) as q:
    q.set_state(state)
    for e, got in zip(expected, [next(q) for _ in range(2)]):
      assert all(np.array_equal(x, y) for x, y in zip(e, got))
  # Batches 0-2 are sequences 0-11 (one host): they mix the sources.
  assert len({p.maker(i)['source'] for i in range(12)}) > 1


def test_benchmark_layouts_are_sources_as_they_lie(tmp_path):
  """LaSOT and GOT-10k train splits mix without conversion; absent frames are not visible."""
  lasot, got = tmp_path / 'LaSOT', tmp_path / 'GOT-10k/train'
  fake_benchmarks.write_lasot(lasot, 'bird-3', _rows(6, 3), occluded=[1], out_of_view=[2], seed=3)
  fake_benchmarks.write_lasot(lasot, 'cup-1', _rows(5, 4), seed=4)
  fake_benchmarks.write_got10k(got, 'GOT-10k_Train_000001', _rows(5, 5), absent=[4], seed=5)
  source = folder_sources.FolderSource(f'lasot:{lasot}')
  assert source.layout == 'lasot' and source.kind == tfds_sources.TRACK
  assert source.counts == {'sequences': 2, 'frames': 11, 'visible': 9, 'out_of_view': 2,
                           'bad_boxes': 0, 'clipped': 0, 'empty_sequences': 0}
  example = source[0]
  assert example['video'] == 'bird-3' and example['visible'].tolist() == [1, 0, 0, 1, 1, 1]
  assert len(folder_sources.FolderSource(f'got10k_sim:{got}')) == 4  # the visible frames
  config = SMALL.replace(mixture=pipeline.parse_mixture(f'lasot:{lasot}=0.5,got10k:{got}=0.5'))
  with pipeline.Pipeline(config, seq_len=3, batch_size=4, seed=0, process_index=0,
                         process_count=1) as p:
    batch = next(p)
  assert batch.frames.shape == (4, 3, 120, 160, 3) and np.isfinite(batch.boxes).all()
  with pytest.raises(FileNotFoundError, match=r"source 'lasot:.*': LaSOT root .* holds no"):
    folder_sources.FolderSource(f'lasot:{got.parent}')
  with pytest.raises(ValueError, match='is not KIND:ROOT or KIND_sim:ROOT with KIND one of otb, '):
    folder_sources.FolderSource(f'trackingnet:{got}')


# --- the shared real sequences --------------------------------------------------------------


@pytest.mark.skipif(not REAL.is_dir(), reason=f'{REAL} is absent (the shared real sequences)')
def test_the_shared_real_training_sequences(monkeypatch):
  monkeypatch.chdir(REPO)
  root = '../shared/real_sequences/train'
  tracks = folder_sources.FolderSource(f'otb:{root}')
  images = folder_sources.FolderSource(f'otb_sim:{root}')
  folders = [d for d in (REPO / root).iterdir() if (d / 'groundtruth_rect.txt').is_file()]
  assert len(tracks) == len(folders) >= 16  # one track a sequence (37 since 2026-12-06)
  assert tracks.counts['out_of_view'] > 0 and len(images) > 0
  config = SMALL.replace(mixture=pipeline.parse_mixture(f'otb:{root}=0.5,otb_sim:{root}=0.5'),
                         frame_size=(180, 320))
  maker = pipeline.SequenceMaker(config, 4, seed=0)
  kinds = set()
  for i in range(6):
    seq = maker(i)
    kinds.add(seq['source'])
    for frame, box in zip(seq['frames'], seq['boxes']):
      h, w = frame.shape[:2]
      assert h <= 180 and w <= 320
      assert (box[2:] > box[:2]).all() and (box >= 0).all() and box[2] <= w and box[3] <= h
  assert kinds == {0, 1}
