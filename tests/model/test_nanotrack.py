"""NanoTrack v2's backbone as a tower (`model.nanotrack`) and the nano model over it.

The independent reference is OpenCV's DNN module running the same ONNX file
(`cv2.dnn.readNet`), fed crops of real frames the way `cv2.TrackerNano` feeds it
(``blobFromImage(crop, 1.0, swapRB=true)``: RGB values 0..255, NCHW).
"""

import dataclasses
import pathlib

import cv2
import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

from re3_jax import model
from re3_jax.model import nanotrack
from re3_jax.model import onnx_graph

NANO = model.get_config('nano')
# The same structure at test size.
MINI = NANO.replace(name='mini_nano', crop_size=63, skip_channels=(2, 3, 4), fc6_units=16,
                    lstm_units=8)


def _real_crops(sequences_dir, size):
  """Two crops of real frames (a whole frame and a region around its target), uint8 RGB."""
  frame = cv2.imread(str(sorted((sequences_dir / 'otb_crossing' / 'img').glob('*.jpg'))[0]))
  crops = [cv2.resize(frame, (size, size)), cv2.resize(frame[100:260, 180:340], (size, size))]
  return np.stack([c[..., ::-1] for c in crops])


@pytest.fixture(scope='module')
def tower_params(nanotrack_backbone):
  return nanotrack.pretrained_tower(nanotrack_backbone)


@pytest.mark.parametrize('size', [255, 127, 95])
def test_tower_matches_opencv_dnn(nanotrack_backbone, tower_params, sequences_dir, size):
  """Our tower against OpenCV's DNN on the same file and crops.

  Tolerance: the outputs reach |y| ~ 19 (mean ~2.9); both sides compute in float32 with
  different summation orders over up to 240 products a layer, 24 layers deep. Measured:
  5.3e-5 (255), 1.5e-5 (127) largest difference on this project's AVX-512 CPU. The bound,
  2e-3 (1e-4 of the largest output), leaves 40x for other CPUs' kernels while a real
  mistake (BGR for RGB, below) is off by more than 1.
  """
  crops = _real_crops(sequences_dir, size)
  net = cv2.dnn.readNet(str(nanotrack_backbone))
  ref = []
  for crop in crops:  # one at a time: the graph's gates reshape to a batch of one
    net.setInput(crop.transpose(2, 0, 1)[None].astype(np.float32))
    ref.append(net.forward()[0])
  ref = np.stack(ref)
  ours, _ = jax.jit(nanotrack.tower)(tower_params, jnp.asarray(crops, jnp.float32))
  ours = np.asarray(ours).transpose(0, 3, 1, 2)
  assert ours.shape == ref.shape == (2, 48) + (nanotrack.grid(size)[-1],) * 2
  np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-3)
  assert np.abs(ref).max() > 5  # a real activation, not a degenerate one
  bgr, _ = jax.jit(nanotrack.tower)(tower_params, jnp.asarray(crops[..., ::-1], jnp.float32))
  assert np.abs(np.asarray(bgr).transpose(0, 3, 1, 2) - ref).max() > 1


@pytest.mark.parametrize('kernel, stride, side', [(3, 1, 9), (3, 2, 9), (5, 1, 8), (5, 2, 7),
                                                  (5, 2, 8)])
def test_depthwise_equals_a_grouped_convolution(kernel, stride, side):
  """The shift-and-add depthwise convolution against XLA's grouped convolution."""
  kx, kw, kb = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (2, side, side, 6))
  p = {'w': jax.random.normal(kw, (kernel, kernel, 1, 6)), 'b': jax.random.normal(kb, (6,))}
  pad = (kernel - 1) // 2
  ref = lax.conv_general_dilated(x, p['w'], (stride, stride), ((pad, pad), (pad, pad)),
                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                 feature_group_count=6) + p['b']
  # float32 sums of 25 products of unit normals: differences of a few ulp of ~5.
  np.testing.assert_allclose(nanotrack.depthwise(x, p, stride), ref, rtol=0, atol=1e-5)


def test_layout_is_the_files(nanotrack_backbone, tower_params):
  layout = nanotrack.tower_layout()
  shapes = jax.tree.map(np.shape, tower_params)
  assert shapes == layout
  assert sum(np.size(x) for x in jax.tree.leaves(tower_params)) == nanotrack.NUM_PARAMS - 30
  # (30: the graph's int64 Reshape constants, not parameters.)
  assert jax.tree.map(np.shape, nanotrack.init_tower(jax.random.key(0))) == layout


def test_another_graph_is_a_named_error(nanotrack_backbone):
  graph = onnx_graph.read(nanotrack_backbone)
  conv = next(n for n in graph.nodes if n.op_type == 'Conv' and n.attrs['group'] > 1)
  inits = dict(graph.initializers)
  inits[conv.inputs[1]] = np.zeros((16, 1, 5, 5), np.float32)
  with pytest.raises(ValueError, match=r'block1/depthwise is \(16, 1, 3, 3\)'):
    nanotrack.from_onnx(dataclasses.replace(graph, initializers=inits))
  fewer = dataclasses.replace(graph, nodes=graph.nodes[:-3])
  with pytest.raises(ValueError, match='23 convolutions'):
    nanotrack.from_onnx(fewer)
  odd = dataclasses.replace(graph, nodes=graph.nodes + (
      onnx_graph.Node('LSTM', 'x', (), (), {}),))
  with pytest.raises(ValueError, match=r"operations \['LSTM'\]"):
    nanotrack.from_onnx(odd)


def test_pretrained_tower_checks_the_file(tmp_path, nanotrack_backbone):
  copy = tmp_path / 'backbone.onnx'
  data = bytearray(pathlib.Path(nanotrack_backbone).read_bytes())
  data[-100] ^= 1
  copy.write_bytes(bytes(data))
  with pytest.raises(ValueError, match='not NanoTrack v2'):
    nanotrack.pretrained_tower(copy)
  with pytest.raises(FileNotFoundError, match='HonglinChu/SiamTrackers'):
    nanotrack.pretrained_tower(tmp_path / 'absent.onnx')
  with pytest.raises(ValueError, match='no download'):
    model.with_pretrained_tower(model.init(jax.random.key(0), MINI), MINI, None)


# ----------------------------------------------------------------------------
# The nano model.

@pytest.mark.parametrize('crop_size', [63, 95, 127, 159])
@pytest.mark.parametrize('correlation', [False, True])
def test_features_and_fc6_widths(crop_size, correlation):
  config = NANO.replace(crop_size=crop_size, correlation=correlation)
  params = model.abstract_params(config)
  crops = jax.ShapeDtypeStruct((2, crop_size, crop_size, 3), jnp.uint8)
  shape = jax.eval_shape(lambda p, c: model.conv_features(p, c, config), params, crops).shape
  assert shape == (2, config.features_per_crop)
  assert params['fc6']['w'].shape == (config.fc6_inputs, config.fc6_units)
  pairs = jax.ShapeDtypeStruct((3, 2, crop_size, crop_size, 3), jnp.uint8)
  fc6 = jax.eval_shape(lambda p, c: model.pair_features(p, c, config), params, pairs)
  assert fc6.shape == (3, config.fc6_units)


def test_nano_config_fits_its_budgets():
  # 127 -> stem 64 -> block1 32 (pooled to 16) -> block3 16 -> block8 8; skips (8, 8, 32);
  # the correlation of the central 4x4 over 8x8: 5x5x48.
  assert NANO.features_per_crop == 8 * 16 * 16 + 8 * 16 * 16 + 32 * 8 * 8 + 48 * 8 * 8
  assert NANO.fc6_inputs == 2 * (8 * 256 + 8 * 256 + 32 * 64) + 48 * 25 == 13488
  n = model.count_params(model.init(jax.random.key(0), NANO))
  assert n == 8_936_148
  assert 2 * n < 25e6  # shipped in bfloat16 (issue budget: 25 MB)


def test_correlation_by_hand():
  """`network.correlation` against loops over offsets and channels."""
  rng = np.random.default_rng(0)
  for g in (5, 8):
    prev = rng.normal(size=(2, g, g, 3)).astype(np.float32)
    cur = rng.normal(size=(2, g, g, 3)).astype(np.float32)
    k, start = g // 2, (g - g // 2) // 2
    template = prev[:, start:start + k, start:start + k]
    out = np.asarray(model.network.correlation(jnp.asarray(prev), jnp.asarray(cur)))
    assert out.shape == (2, g - k + 1, g - k + 1, 3)
    for dy in range(g - k + 1):
      for dx in range(g - k + 1):
        want = (cur[:, dy:dy + k, dx:dx + k] * template).mean(axis=(1, 2))
        np.testing.assert_allclose(out[:, dy, dx], want, rtol=1e-5, atol=1e-6)


def test_correlation_reaches_fc6():
  """With correlation on, fc6's last rows read the pair's correlation: zeroing them changes
  fc6, and equals fc6 of the skips alone (the raw activations are not fc6's input)."""
  config, plain_config = MINI, MINI.replace(correlation=False)
  params = model.init(jax.random.key(1), config)
  pair_features = jax.jit(lambda p, c: model.pair_features(p, c, config))
  crops = jax.random.uniform(jax.random.key(2), (1, 2, 63, 63, 3), maxval=255)
  fc6 = pair_features(params, crops)
  assert fc6.shape == (1, 16)
  assert not np.allclose(fc6, pair_features(params, crops[:, ::-1]))  # the order matters
  skips = 2 * plain_config.features_per_crop
  no_corr = dict(params, fc6=dict(params['fc6'], w=params['fc6']['w'].at[skips:].set(0)))
  assert not np.allclose(fc6, pair_features(no_corr, crops))
  plain = dict(params, fc6=dict(params['fc6'], w=params['fc6']['w'][:skips]))
  np.testing.assert_allclose(pair_features(no_corr, crops),
                             jax.jit(lambda p, c: model.pair_features(p, c, plain_config))(plain, crops),
                             rtol=1e-5, atol=1e-5)


def test_tracks_real_frames_with_the_pretrained_tower(nanotrack_backbone, sequences_dir):
  from re3_jax.datasets import sequences  # pylint: disable=g-import-not-at-top
  from re3_jax.tracking import tracker  # pylint: disable=g-import-not-at-top
  seq = sequences.load_sequence(sequences_dir / 'otb_crossing', max_frames=6)
  params = model.with_pretrained_tower(model.init(jax.random.key(0), MINI), MINI,
                                       nanotrack_backbone)
  t = tracker.Re3Tracker(params, MINI)
  box = seq.boxes[0]
  x, y, w, h = box
  out = [t.track('a', seq.frames[0], [x, y, x + w, y + h])]
  out += [t.track('a', f) for f in seq.frames[1:]]
  assert np.isfinite(np.asarray(out)).all()
