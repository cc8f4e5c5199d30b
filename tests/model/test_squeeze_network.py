"""The squeeze model: the Re3 network over a SqueezeNet tower (`network` with tower='squeezenet')."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.model import squeezenet

SQUEEZE = model.get_config('squeeze')
# The same structure at test size: the smallest crop, narrow skips, small LSTMs.
MINI = SQUEEZE.replace(name='mini_squeeze', crop_size=63, skip_channels=(2, 3, 4), fc6_units=16,
                       lstm_units=8)


@pytest.mark.parametrize('crop_size', [63, 95, 111, 127])
@pytest.mark.parametrize('cut', ['fire5', 'fire7', 'fire9'])
def test_features_per_crop_is_the_features_length(crop_size, cut):
  config = SQUEEZE.replace(crop_size=crop_size, tower_cut=cut)
  params = model.abstract_params(config)
  crops = jax.ShapeDtypeStruct((1, crop_size, crop_size, 3), jnp.uint8)
  shape = jax.eval_shape(lambda p, c: model.conv_features(p, c, config), params, crops).shape
  assert shape == (1, config.features_per_crop)


def test_shipped_config_fits_its_budgets():
  # 95 -> conv1 (7x7/2) 45 -> pool1 (3x3/2, ceil) 22 -> pool4 11; skips (8, 16, 32) on an
  # 11x11 grid (the early one pooled from 22x22).
  assert SQUEEZE.features_per_crop == (8 + 16 + 32) * 11 * 11 == 6776
  params = model.init(jax.random.key(0), SQUEEZE)
  n = model.count_params(params)
  assert n == 8_925_268
  assert 2 * n < 25e6  # the shipped checkpoint stores bfloat16 (issue budget: 25 MB)
  assert set(params['squeezenet']) == {'conv1', 'fire2', 'fire3', 'fire4', 'fire5'}
  assert params['fc6']['w'].shape == (2 * 6776, 512)


@pytest.mark.parametrize('changes, match', [
    ({'tower': 'resnet'}, 'tower must be'),
    ({'tower_cut': 'fire4'}, 'tower_cut'),
    ({'tower_cut': ''}, 'tower_cut'),
    ({'crop_size': 62}, 'crop_size'),
    ({'feature_scale': 0.0}, 'feature_scale'),
])
def test_squeeze_config_validation(changes, match):
  with pytest.raises(ValueError, match=match):
    SQUEEZE.replace(**changes)


def test_caffenet_takes_227_crops_only():
  with pytest.raises(ValueError, match='feature_scale does not apply to the caffenet tower'):
    model.get_config('small', feature_scale=0.5)
  with pytest.raises(ValueError, match='227'):
    model.get_config('small', crop_size=111)
  with pytest.raises(ValueError, match='tower_cut'):
    model.get_config('small', tower_cut='fire5')


def test_json_round_trip():
  assert model.ModelConfig.from_json(SQUEEZE.to_json()) == SQUEEZE


def test_apply_takes_the_configs_crop_size():
  params = model.init(jax.random.key(0), MINI)
  crops = np.random.default_rng(0).integers(0, 256, (2, 3, 2, 63, 63, 3), np.uint8)
  out, _ = model.apply(params, crops, model.initial_state(2, MINI), MINI)
  assert out.shape == (2, 3, 4) and np.all(np.isfinite(out))
  with pytest.raises(ValueError, match=r'\(B, T, 2, 63, 63, 3\)'):
    model.apply(params, np.zeros((1, 1, 2, 227, 227, 3), np.uint8),
                model.initial_state(1, MINI), MINI)


def _prelu_1x1(x, p):
  y = np.einsum('nhwc,cd->nhwd', x, p['w'][0, 0]) + p['b']
  return np.where(y > 0, y, p['prelu'] * y)


def _pool(x):  # Caffe's 3x3 stride-2 max pool, ceil mode, in NumPy
  n, h, w, c = x.shape
  oh, ow = -(-(h - 3) // 2) + 1, -(-(w - 3) // 2) + 1
  out = np.full((n, oh, ow, c), -np.inf, x.dtype)
  for i in range(oh):
    for j in range(ow):
      out[:, i, j] = x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
  return out


def test_features_are_the_three_skips_channel_major():
  """[early (pooled), middle, last] skips of the tower's pool1, pool4 and cut (scaled by
  feature_scale), flattened (C, H, W)."""
  assert MINI.feature_scale == 1 / 64
  params = model.init(jax.random.key(1), MINI)
  params = jax.tree.map(np.asarray, params)
  crops = np.random.default_rng(1).integers(0, 256, (2, 63, 63, 3), np.uint8)
  feats = np.asarray(model.conv_features(params, crops, MINI))
  last, taps = squeezenet.tower(params['squeezenet'], squeezenet.preprocess(crops), 'fire5',
                                taps=('pool1', 'pool4'))
  scaled = lambda x: np.asarray(x) * MINI.feature_scale
  skips = [_pool(_prelu_1x1(scaled(taps['pool1']), params['early_skip'])),
           _prelu_1x1(scaled(taps['pool4']), params['middle_skip']),
           _prelu_1x1(scaled(last), params['last_skip'])]
  expect = np.concatenate([s.transpose(0, 3, 1, 2).reshape(2, -1) for s in skips], axis=1)
  # float32 1x1 convs over <= 256 channels of O(100) activations: ~1e-4 relative rounding.
  np.testing.assert_allclose(feats, expect, rtol=1e-4, atol=1e-3)


def test_preprocess_is_bgr_minus_caffe_mean():
  rgb = np.array([[[[10, 20, 30]]]], np.uint8)
  np.testing.assert_array_equal(squeezenet.preprocess(rgb), [[[[30 - 104, 20 - 117, 10 - 123]]]])


def test_with_pretrained_tower(squeezenet_file):
  params = model.init(jax.random.key(0), MINI)
  loaded = model.with_pretrained_tower(params, MINI, squeezenet_file)
  layers = squeezenet.decode(squeezenet_file)
  np.testing.assert_array_equal(np.asarray(loaded['squeezenet']['fire5']['expand3x3']['w']),
                                layers['fire5/conv3x3_2']['w'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(np.asarray(loaded['fc6']['w']), np.asarray(params['fc6']['w']))
  assert jax.tree.structure(loaded) == jax.tree.structure(params)
  with pytest.raises(ValueError, match='squeezenet tower'):
    model.with_pretrained_tower(params, model.get_config('tiny'), squeezenet_file)


def test_features_of_a_real_photo_are_of_order_one(squeezenet_file):
  """The pretrained tower's activations average ~100 on real images; scaled by feature_scale
  the features fc6 sums are ~1, so fc6's output stays far from saturating the LSTMs' gates
  (unscaled, fc6 averaged ~540 on a UAV123 crop and the network learned the centred box)."""
  import cv2  # pylint: disable=g-import-not-at-top
  import matplotlib  # pylint: disable=g-import-not-at-top
  import pathlib  # pylint: disable=g-import-not-at-top
  photo = (pathlib.Path(matplotlib.__file__).parent / 'mpl-data' / 'sample_data'
           / 'grace_hopper.jpg')
  rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
  side = (SQUEEZE.crop_size,) * 2
  crops = np.stack([cv2.resize(rgb, side), cv2.resize(rgb[50:450, 100:400], side)])
  params = model.with_pretrained_tower(model.init(jax.random.key(0), SQUEEZE), SQUEEZE,
                                       squeezenet_file)
  feats = np.asarray(model.conv_features(params, crops, SQUEEZE))
  assert 0.1 < np.abs(feats).mean() < 10
  fc6 = np.asarray(model.fc6_layer(params, feats.reshape(1, -1), SQUEEZE))
  assert 0.1 < np.abs(fc6).mean() < 10
