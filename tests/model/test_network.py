"""Tests of `re3_jax.model`: architecture, parameter layout, forward pass, configs.

The paper and small models are only ever inspected through
`model.abstract_params` (shapes, no allocation); everything that runs uses the
'tiny' config. The conv tower is checked against an independent NCHW
re-implementation of reference section 3 whose flatten is a plain reshape, so
the channel-major (C, H, W) order and the block order [conv1_skip, conv2_skip,
conv5_skip, pool5] are tested, not assumed.
"""

import json

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

from re3_jax import model
from re3_jax.model import lstm

TINY = model.get_config('tiny')
CROP = 227


def _shapes(tree):
  return jax.tree_util.tree_map(lambda x: tuple(x.shape), tree)


@pytest.fixture(scope='module')
def tiny_params(tiny):
  """Parameters of the tiny model, seed 0 (the shared `tiny` fixture of conftest)."""
  params, config = tiny
  assert config == TINY
  return params


@pytest.fixture(scope='module')
def crop_pairs():
  """(B=2, T=3, 2, 227, 227, 3) uint8 crops."""
  rng = np.random.default_rng(0)
  return rng.integers(0, 256, size=(2, 3, 2, CROP, CROP, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def tiny_outputs(tiny_params, crop_pairs):
  """apply over the whole (2, 3) batch from the zero state."""
  return model.apply(tiny_params, crop_pairs, model.initial_state(2, TINY), TINY)


# ----------------------------------------------------------------------------
# Parameter counts and shapes (reference sections 3-5).

def test_paper_parameter_count():
  # fc6 74208x2048 + 2048 = 151,980,032
  # lstm1 kernel (2048+1024)x4096 + bias 4096 + 3 peephole matrices 1024x1024 = 15,732,736
  # lstm2 kernel (3072+1024)x4096 + bias 4096 + 3x1024x1024 = 19,927,040
  # fc_output 1024x4 + 4 = 4,100; conv tower + skips 2,360,416.
  assert model.count_params(model.abstract_params(model.get_config('paper'))) == 190_004_324


def test_small_parameter_count():
  # fc6 74208x1024 + 1024 = 75,990,016
  # lstm1 kernel (1024+512)x2048 + bias 2048 + 3x512 diagonal peepholes = 3,149,312
  # lstm2 kernel (1536+512)x2048 + bias 2048 + 3x512 = 4,197,888
  # fc_output 512x4 + 4 = 2,052; conv tower + skips 2,360,416.
  params = model.abstract_params(model.get_config('small'))
  assert model.count_params(params) == 85_699_684
  conv = {k: v for k, v in params.items() if k.startswith('conv')}
  assert model.count_params(conv) == 2_360_416
  assert model.count_params(params['fc6']) == 75_990_016
  assert model.count_params(params['lstm1']) == 3_149_312
  assert model.count_params(params['lstm2']) == 4_197_888
  assert model.count_params(params['fc_output']) == 2_052


def test_paper_shapes_match_reference_table():
  params = model.abstract_params(model.get_config('paper'))
  conv_shapes = {  # reference section 5: TF W_conv / b_conv (/ prelu)
      'conv1': (11, 11, 3, 96), 'conv2': (5, 5, 48, 256), 'conv3': (3, 3, 256, 384),
      'conv4': (3, 3, 192, 384), 'conv5': (3, 3, 192, 256),
      'conv1_skip': (1, 1, 96, 16), 'conv2_skip': (1, 1, 256, 32), 'conv5_skip': (1, 1, 256, 64),
  }
  expected = {}
  for name, w in conv_shapes.items():
    expected[name] = {'w': w, 'b': (w[-1],)}
    if name.endswith('_skip'):
      expected[name]['prelu'] = (w[-1],)
  expected['fc6'] = {'w': (74208, 2048), 'b': (2048,)}
  # The paper's block_input [3072, 1024] and gates [4096, 1024] (lstm1), [4096,
  # 1024] and [5120, 1024] (lstm2) become a fused [in + H, 4H] kernel plus three
  # [H, H] peephole matrices (the gates' c rows).
  for name, in_dim in (('lstm1', 2048), ('lstm2', 3072)):
    expected[name] = {'kernel': (in_dim + 1024, 4096), 'bias': (4096,),
                      'w_i_peep': (1024, 1024), 'w_f_peep': (1024, 1024),
                      'w_o_peep': (1024, 1024)}
  expected['fc_output'] = {'w': (1024, 4), 'b': (4,)}
  assert _shapes(params) == expected
  assert expected['lstm1']['kernel'] == (3072, 4096)


def test_small_lstm_shapes_match_reference_table():
  params = model.abstract_params(model.get_config('small'))
  assert _shapes(params['fc6']) == {'w': (74208, 1024), 'b': (1024,)}
  for name, rows in (('lstm1', 1536), ('lstm2', 2048)):
    assert _shapes(params[name]) == {'kernel': (rows, 2048), 'bias': (2048,),
                                     'w_i_diag': (512,), 'w_f_diag': (512,),
                                     'w_o_diag': (512,)}
  assert _shapes(params['fc_output']) == {'w': (512, 4), 'b': (4,)}


def test_features_per_crop():
  assert model.get_config('paper').features_per_crop == 11664 + 5408 + 10816 + 9216 == 37104
  assert TINY.features_per_crop == 4 * 27 * 27 + 4 * 13 * 13 + 4 * 13 * 13 + 16 * 6 * 6


# ----------------------------------------------------------------------------
# Forward pass: shapes, layout.

def test_apply_shapes(tiny_outputs):
  outputs, state = tiny_outputs
  assert outputs.shape == (2, 3, 4) and outputs.dtype == jnp.float32
  assert isinstance(state, lstm.LSTMState)
  for leaf in state:
    assert leaf.shape == (2, TINY.lstm_units) and leaf.dtype == jnp.float32
  assert np.all(np.isfinite(outputs))


def test_apply_rejects_bad_crop_shape(tiny_params):
  crops = np.zeros((1, 1, 2, 128, 128, 3), np.uint8)
  with pytest.raises(ValueError, match='crop_pairs'):
    model.apply(tiny_params, crops, model.initial_state(1, TINY), TINY)


def test_initial_state():
  state = model.initial_state(3, TINY)
  assert _shapes(state) == lstm.LSTMState(*[(3, TINY.lstm_units)] * 4)
  for leaf in state:
    np.testing.assert_array_equal(leaf, 0.0)


def _reference_tower(params, crops):
  """Reference section 3 in NCHW / OIHW, flattened with a plain reshape.

  Returns the four blocks [conv1_skip, conv2_skip, conv5_skip, pool5], each
  (N, C, H, W).
  """
  hi = lax.Precision.HIGHEST
  x = jnp.asarray(crops, jnp.float32) - jnp.asarray(model.MEAN_RGB, jnp.float32)
  x = jnp.transpose(x, (0, 3, 1, 2))

  def conv(x, p, stride=1, padding='SAME', groups=1):
    w = jnp.transpose(p['w'], (3, 2, 0, 1))  # HWIO -> OIHW
    y = lax.conv_general_dilated(x, w, (stride, stride), padding,
                                 dimension_numbers=('NCHW', 'OIHW', 'NCHW'),
                                 feature_group_count=groups, precision=hi)
    return y + p['b'][None, :, None, None]

  def pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), 'VALID')

  def lrn(x):
    window = lax.reduce_window(x * x, 0.0, lax.add, (1, 5, 1, 1), (1, 1, 1, 1),
                               ((0, 0), (2, 2), (0, 0), (0, 0)))
    return x / (1.0 + 2e-5 * window) ** 0.75

  def skip(x, p):
    y = conv(x, p)
    return jnp.where(y > 0, y, p['prelu'][None, :, None, None] * y)

  x = lrn(pool(jax.nn.relu(conv(x, params['conv1'], stride=4, padding='VALID'))))
  skip1 = skip(x, params['conv1_skip'])
  x = lrn(pool(jax.nn.relu(conv(x, params['conv2'], groups=2))))
  skip2 = skip(x, params['conv2_skip'])
  x = jax.nn.relu(conv(x, params['conv3']))
  x = jax.nn.relu(conv(x, params['conv4'], groups=2))
  x = jax.nn.relu(conv(x, params['conv5'], groups=2))
  skip5 = skip(x, params['conv5_skip'])
  return [skip1, skip2, skip5, pool(x)]


def test_conv_features_match_nchw_reference(tiny_params, crop_pairs):
  crops = crop_pairs[0, :2].reshape(-1, CROP, CROP, 3)  # 4 crops
  feats = np.asarray(model.conv_features(tiny_params, crops, TINY))
  assert feats.shape == (4, TINY.features_per_crop)

  blocks = _reference_tower(tiny_params, crops)
  s1, s2, s5 = TINY.skip_channels
  c5 = TINY.conv_channels[4]
  assert [b.shape[1:] for b in blocks] == [(s1, 27, 27), (s2, 13, 13), (s5, 13, 13), (c5, 6, 6)]
  sizes = [s1 * 27 * 27, s2 * 13 * 13, s5 * 13 * 13, c5 * 6 * 6]
  offsets = np.cumsum([0] + sizes)
  assert offsets[-1] == TINY.features_per_crop
  for name, block, start, stop in zip(('conv1_skip', 'conv2_skip', 'conv5_skip', 'pool5'),
                                      blocks, offsets[:-1], offsets[1:]):
    want = np.asarray(block).reshape(4, -1)  # (C, H, W) order
    got = feats[:, start:stop]
    scale = np.abs(want).max()
    assert scale > 0, name
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


def test_conv_features_blocks_are_channel_major(tiny_params):
  # A cheap layout check independent of the reference above: with every skip
  # forced to a per-channel constant (zero 1x1 weights, bias = channel index + 1,
  # positive so PReLU is the identity), each block flattened (C, H, W) is a
  # run of H*W copies of 1, then of 2, ...
  params = dict(tiny_params)
  for name in ('conv1_skip', 'conv2_skip', 'conv5_skip'):
    p = dict(params[name])
    p['w'] = jnp.zeros_like(p['w'])
    p['b'] = jnp.arange(1, p['b'].shape[0] + 1, dtype=jnp.float32)
    params[name] = p
  feats = np.asarray(model.conv_features(params, np.zeros((1, CROP, CROP, 3), np.uint8), TINY))[0]
  offset = 0
  for (channels, side) in zip(TINY.skip_channels, (27, 13, 13)):
    block = feats[offset:offset + channels * side * side]
    np.testing.assert_array_equal(block, np.repeat(np.arange(1, channels + 1), side * side))
    offset += channels * side * side
  assert feats.size - offset == TINY.conv_channels[4] * 6 * 6


def test_apply_concatenates_previous_then_current(tiny_params, crop_pairs, tiny_outputs):
  # fc6 sees [features(crop 0), features(crop 1)]; recompute one sequence by hand.
  crops = crop_pairs[1]  # (T, 2, 227, 227, 3)
  feats = model.conv_features(tiny_params, crops.reshape(-1, CROP, CROP, 3), TINY)
  feats = np.asarray(feats).reshape(crops.shape[0], 2 * TINY.features_per_crop)
  fc6 = np.maximum(feats @ np.asarray(tiny_params['fc6']['w']) + tiny_params['fc6']['b'], 0.0)
  state = model.initial_state(1, TINY)
  outs = []
  for t in range(crops.shape[0]):
    out, state = model.lstm_step(tiny_params, state, jnp.asarray(fc6[t:t + 1]), TINY)
    outs.append(np.asarray(out[0]))
  np.testing.assert_allclose(tiny_outputs[0][1], np.stack(outs), rtol=1e-4, atol=1e-4)

  swapped = crop_pairs[1:, :, ::-1]
  out_swapped, _ = model.apply(tiny_params, swapped, model.initial_state(1, TINY), TINY)
  assert not np.allclose(out_swapped[0], tiny_outputs[0][1], atol=1e-3)


def test_lstm_step_stacks_two_cells(tiny_params):
  # lstm2 reads concat(fc6, h1); the head reads h2.
  rng = np.random.default_rng(1)
  fc6 = jnp.asarray(np.abs(rng.normal(size=(2, TINY.fc6_units))), jnp.float32)
  state = lstm.LSTMState(*(jnp.asarray(rng.normal(size=(2, TINY.lstm_units)), jnp.float32)
                           for _ in range(4)))
  out, new = model.lstm_step(tiny_params, state, fc6, TINY)
  c1, h1 = lstm.cell_step(tiny_params['lstm1'], fc6, state.c1, state.h1)
  c2, h2 = lstm.cell_step(tiny_params['lstm2'], jnp.concatenate([fc6, h1], -1), state.c2,
                          state.h2)
  for got, want in zip(new, (c1, h1, c2, h2)):
    np.testing.assert_allclose(got, want, atol=1e-6)
  head = tiny_params['fc_output']
  np.testing.assert_allclose(out, h2 @ head['w'] + head['b'], atol=1e-6)


# ----------------------------------------------------------------------------
# Unroll and batch independence.

def test_unroll_equals_successive_single_steps(tiny_params, crop_pairs, tiny_outputs):
  outputs, final = tiny_outputs
  state = model.initial_state(2, TINY)
  for t in range(crop_pairs.shape[1]):
    out, state = model.apply(tiny_params, crop_pairs[:, t:t + 1], state, TINY)
    assert out.shape == (2, 1, 4)
    np.testing.assert_allclose(out[:, 0], outputs[:, t], atol=1e-5, err_msg=f'step {t}')
  for got, want in zip(state, final):
    np.testing.assert_allclose(got, want, atol=1e-5)
  # The state carries information: restarting from zeros at the last step differs.
  fresh, _ = model.apply(tiny_params, crop_pairs[:, -1:], model.initial_state(2, TINY), TINY)
  assert not np.allclose(fresh[:, 0], outputs[:, -1], atol=1e-4)


def test_batch_elements_are_independent(tiny_params, crop_pairs):
  rng = np.random.default_rng(2)
  state = lstm.LSTMState(*(jnp.asarray(rng.normal(size=(2, TINY.lstm_units)), jnp.float32)
                           for _ in range(4)))
  outputs, final = model.apply(tiny_params, crop_pairs, state, TINY)
  for b in range(2):
    state_b = lstm.LSTMState(*(leaf[b:b + 1] for leaf in state))
    out_b, final_b = model.apply(tiny_params, crop_pairs[b:b + 1], state_b, TINY)
    np.testing.assert_allclose(out_b[0], outputs[b], atol=1e-5, err_msg=f'batch element {b}')
    for got, want in zip(final_b, final):
      np.testing.assert_allclose(got[0], want[b], atol=1e-5)
  assert not np.allclose(outputs[0], outputs[1], atol=1e-4)


# ----------------------------------------------------------------------------
# Mean subtraction.

def test_mean_rgb_matches_reference():
  assert model.MEAN_RGB == pytest.approx((123.151630838, 115.902882574, 103.062623801),
                                         abs=1e-9)


def test_crop_at_mean_colour_zeroes_conv1_input(tiny_params):
  """A crop equal to MEAN_RGB feeds zeros to conv1, so conv1's output is its bias.

  Then the features do not depend on conv1's weights, and conv1_skip is a
  constant PReLU(lrn(relu(b1)) @ W_skip + b_skip) at every position.
  """
  mean_crop = np.broadcast_to(np.asarray(model.MEAN_RGB, np.float32), (1, CROP, CROP, 3))
  params = dict(tiny_params)
  c1 = TINY.conv_channels[0]
  b1 = np.linspace(-50.0, 250.0, c1).astype(np.float32)  # large: LRN matters
  params['conv1'] = {'w': tiny_params['conv1']['w'], 'b': jnp.asarray(b1)}
  rescaled = dict(params, conv1={'w': 3.0 * params['conv1']['w'], 'b': params['conv1']['b']})

  feats = np.asarray(model.conv_features(params, mean_crop, TINY))
  np.testing.assert_allclose(np.asarray(model.conv_features(rescaled, mean_crop, TINY)), feats,
                             rtol=1e-6)

  r = np.maximum(b1, 0.0).astype(np.float64)
  sq = np.pad(r ** 2, 2)
  norm = r / (1.0 + 2e-5 * np.array([sq[k:k + 5].sum() for k in range(c1)])) ** 0.75
  skip = params['conv1_skip']
  y = norm @ np.asarray(skip['w'])[0, 0] + np.asarray(skip['b'])
  y = np.where(y > 0, y, np.asarray(skip['prelu']) * y)
  s1 = TINY.skip_channels[0]
  np.testing.assert_allclose(feats[0, :s1 * 27 * 27], np.repeat(y, 27 * 27), rtol=1e-5)

  # A crop off the mean does depend on conv1's weights.
  grey = np.full((1, CROP, CROP, 3), 128, np.uint8)
  assert not np.allclose(model.conv_features(params, grey, TINY),
                         model.conv_features(rescaled, grey, TINY), rtol=1e-3)


# ----------------------------------------------------------------------------
# dtype policy.

def test_bfloat16_compute_close_to_float32(tiny_params, crop_pairs, tiny_outputs):
  cfg = TINY.replace(dtype='bfloat16')
  outputs, state = model.apply(tiny_params, crop_pairs, model.initial_state(2, cfg), cfg)
  assert outputs.dtype == jnp.float32 and outputs.shape == (2, 3, 4)
  for leaf in state:
    assert leaf.dtype == jnp.float32
  scale = np.abs(tiny_outputs[0]).max()
  # bfloat16 keeps ~3 significant digits through a deep, unnormalised network
  # (inputs 0..255): measured max deviation 0.11 for outputs of scale 0.66.
  np.testing.assert_allclose(outputs, tiny_outputs[0], atol=0.1 * scale + 0.1)
  assert not np.array_equal(np.asarray(outputs), np.asarray(tiny_outputs[0]))


def test_conv_features_bfloat16_dtype(tiny_params, crop_pairs):
  cfg = TINY.replace(dtype='bfloat16')
  crops = crop_pairs[0, 0]
  feats = model.conv_features(tiny_params, crops, cfg)
  assert feats.dtype == jnp.bfloat16
  ref = np.asarray(model.conv_features(tiny_params, crops, TINY))
  np.testing.assert_allclose(np.asarray(feats, np.float32), ref,
                             atol=0.05 * np.abs(ref).max())


def test_param_dtype_bfloat16():
  cfg = TINY.replace(param_dtype='bfloat16')
  params = model.init(jax.random.key(0), cfg)
  leaves = jax.tree_util.tree_leaves_with_path(params)
  assert any(x.ndim >= 2 for _, x in leaves) and any(x.ndim == 1 for _, x in leaves)
  for path, x in leaves:
    want = jnp.bfloat16 if x.ndim >= 2 else jnp.float32
    assert x.dtype == want, jax.tree_util.keystr(path)
  outputs, _ = model.apply(params, np.zeros((1, 1, 2, CROP, CROP, 3), np.uint8),
                           model.initial_state(1, cfg), cfg)
  assert outputs.shape == (1, 1, 4) and np.all(np.isfinite(outputs))


def test_param_dtype_float32_by_default(tiny_params):
  for x in jax.tree_util.tree_leaves(tiny_params):
    assert x.dtype == jnp.float32


def test_cast_params_keeps_vectors():
  params = {'w': jnp.ones((2, 3)), 'b': jnp.ones(3), 'n': jnp.ones((2, 2), jnp.int32)}
  cast = model.cast_params(params, jnp.bfloat16)
  assert cast['w'].dtype == jnp.bfloat16
  assert cast['b'].dtype == jnp.float32
  assert cast['n'].dtype == jnp.int32


# ----------------------------------------------------------------------------
# Configs.

@pytest.mark.parametrize('changes, match', [
    ({'conv_channels': (7, 16, 16, 16, 16)}, 'even'),
    ({'conv_channels': (8, 15, 16, 16, 16)}, 'even'),
    ({'conv_channels': (8, 16, 16, 17, 16)}, 'even'),
    ({'conv_channels': (8, 16, 16, 16)}, 'conv_channels'),
    ({'skip_channels': (4, 4)}, 'skip_channels'),
    ({'peepholes': 'none'}, 'peepholes'),
    ({'dtype': 'float16'}, 'dtype'),
    ({'param_dtype': 'float64'}, 'param_dtype'),
    ({'input_scale': 0.0}, 'input_scale'),
    ({'input_scale': float('nan')}, 'input_scale'),
])
def test_config_validation(changes, match):
  with pytest.raises(ValueError, match=match):
    TINY.replace(**changes)


def test_config_rejects_odd_conv5_channels():
  # conv5 is a 2-group conv, so its output channels must split in two halves
  # as well; an odd count currently passes validation and fails only later,
  # inside `conv_features`, with jnp.split's "equal division" error.
  with pytest.raises(ValueError, match='even'):
    TINY.replace(conv_channels=(8, 16, 16, 16, 15))


@pytest.mark.parametrize('name', ['paper', 'small', 'tiny'])
def test_config_json_round_trip(name):
  cfg = model.get_config(name)
  assert cfg.name == name
  again = model.ModelConfig.from_json(cfg.to_json())
  assert again == cfg
  assert isinstance(again.conv_channels, tuple) and isinstance(again.skip_channels, tuple)


def test_config_json_round_trip_with_overrides():
  cfg = model.get_config('tiny', dtype='bfloat16', forget_bias=0.5, lstm_units=12)
  assert cfg.dtype == 'bfloat16' and cfg.lstm_units == 12
  assert model.ModelConfig.from_json(cfg.to_json()) == cfg


def test_from_json_rejects_unknown_fields():
  text = TINY.to_json().replace('"name"', '"colour": "red", "name"')
  with pytest.raises(ValueError, match='colour'):
    model.ModelConfig.from_json(text)


@pytest.mark.parametrize('field, value, match', [
    ('lstm_units', '"x"', 'lstm_units must be int'),
    ('lstm_units', '16.5', 'lstm_units must be int'),
    ('skip_channels', '[4, "4", 4]', 'skip_channels must be a list of integers'),
    ('forget_bias', 'null', 'forget_bias must be float'),
    ('peepholes', '1', 'peepholes must be str'),
])
def test_from_json_rejects_wrong_types(field, value, match):
  # A hand-edited config.json: named at load, not a TypeError deep in the first forward pass.
  d = json.loads(TINY.to_json())
  d[field] = json.loads(value)
  with pytest.raises(ValueError, match=match):
    model.ModelConfig.from_json(json.dumps(d))
  d = json.loads(TINY.to_json())
  d['forget_bias'] = 1  # an integer where a float is expected is the same number
  assert model.ModelConfig.from_json(json.dumps(d)).forget_bias == 1.0


def test_get_config_unknown_name():
  with pytest.raises(ValueError, match='huge'):
    model.get_config('huge')


def test_named_configs():
  small = model.get_config('small')
  assert (small.peepholes, small.forget_bias, small.forget_bias_init) == ('diagonal', 1.0, 0.0)
  paper = model.get_config('paper')
  assert (paper.peepholes, paper.forget_bias, paper.forget_bias_init) == ('full', 0.0, 1.0)


# ----------------------------------------------------------------------------
# Initialisation.

def test_init_is_deterministic(tiny_params):
  again = model.init(jax.random.key(0), TINY)
  other = model.init(jax.random.key(1), TINY)
  assert jax.tree_util.tree_structure(again) == jax.tree_util.tree_structure(tiny_params)
  for a, b in zip(jax.tree_util.tree_leaves(tiny_params), jax.tree_util.tree_leaves(again)):
    np.testing.assert_array_equal(a, b)
  for path, a in jax.tree_util.tree_leaves_with_path(tiny_params):
    if a.ndim >= 2:  # every weight matrix or kernel is random
      b = other
      for key in path:
        b = b[key.key]
      assert not np.allclose(a, b), jax.tree_util.keystr(path)


def test_init_values(tiny_params):
  for name in ('conv1_skip', 'conv2_skip', 'conv5_skip'):
    np.testing.assert_array_equal(tiny_params[name]['prelu'], 0.25)
  for name in ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc_output'):
    np.testing.assert_array_equal(tiny_params[name]['b'], 0.0)
  units = TINY.lstm_units
  for name in ('lstm1', 'lstm2'):
    bias = np.asarray(tiny_params[name]['bias'])
    np.testing.assert_array_equal(bias[2 * units:3 * units], TINY.forget_bias_init)
    np.testing.assert_array_equal(np.delete(bias, np.s_[2 * units:3 * units]), 0.0)
  assert TINY.forget_bias_init == 1.0
  # abstract_params describes init exactly.
  assert _shapes(model.abstract_params(TINY)) == _shapes(tiny_params)


@pytest.mark.parametrize('precision', ['float32', 'bfloat16'])
def test_gradients_reach_every_parameter(tiny_params, crop_pairs, precision):
  # Training differentiates through apply; every leaf must get a finite, non-zero gradient
  # (max pooling included: it needs reduce_window_max to be differentiable).
  config = model.with_precision(model.get_config('tiny'), precision)

  def loss(params):
    out, _ = model.apply(params, crop_pairs, model.initial_state(crop_pairs.shape[0], config),
                         config)
    return jnp.abs(out - 5.0).sum()
  grads = jax.grad(loss)(tiny_params)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    name = jax.tree_util.keystr(path)
    assert bool(jnp.all(jnp.isfinite(g))), name
    assert float(jnp.abs(g).max()) > 0, name


def test_input_scale_equals_scaling_conv1(tiny_params, crop_pairs):
  # Scaling the mean-subtracted input by s is the same network as conv1's
  # kernel times s (conv1 is linear in its input; its bias is not scaled).
  scale = 1 / 64
  crops = crop_pairs.reshape(-1, CROP, CROP, 3)
  scaled = model.conv_features(tiny_params, crops, TINY.replace(input_scale=scale))
  conv1 = dict(tiny_params['conv1'], w=tiny_params['conv1']['w'] * scale)
  reference = model.conv_features(dict(tiny_params, conv1=conv1), crops, TINY)
  np.testing.assert_allclose(scaled, reference, rtol=1e-4, atol=1e-4)
  assert not np.allclose(scaled, model.conv_features(tiny_params, crops, TINY), atol=1e-2)


def test_input_scale_defaults_to_the_original():
  assert all(c.input_scale == 1.0 for c in model.CONFIGS.values())
  # Configs stored before the field existed load as the original network.
  text = TINY.to_json().replace('"input_scale": 1.0,', '')
  assert 'input_scale' not in text
  assert model.ModelConfig.from_json(text) == TINY
