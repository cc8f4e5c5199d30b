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

import dataclasses
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from re3_jax.core.crops import CROP_SIZE
from re3_jax.model import lstm
from re3_jax.model import matmul
from re3_jax.model import squeezenet

Params = dict[str, Any]

# RGB mean subtracted from uint8 crops (no division by 255).
MEAN_RGB = (123.151630838, 115.902882574, 103.062623801)
_DN = ('NHWC', 'HWIO', 'NHWC')
DTYPES = ('float32', 'bfloat16')
TOWERS = ('caffenet', 'squeezenet')
# The cuts of a SqueezeNet tower: pool4 (the middle skip) must come before the cut.
SQUEEZENET_CUTS = ('fire5', 'fire6', 'fire7', 'fire8', 'fire9')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture and dtype policy of a Re3 network.

  Attributes:
    name: a label, stored with checkpoints.
    tower: 'caffenet' (the paper's conv1..conv5) or 'squeezenet' (SqueezeNet
      v1.0 up to `tower_cut`, ImageNet-pretrained weights from `squeezenet`).
    crop_size: side of the square crops in pixels (caffenet: 227 only).
    tower_cut: the squeezenet tower's last fire module (`SQUEEZENET_CUTS`);
      empty for caffenet.
    conv_channels: output channels of conv1..conv5 (caffenet only).
    skip_channels: channels of the three skip connections (caffenet: conv1,
      conv2, conv5; squeezenet: pool1, pool4, the cut).
    fc6_units: width of fc6.
    lstm_units: units of each of the two LSTMs.
    peepholes: 'full' (the paper's cell) or 'diagonal' (TF LSTMCell).
    forget_bias: added to the forget gate at run time (TF LSTMCell: 1.0).
    forget_bias_init: the forget-gate bias's initial value (paper: 1.0).
    dtype: compute dtype, 'float32' or 'bfloat16' (LSTM cell states, gates and
      outputs stay float32).
    param_dtype: dtype of weight matrices and kernels at init, 'float32' or
      'bfloat16' (vectors stay float32).
    input_scale: factor applied to the mean-subtracted crops before conv1. 1.0
      is the original network (and what its weights expect). Training from
      scratch wants about 1/64: with raw pixel offsets of +-128, conv1's
      Xavier weights are so small that each Adam step changes them by about
      their own size, and the network settles on an input-independent
      output (WORKSPACE.md, "Training on the synthetic default").
    feature_scale: factor applied to the squeezenet tower's activations before
      the skips (1.0: none). The pretrained tower works on raw pixel offsets
      and its activations are in the hundreds (pool4 and fire5 average ~100 on
      real crops); unscaled, fc6 sums thousands of them and saturates the
      LSTMs' gates, and the network learns to output the centred box
      (WORKSPACE.md, "The squeeze model"). 1/64 brings them to ~1.
  """
  name: str = 'paper'
  tower: str = 'caffenet'
  crop_size: int = CROP_SIZE
  tower_cut: str = ''
  conv_channels: tuple[int, ...] = (96, 256, 384, 384, 256)
  skip_channels: tuple[int, ...] = (16, 32, 64)
  fc6_units: int = 2048
  lstm_units: int = 1024
  peepholes: str = 'full'
  forget_bias: float = 0.0
  forget_bias_init: float = 1.0
  dtype: str = 'float32'
  param_dtype: str = 'float32'
  input_scale: float = 1.0
  feature_scale: float = 1.0

  def __post_init__(self):
    if self.tower not in TOWERS:
      raise ValueError(f'tower must be one of {TOWERS}, got {self.tower!r}')
    if self.tower == 'caffenet' and (self.crop_size != CROP_SIZE or self.tower_cut):
      raise ValueError(f'the caffenet tower takes {CROP_SIZE}-pixel crops and no tower_cut, got '
                       f'crop_size {self.crop_size}, tower_cut {self.tower_cut!r}')
    if self.tower == 'squeezenet':
      if self.tower_cut not in SQUEEZENET_CUTS:
        raise ValueError(f'tower_cut must be one of {SQUEEZENET_CUTS}, got {self.tower_cut!r}')
      if self.crop_size < 63:  # the smallest crop whose cut output is at least 1x1 after fire9
        raise ValueError(f'crop_size must be >= 63 for the squeezenet tower, got {self.crop_size}')
    if len(self.conv_channels) != 5 or len(self.skip_channels) != 3:
      raise ValueError('conv_channels needs 5 values and skip_channels 3')
    if any(c % 2 for c in self.conv_channels):
      raise ValueError(f'conv channels must be even (2-group convs): {self.conv_channels}')
    if self.peepholes not in lstm.PEEPHOLES:
      raise ValueError(f'peepholes must be one of {lstm.PEEPHOLES}, got {self.peepholes!r}')
    for field in ('input_scale', 'feature_scale'):
      value = getattr(self, field)
      if not (math.isfinite(value) and value > 0):
        raise ValueError(f'{field} must be finite and > 0, got {value}')
    if self.feature_scale != 1.0 and self.tower != 'squeezenet':
      raise ValueError('feature_scale applies to the squeezenet tower only')
    for field in ('dtype', 'param_dtype'):
      if getattr(self, field) not in DTYPES:
        raise ValueError(f'{field} must be one of {DTYPES}, got {getattr(self, field)!r}')

  @property
  def features_per_crop(self) -> int:
    """Length of one crop's flattened features (see the module docstring for their order)."""
    s1, s2, s5 = self.skip_channels
    if self.tower == 'squeezenet':
      grid = self.crop_size  # conv1 is 7x7 stride 2 unpadded; Caffe's pools halve, rounding down
      grid = ((grid - 7) // 2 + 1) // 2 // 2
      last = grid // 2 if self.tower_cut == 'fire9' else grid
      return (s1 + s2) * grid * grid + s5 * last * last
    return s1 * 27 * 27 + s2 * 13 * 13 + s5 * 13 * 13 + self.conv_channels[4] * 6 * 6

  @property
  def tower_keys(self) -> tuple[str, ...]:
    """The top-level parameter keys of the conv tower (what a pretrained start fills)."""
    return ('squeezenet',) if self.tower == 'squeezenet' else tuple(
        f'conv{i}' for i in range(1, 6))

  def replace(self, **changes) -> 'ModelConfig':
    return dataclasses.replace(self, **changes)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'ModelConfig':
    d = json.loads(text)
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f'unknown ModelConfig fields {sorted(unknown)}')
    defaults = cls()
    for k, v in d.items():
      want = type(getattr(defaults, k))
      if want is tuple:
        ok = isinstance(v, (list, tuple)) and all(type(x) is int for x in v)
      else:
        ok = type(v) is want or (want is float and type(v) is int)
      if not ok:
        raise ValueError(f'ModelConfig field {k} must be '
                         f'{"a list of integers" if want is tuple else want.__name__}, got {v!r}')
      if want is tuple:
        d[k] = tuple(v)
    return cls(**d)


CONFIGS = {
    # The paper's model: 190,004,324 parameters.
    'paper': ModelConfig(),
    # The released TF model (June 2018): 85,699,684 parameters.
    'small': ModelConfig(name='small', fc6_units=1024, lstm_units=512, peepholes='diagonal',
                         forget_bias=1.0, forget_bias_init=0.0),
    # For tests: the same structure, a few thousand times smaller.
    'tiny': ModelConfig(name='tiny', conv_channels=(8, 16, 16, 16, 16), skip_channels=(4, 4, 4),
                        fc6_units=32, lstm_units=16),
    # The shipped real-video model (weights/re3_squeeze/): SqueezeNet to fire5 at 95x95,
    # sized for >= 100 frames/s on a 2-core CPU (~130) and a checkpoint under 25 MB
    # (WORKSPACE.md, "The squeeze model").
    'squeeze': ModelConfig(name='squeeze', tower='squeezenet', crop_size=95, tower_cut='fire5',
                           skip_channels=(8, 16, 32), fc6_units=512, lstm_units=256,
                           peepholes='diagonal', forget_bias=1.0, forget_bias_init=0.0,
                           feature_scale=1 / 64),
}


# Dtype policies by name: (compute dtype, weight dtype).
PRECISIONS = {
    'float32': ('float32', 'float32'),
    # bfloat16 weights, float32 compute: on CPUs the tracker packs fc6 (see
    # `matmul`), halving the bytes read per frame.
    'bf16_weights': ('float32', 'bfloat16'),
    'bfloat16': ('bfloat16', 'bfloat16'),
    # bfloat16 compute over float32 weights: training on accelerators. The tower, fc6 and
    # the LSTMs' products run in bfloat16 on bfloat16 copies of the weights; the weights,
    # their gradients and Adam stay float32 (an update of lr 1e-5 is below bfloat16's
    # resolution of a weight, 2^-8 of it), as do LSTM states, gates, outputs and the loss.
    'mixed_bfloat16': ('bfloat16', 'float32'),
}


def with_precision(config: ModelConfig, precision: str) -> ModelConfig:
  """`config` under a named dtype policy (see PRECISIONS)."""
  if precision not in PRECISIONS:
    raise ValueError(f'unknown precision {precision!r}; known: {sorted(PRECISIONS)}')
  dtype, param_dtype = PRECISIONS[precision]
  return config.replace(dtype=dtype, param_dtype=param_dtype)


def get_config(name: str, **overrides) -> ModelConfig:
  """A named config ('paper', 'small', 'tiny', 'squeeze') with optional field overrides."""
  if name not in CONFIGS:
    raise ValueError(f'unknown model config {name!r}; known: {sorted(CONFIGS)}')
  return CONFIGS[name].replace(**overrides)


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
