"""Tests of the input pipeline: sampling, mixing, mirroring, sharding, exact resume."""

import json
import sys
import threading
import time

import cv2

import numpy as np
import pytest

from re3_jax.input import pipeline
from re3_jax.input import tfds_sources
from re3_jax.testing import fake_datasets

SMALL = pipeline.PipelineConfig(frame_size=(120, 160), sim_size=(96, 128), num_distractors=4,
                                num_threads=2, prefetch=4)


@pytest.fixture
def open_pipeline():
  """`pipeline.Pipeline`, closed when the test ends: no test's prefetching threads outlive it."""
  opened = []

  def open_(config, **kwargs):
    opened.append(pipeline.Pipeline(config, **kwargs))
    return opened[-1]
  yield open_
  for p in opened:
    p.close()


def _batches(p, n):
  return [next(p) for _ in range(n)]


def _equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(a, b))


# --- pure helpers -----------------------------------------------------------


def test_parse_mixture():
  assert pipeline.parse_mixture('imagenet_vid=0.45, alov300=0.05,imagenet_det=0.5') == (
      ('imagenet_vid', 0.45), ('alov300', 0.05), ('imagenet_det', 0.5))
  assert pipeline.parse_mixture('procedural') == (('procedural', 1.0),)
  with pytest.raises(ValueError, match="'x'"):
    pipeline.parse_mixture('vid=x')
  with pytest.raises(ValueError, match='names no source'):
    pipeline.parse_mixture(' , ')
  mixture = (('imagenet_vid', 1 / 3), ('alov300', 0.0), ('procedural', 2.0))
  assert pipeline.parse_mixture(pipeline.format_mixture(mixture)) == mixture


@pytest.mark.parametrize('kwargs, match', [
    (dict(mixture=()), 'empty'),
    (dict(mixture=(('procedural', -1.0),)), '>= 0'),
    (dict(mixture=(('procedural', 0.0),)), 'sum to 0'),
    (dict(frame_size=(0, 10)), 'frame_size'),
    (dict(mirror_prob=2.0), 'mirror_prob'),
])
def test_config_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    pipeline.PipelineConfig(**kwargs)


# --- the procedural default -------------------------------------------------


def test_procedural_batches_shapes_and_boxes(open_pipeline):
  p = open_pipeline(SMALL, seq_len=4, batch_size=3, seed=0)
  batch = next(p)
  assert batch.frames.shape == (3, 4, 120, 160, 3) and batch.frames.dtype == np.uint8
  assert batch.boxes.shape == (3, 4, 4) and batch.boxes.dtype == np.float32
  np.testing.assert_array_equal(batch.valid_sizes, np.broadcast_to([96, 128], (3, 4, 2)))
  assert np.isfinite(batch.boxes).all()
  w, h = batch.boxes[..., 2] - batch.boxes[..., 0], batch.boxes[..., 3] - batch.boxes[..., 1]
  assert (w > 0).all() and (h > 0).all()
  # Padding is zero; frames have content.
  assert (batch.frames[:, :, 96:] == 0).all() and (batch.frames[:, :, :, 128:] == 0).all()
  assert batch.frames[:, :, :96, :128].std() > 10


def test_deterministic_for_a_seed_and_different_across_seeds(open_pipeline):
  a = _batches(open_pipeline(SMALL, seq_len=3, batch_size=2, seed=5), 2)
  b = _batches(open_pipeline(SMALL, seq_len=3, batch_size=2, seed=5), 2)
  c = next(open_pipeline(SMALL, seq_len=3, batch_size=2, seed=6))
  assert all(_equal(x, y) for x, y in zip(a, b))
  assert not np.array_equal(a[0].frames, c.frames)
  # Consecutive batches differ.
  assert not np.array_equal(a[0].boxes, a[1].boxes)


def test_exact_resume_from_state(open_pipeline):
  p = open_pipeline(SMALL, seq_len=3, batch_size=2, seed=1)
  _batches(p, 2)
  state = json.loads(json.dumps(p.get_state()))  # what a checkpoint stores
  expected = _batches(p, 2)
  q = open_pipeline(SMALL, seq_len=3, batch_size=2, seed=1)
  q.set_state(state)
  for e, got in zip(expected, _batches(q, 2)):
    assert _equal(e, got)


def test_state_of_another_stream_is_refused(open_pipeline):
  p = open_pipeline(SMALL, seq_len=3, batch_size=2, seed=1)
  q = open_pipeline(SMALL, seq_len=4, batch_size=2, seed=1)
  with pytest.raises(ValueError, match='seq_len'):
    q.set_state(p.get_state())


def test_hosts_split_the_global_batch(open_pipeline):
  one = next(open_pipeline(SMALL, seq_len=2, batch_size=4, seed=2, process_index=0,
                               process_count=1))
  halves = [next(open_pipeline(SMALL, seq_len=2, batch_size=4, seed=2, process_index=i,
                                   process_count=2)) for i in range(2)]
  # Host p holds sequences p, p + 2: interleave them back into the global order.
  merged = np.empty_like(one.boxes)
  merged[0::2], merged[1::2] = halves[0].boxes, halves[1].boxes
  np.testing.assert_array_equal(merged, one.boxes)
  with pytest.raises(ValueError, match='multiple of the number of hosts'):
    pipeline.Pipeline(SMALL, seq_len=2, batch_size=3, seed=0, process_index=0, process_count=2)


def test_mirroring_flips_frames_and_boxes():
  base = SMALL.replace(mirror_prob=0.0)
  plain = pipeline.SequenceMaker(base, 3, seed=3)(0)
  flipped = pipeline.SequenceMaker(base.replace(mirror_prob=1.0), 3, seed=3)(0)
  for f, g in zip(plain['frames'], flipped['frames']):
    np.testing.assert_array_equal(f[:, ::-1], g)
  w = plain['frames'][0].shape[1]
  np.testing.assert_allclose(flipped['boxes'][:, [0, 2]], w - plain['boxes'][:, [2, 0]])
  np.testing.assert_allclose(flipped['boxes'][:, [1, 3]], plain['boxes'][:, [1, 3]])


def test_frames_larger_than_the_canvas_are_scaled_to_fit():
  config = SMALL.replace(frame_size=(48, 100), mirror_prob=0.0)
  seq = pipeline.SequenceMaker(config, 2, seed=0)(0)
  ref = pipeline.SequenceMaker(SMALL.replace(frame_size=(96, 128), mirror_prob=0.0), 2, seed=0)(0)
  assert seq['frames'][0].shape == (48, 64, 3)
  np.testing.assert_allclose(seq['boxes'], ref['boxes'] * 0.5, rtol=1e-6)


def test_missing_tfds_source_names_it(tmp_path):
  config = SMALL.replace(mixture=(('imagenet_vid', 1.0),), data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match='imagenet_vid'):
    pipeline.Pipeline(config, seq_len=2, batch_size=1, seed=0)


# --- TFDS sources built from fake datasets in the real layouts -------------------------------


def _build(name, manual, data_dir):
  pytest.importorskip('tensorflow_datasets')
  from re3_jax.input.builders import build  # pylint: disable=g-import-not-at-top
  return build.build(name, str(manual), str(data_dir))


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  """data_dir with fake imagenet_vid (72x96, 12 frames), alov300 and imagenet_det built."""
  root = tmp_path_factory.mktemp('fakes')
  data_dir = root / 'tfds'
  _build('imagenet_vid', fake_datasets.write_vid(root / 'vid', videos=2, frames=12), data_dir)
  _build('alov300', fake_datasets.write_alov(root / 'alov', videos=2, frames=11), data_dir)
  _build('imagenet_det', fake_datasets.write_det(root / 'det', images=3, size=(120, 160)),
         data_dir)
  return str(data_dir)


def _source(built, name):
  return tfds_sources.TfdsSource(name, built, 'train')


def test_track_source_gives_consecutive_visible_frames_and_their_boxes(built):
  config = SMALL.replace(mixture=(('imagenet_vid', 1.0),), data_dir=built, mirror_prob=0.0)
  maker = pipeline.SequenceMaker(config, 5, seed=0)
  source = _source(built, 'imagenet_vid')
  seen = set()
  for i in range(12):
    seq = maker(i)
    # Recover which track and frames were used: the frames equal decoded stored JPEGs.
    rng = maker.rng(i)
    rng.choice(1, p=[1.0])
    k = int(rng.integers(len(source)))
    example = source[k]
    idx = tfds_sources.visible_window(example['visible'], 5, rng)
    assert np.all(np.diff(example['frame_index'][idx]) == 1)
    for t, j in enumerate(idx):
      decoded = cv2.imdecode(np.frombuffer(example['frames'][j], np.uint8), cv2.IMREAD_COLOR)
      np.testing.assert_array_equal(seq['frames'][t], decoded[..., ::-1])
    np.testing.assert_array_equal(seq['boxes'], example['boxes'][idx])
    seen.add(k)
  assert len(seen) > 1


def test_large_frames_are_decoded_reduced_and_boxes_scaled(built):
  full = SMALL.replace(mixture=(('imagenet_vid', 1.0),), data_dir=built, mirror_prob=0.0)
  half = full.replace(frame_size=(36, 48))  # the fakes are 72x96: decoded at 1/2 by libjpeg
  a = pipeline.SequenceMaker(full, 3, seed=4)(0)
  b = pipeline.SequenceMaker(half, 3, seed=4)(0)
  assert b['frames'][0].shape == (36, 48, 3)
  np.testing.assert_allclose(b['boxes'], a['boxes'] * 0.5, rtol=1e-6)
  # DCT-domain halving is close to an area downscale of the full decode.
  area = cv2.resize(np.ascontiguousarray(a['frames'][0]), (48, 36), interpolation=cv2.INTER_AREA)
  assert np.abs(area.astype(float) - b['frames'][0]).mean() < 6


def test_image_source_simulates_sequences(built, open_pipeline):
  config = SMALL.replace(mixture=(('imagenet_det', 1.0),), data_dir=built)
  batch = next(open_pipeline(config, seq_len=4, batch_size=2, seed=0))
  assert batch.frames.shape == (2, 4, 120, 160, 3)
  np.testing.assert_array_equal(batch.valid_sizes, np.broadcast_to([96, 128], (2, 4, 2)))
  w = batch.boxes[..., 2] - batch.boxes[..., 0]
  assert (w > 0).all() and (batch.boxes[..., 2] <= 128 + 1e-3).all()


def test_mixture_proportions_follow_the_weights(built):
  config = SMALL.replace(mixture=(('imagenet_vid', 3.0), ('alov300', 1.0), ('imagenet_det', 0.0)),
                         data_dir=built)
  maker = pipeline.SequenceMaker(config, 2, seed=0)
  sources = np.array([maker(i)['source'] for i in range(400)])
  assert not (sources == 2).any()
  frac = (sources == 0).mean()
  assert abs(frac - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 400), frac


def test_mixed_stream_resumes_exactly(built, open_pipeline):
  config = SMALL.replace(mixture=(('imagenet_vid', 1.0), ('alov300', 1.0), ('procedural', 1.0)),
                         data_dir=built)
  p = open_pipeline(config, seq_len=3, batch_size=4, seed=9)
  next(p)
  state = json.loads(json.dumps(p.get_state()))
  expected = _batches(p, 2)
  q = open_pipeline(config, seq_len=3, batch_size=4, seed=9)
  q.set_state(state)
  for e, got in zip(expected, _batches(q, 2)):
    assert _equal(e, got)
  # The resumed batches mix sources: batches 1 and 2 are sequences 4-11 (one host).
  assert len({p.maker(i)['source'] for i in range(4, 12)}) > 1


def test_source_without_the_split_is_named(built):
  config = SMALL.replace(mixture=(('alov300', 1.0),), data_dir=built, split='val')
  with pytest.raises(ValueError, match="alov300.*split 'val'"):
    pipeline.Pipeline(config, seq_len=2, batch_size=1, seed=0)


def test_weight_zero_sources_are_not_opened(tmp_path, open_pipeline):
  config = SMALL.replace(mixture=(('procedural', 1.0), ('imagenet_vid', 0.0)),
                         data_dir=str(tmp_path))
  p = open_pipeline(config, seq_len=2, batch_size=2, seed=0)
  assert next(p).frames.shape[:2] == (2, 2)
  assert {p.maker(i)['source'] for i in range(4)} == {0}


def test_procedural_images_are_shared_by_consecutive_sequences(monkeypatch):
  from re3_jax.input import procedural
  calls = []
  real = procedural.procedural_image
  here = threading.get_ident()

  def counting(rng, *args, **kwargs):
    # Only this thread's calls: the module function is global, and a pipeline's prefetching
    # threads (another test's, or a library user's) may call it at the same time.
    if threading.get_ident() == here:
      calls.append(1)
    return real(rng, *args, **kwargs)
  monkeypatch.setattr(procedural, 'procedural_image', counting)
  maker = pipeline.SequenceMaker(SMALL.replace(procedural_reuse=4), 2, seed=0)
  for i in range(8):
    maker(i)
  assert len(calls) == 2
  # The image is a function of its number only, not of which sequence asked first.
  other = pipeline.SequenceMaker(SMALL.replace(procedural_reuse=4), 2, seed=0)
  np.testing.assert_array_equal(other.procedural_image(1)[0], maker.procedural_image(1)[0])
  assert not np.array_equal(maker.procedural_image(0)[0], maker.procedural_image(1)[0])


def test_close_stops_the_prefetching_threads():
  # A pipeline that is not closed keeps making batches in its threads until its prefetch
  # buffer is full (a curriculum stage change, or a test that ended, left them running).
  before = threading.active_count()
  with pipeline.Pipeline(SMALL, seq_len=2, batch_size=2, seed=0) as p:
    next(p)
    assert threading.active_count() > before
  deadline = time.monotonic() + 30
  while threading.active_count() > before and time.monotonic() < deadline:
    time.sleep(0.05)
  assert threading.active_count() == before
  p.close()  # idempotent


def test_tfds_source_without_tensorflow_datasets_has_an_install_hint(tmp_path, monkeypatch):
  # README command 1 installs no TFDS: a TFDS source then says what to install.
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)
  config = SMALL.replace(mixture=(('imagenet_vid', 1.0),), data_dir=str(tmp_path))
  with pytest.raises(ImportError, match=r're3_jax\[data\]'):
    pipeline.Pipeline(config, seq_len=2, batch_size=1, seed=0)
