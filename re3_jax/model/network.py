"""The Re3 network as pure functions over a plain parameter pytree.

Layout (reference section 3): a CaffeNet-style conv tower shared by both crops
of a pair, three skip connections (1x1 conv + PReLU), everything flattened in
channel-major (C, H, W) order and concatenated per crop as [conv1_skip,
conv2_skip, conv5_skip, pool5], the two crops as [previous, current]; fc6 with
ReLU; two stacked peephole LSTMs (the second also sees fc6); a linear head
giving the box in the crop frame (x10 convention, see `boxes`).

The ``squeeze`` config swaps the tower for an ImageNet-pretrained SqueezeNet
v1.0 (`squeezenet`) cut after a fire module, at a smaller crop: skips from an
early (pool1), a middle (pool4) and the last layer (the cut), each 1x1 conv +
PReLU, the early one max-pooled to the others' grid; per crop [early_skip,
middle_skip, last_skip], channel-major; the rest as above.

Parameters are nested dicts named after the original TensorFlow scopes
(``conv1/W_conv`` -> ``params['conv1']['w']``), so weight import is a renaming.

`apply` runs a whole sequence: the conv tower and fc6 over every crop of every
time step in one batched call, then `jax.lax.scan` over the LSTM step.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from re3_jax.model import lstm
from re3_jax.model import matmul
from re3_jax.model import squeezenet
from re3_jax.model.configs import ModelConfig

Params = dict[str, Any]

# RGB mean subtracted from uint8 crops (no division by 255).
MEAN_RGB = (123.151630838, 115.902882574, 103.062623801)
_DN = ('NHWC', 'HWIO', 'NHWC')
# ----------------------------------------------------------------------------
# Initialisation.

def _xavier(key, shape, fan_in, fan_out):
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def _conv_params(key, kh, kw, cin, cout, groups=1):
  shape = (kh, kw, cin // groups, cout)
  # Fans as TF's Xavier initialiser computes them from the kernel's shape.
  w = _xavier(key, shape, kh * kw * cin // groups, kh * kw * cout)
  return {'w': w, 'b': jnp.zeros((cout,), jnp.float32)}


def _squeezenet_params(keys, config: ModelConfig) -> Params:
  """A random SqueezeNet tower to `tower_cut` (`squeezenet.pretrained_tower` gives ImageNet's)."""
  def conv(layer):
    cout, cin, kh, kw = layer.shape
    return _conv_params(next(keys), kh, kw, cin, cout)
  return jax.tree.map(conv, squeezenet.tower_layout(config.tower_cut),
                      is_leaf=lambda x: isinstance(x, squeezenet.Layer))


def _skip_inputs(config: ModelConfig) -> tuple[tuple[str, int], ...]:
  """The skip connections' parameter names and input channels, in feature order."""
  if config.tower == 'squeezenet':
    last = dict((n, 2 * e) for n, _, e in squeezenet.FIRES)[config.tower_cut]
    return (('early_skip', 96), ('middle_skip', 256), ('last_skip', last))
  c1, c2, _, _, c5 = config.conv_channels
  return (('conv1_skip', c1), ('conv2_skip', c2), ('conv5_skip', c5))


def init(key, config: ModelConfig) -> Params:
  """Initial parameters (reference section 6).

  Convs and dense layers are Xavier-uniform (the paper starts conv1-5 from
  ImageNet CaffeNet, which cannot be downloaded here; the squeezenet tower
  starts from ImageNet with `with_pretrained_tower`), PReLU slopes
  0.25, biases 0, the LSTMs as `lstm.init_cell`.
  """
  keys = iter(jax.random.split(key, 48))
  if config.tower == 'squeezenet':
    p = {'squeezenet': _squeezenet_params(keys, config)}
  else:
    c1, c2, c3, c4, c5 = config.conv_channels
    p = {
        'conv1': _conv_params(next(keys), 11, 11, 3, c1),
        'conv2': _conv_params(next(keys), 5, 5, c1, c2, groups=2),
        'conv3': _conv_params(next(keys), 3, 3, c2, c3),
        'conv4': _conv_params(next(keys), 3, 3, c3, c4, groups=2),
        'conv5': _conv_params(next(keys), 3, 3, c4, c5, groups=2),
    }
  for (name, cin), cout in zip(_skip_inputs(config), config.skip_channels):
    p[name] = _conv_params(next(keys), 1, 1, cin, cout)
    p[name]['prelu'] = jnp.full((cout,), 0.25, jnp.float32)
  fc6_in = 2 * config.features_per_crop
  p['fc6'] = {'w': _xavier(next(keys), (fc6_in, config.fc6_units), fc6_in, config.fc6_units),
              'b': jnp.zeros((config.fc6_units,), jnp.float32)}
  units = config.lstm_units
  p['lstm1'] = lstm.init_cell(next(keys), config.fc6_units, units, config.peepholes,
                              forget_bias_init=config.forget_bias_init)
  p['lstm2'] = lstm.init_cell(next(keys), config.fc6_units + units, units, config.peepholes,
                              forget_bias_init=config.forget_bias_init)
  p['fc_output'] = {'w': _xavier(next(keys), (units, 4), units, 4),
                    'b': jnp.zeros((4,), jnp.float32)}
  return cast_params(p, config.param_dtype)


def with_pretrained_tower(params: Params, config: ModelConfig,
                          path: str | None = None) -> Params:
  """`params` with the squeezenet tower replaced by ImageNet's (`squeezenet.pretrained_tower`).

  `path`: the Deep Compression file; None downloads (and caches) the
  release, checked by SHA-256.
  """
  if config.tower != 'squeezenet':
    raise ValueError(f'model {config.name!r} has the {config.tower} tower; pretrained weights '
                     'exist here only for the squeezenet tower')
  tower = squeezenet.pretrained_tower(config.tower_cut, path)
  return dict(params, squeezenet=cast_params(jax.tree_util.tree_map(jnp.asarray, tower),
                                             config.param_dtype))


def cast_params(params: Params, dtype) -> Params:
  """Casts weight matrices and kernels (ndim >= 2) to `dtype`; vectors stay float32."""
  def cast(w):
    if w.ndim >= 2 and jnp.issubdtype(w.dtype, jnp.floating):
      return w.astype(dtype)
    return w
  return jax.tree_util.tree_map(cast, params)


def count_params(params: Params) -> int:
  return sum(int(np.prod(np.shape(x))) for x in jax.tree_util.tree_leaves(params))


def abstract_params(config: ModelConfig) -> Params:
  """Shapes and dtypes of `init(key, config)`, without allocating."""
  return jax.eval_shape(lambda: init(jax.random.key(0), config))


# ----------------------------------------------------------------------------
# Forward pass.

def _conv(x, p, stride=1, padding='SAME', groups=1):
  w = p['w'].astype(x.dtype)
  if groups == 1:
    y = lax.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=_DN)
  else:
    # Separate convolutions per group: XLA's CPU backend runs grouped
    # convolutions (feature_group_count) about 3x slower than this.
    xs = jnp.split(x, groups, axis=-1)
    ws = jnp.split(w, groups, axis=-1)
    y = jnp.concatenate([
        lax.conv_general_dilated(xg, wg, (stride, stride), padding, dimension_numbers=_DN)
        for xg, wg in zip(xs, ws)], axis=-1)
  return y + p['b'].astype(x.dtype)


def _max_pool(x):
  # A Python scalar init value makes this lax.reduce_window_max, which has a gradient.
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), 'VALID')


def _lrn(x):
  """Caffe LRN: local_size 5, alpha 1e-4, beta 0.75, k 1 (TF: depth_radius 2, alpha 2e-5)."""
  sq = jnp.pad(jnp.square(x.astype(jnp.float32)), ((0, 0), (0, 0), (0, 0), (2, 2)))
  c = x.shape[-1]
  window = sum(sq[..., k:k + c] for k in range(5))
  return (x * (1.0 + 2e-5 * window) ** -0.75).astype(x.dtype)


def _skip(x, p):
  y = _conv(x, p)
  a = p['prelu'].astype(y.dtype)
  return jnp.where(y > 0, y, a * y)


def _flatten_chw(x):
  return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)


def conv_features(params: Params, crops, config: ModelConfig):
  """The conv tower and skips: (N, S, S, 3) crops (0..255) -> (N, features_per_crop).

  Features are in the original's order [conv1_skip, conv2_skip, conv5_skip,
  pool5] (squeezenet: [early_skip, middle_skip, last_skip]), each flattened
  channel-major (C, H, W).
  """
  dtype = jnp.dtype(config.dtype)
  if config.tower == 'squeezenet':
    x = (squeezenet.preprocess(crops) * config.input_scale).astype(dtype)
    last, taps = squeezenet.tower(params['squeezenet'], x, config.tower_cut,
                                  taps=('pool1', 'pool4'))
    if config.feature_scale != 1.0:
      last = last * config.feature_scale
      taps = {k: v * config.feature_scale for k, v in taps.items()}
    skips = (squeezenet.max_pool_ceil(_skip(taps['pool1'], params['early_skip'])),
             _skip(taps['pool4'], params['middle_skip']), _skip(last, params['last_skip']))
    return jnp.concatenate([_flatten_chw(t) for t in skips], axis=-1)
  x = crops.astype(jnp.float32) - jnp.asarray(MEAN_RGB, jnp.float32)
  if config.input_scale != 1.0:
    x = x * config.input_scale
  x = x.astype(dtype)
  x = _lrn(_max_pool(jax.nn.relu(_conv(x, params['conv1'], stride=4, padding='VALID'))))
  skip1 = _skip(x, params['conv1_skip'])
  x = _lrn(_max_pool(jax.nn.relu(_conv(x, params['conv2'], groups=2))))
  skip2 = _skip(x, params['conv2_skip'])
  x = jax.nn.relu(_conv(x, params['conv3']))
  x = jax.nn.relu(_conv(x, params['conv4'], groups=2))
  x = jax.nn.relu(_conv(x, params['conv5'], groups=2))
  skip5 = _skip(x, params['conv5_skip'])
  pool5 = _max_pool(x)
  return jnp.concatenate([_flatten_chw(t) for t in (skip1, skip2, skip5, pool5)], axis=-1)


def initial_state(batch: int, config: ModelConfig) -> lstm.LSTMState:
  """The zero LSTM state for `batch` sequences."""
  return lstm.LSTMState.zeros(batch, config.lstm_units)


def lstm_step(params: Params, state: lstm.LSTMState, fc6, config: ModelConfig):
  """The two LSTMs and the head for one time step: fc6 (B, F) -> (outputs (B, 4), state)."""
  dtype = jnp.dtype(config.dtype)
  c1, h1 = lstm.cell_step(params['lstm1'], fc6, state.c1, state.h1,
                          forget_bias=config.forget_bias, dtype=dtype)
  c2, h2 = lstm.cell_step(params['lstm2'], jnp.concatenate([fc6, h1.astype(dtype)], axis=-1),
                          state.c2, state.h2, forget_bias=config.forget_bias, dtype=dtype)
  out = matmul.dense(h2, params['fc_output']['w']) + params['fc_output']['b']
  return out.astype(jnp.float32), lstm.LSTMState(c1, h1, c2, h2)


def apply(params: Params, crop_pairs, state: lstm.LSTMState, config: ModelConfig):
  """Runs the network over sequences of crop pairs.

  Args:
    params: the parameter pytree.
    crop_pairs: (B, T, 2, S, S, 3) crops (S = config.crop_size), values 0..255 (uint8 or float);
      pair index 0 is the previous image's crop, 1 the current image's, both
      cut at the same window.
    state: `lstm.LSTMState` with (B, H) leaves, e.g. `initial_state(B, config)`.
    config: the model config.

  Returns:
    (outputs, state): outputs (B, T, 4) float32 boxes in the crop frame (x10
    convention) of each step's window; the LSTM state after the last step.
  """
  b, t = crop_pairs.shape[:2]
  s = config.crop_size
  if crop_pairs.shape[2:] != (2, s, s, 3):
    raise ValueError(f'crop_pairs must be (B, T, 2, {s}, {s}, 3) for model {config.name!r}, '
                     f'got {crop_pairs.shape}')
  fc6 = pair_features(params, crop_pairs.reshape(b * t, 2, s, s, 3), config)
  return recurrent(params, fc6.reshape(b, t, -1), state, config)


def pair_features(params: Params, crop_pairs, config: ModelConfig):
  """The conv tower, skips and fc6 of crop pairs: (N, 2, S, S, 3) -> fc6 (N, fc6_units).

  Each pair's two feature vectors are concatenated (previous crop first)
  before fc6. Pairs are independent: any batching of them gives the same
  features (the train step runs every pair of a batch at once).
  """
  n = crop_pairs.shape[0]
  s = config.crop_size
  feats = conv_features(params, crop_pairs.reshape(n * 2, s, s, 3), config)
  return fc6_layer(params, feats.reshape(n, -1), config)


def fc6_layer(params: Params, pair_feats, config: ModelConfig):
  """fc6 and its ReLU: (N, 2 * features_per_crop) concatenated pair features -> (N, fc6_units)."""
  dtype = jnp.dtype(config.dtype)
  fc6 = matmul.dense(pair_feats.astype(dtype), params['fc6']['w'])
  fc6 = fc6 + params['fc6']['b'].astype(dtype)
  return jax.nn.relu(fc6).astype(dtype)


def recurrent(params: Params, fc6, state: lstm.LSTMState, config: ModelConfig):
  """The two LSTMs and the head over time: fc6 (B, T, F) -> (outputs (B, T, 4), state).

  A `lax.scan` of `lstm_step`; what needs the previous step is only this part.
  """
  def step(carry, x):
    out, carry = lstm_step(params, carry, x, config)
    return carry, out

  state, outputs = lax.scan(step, state, jnp.swapaxes(fc6, 0, 1))
  return jnp.swapaxes(outputs, 0, 1), state
