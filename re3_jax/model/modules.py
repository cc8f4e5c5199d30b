"""The Re3 network as Flax Linen modules: the peephole LSTM cell and `Re3`.

`Re3(config)` is the whole network: the config's tower (`towers.TOWERS`) over both
crops of every pair, fc6 (with the pair's `correlation` under ``config.correlation``), two
stacked peephole LSTMs (`PeepholeLSTMCell`) in a scan over time, and the head.
``Re3(config).init(key, crop_pairs, state)['params']`` has the tree of `network.init` (the
TF scope names: ``params['conv1']['w']``, ``params['fc6']['w']``, ``params['lstm1']['kernel']``,
``params['squeezenet']['fire2']['squeeze']['w']``, ...), so the project's checkpoints and
the shipped weights apply as they are::

  params, config = checkpoints.load_params(shipped.pretrained_dir())
  template = Re3(config).apply({'params': params}, first_crops, method=Re3.template)
  outputs, state = Re3(config).apply({'params': params}, crop_pairs, state, template)

(``template``: the first frame's target under ``config.first_template``, as the shipped
``nano_template``; None for the other models.)

The tower's layers sit at the top of the tree (`nn.share_scope`), not under a 'tower' key.
`network`'s functions (`init` aside) are these modules' methods applied to a parameter
tree. The initial values `Re3.init` draws follow the same schemes as `network.init` but
not its keys; `network.init(key, config)` gives the project's values for a key.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from re3_jax.model import lstm
from re3_jax.model import tower_base
from re3_jax.model import towers
from re3_jax.model.layers import (  # noqa: F401  (re-exported)
    Conv, Dense, Depthwise, Fire, GateDense, NanoTrack, NanoTrackBlock, Skip, SqueezeNet,
    he_uniform_init, xavier_init)
from re3_jax.model.tower_caffenet import CaffeNetTower  # noqa: F401  (re-exported)
from re3_jax.model.tower_nanotrack import NanoTrackTower  # noqa: F401  (re-exported)
from re3_jax.model.tower_squeezenet import SqueezeNetTower  # noqa: F401  (re-exported)

Dtype = Any

__all__ = ['CaffeNetTower', 'Conv', 'Dense', 'Depthwise', 'Fire', 'GateDense', 'NanoTrack',
           'NanoTrackBlock', 'NanoTrackTower', 'PeepholeLSTMCell', 'Re3', 'Skip', 'SqueezeNet',
           'SqueezeNetTower', 'central', 'correlation', 'cross_correlation',
           'he_uniform_init', 'init_inputs', 'last_maps', 'target_template', 'xavier_init']


def central(feature_map):
  """The central K x K (K = G // 2) of (N, G, G, C) maps: where a crop's target sits (the
  crop is twice its box)."""
  g = feature_map.shape[1]
  k = g // 2
  start = (g - k) // 2
  return feature_map[:, start:start + k, start:start + k, :]


def cross_correlation(template, search_map):
  """Depthwise cross-correlation of a (N, K, K, C) template over (N, G, G, C) maps.

  Returns (N, G - K + 1, G - K + 1, C): at each offset, per channel, the mean over the
  template's K*K positions of template times search (shift and add, as XLA fuses well).
  """
  k = template.shape[1]
  o = search_map.shape[1] - k + 1
  acc = None
  for i in range(k):
    for j in range(k):
      term = search_map[:, i:i + o, j:j + o, :] * template[:, i:i + 1, j:j + 1, :]
      acc = term if acc is None else acc + term
  return acc * (1.0 / (k * k))


def correlation(template_map, search_map):
  """Depthwise cross-correlation of the `central` half of `template_map` over `search_map`.

  Both (N, G, G, C), the tower's last activation over the previous and the current crop.
  Returns (N, G - K + 1, G - K + 1, C) (`cross_correlation`).
  """
  return cross_correlation(central(template_map), search_map)


def last_maps(feats, config):
  """The tower's last activation, (..., G, G, C), from (..., features_per_crop) features
  (under ``config.correlation`` they end with it, channel-major)."""
  c, g = towers.get(config.tower).last(config)
  lead = feats.shape[:-1]
  last = feats[..., feats.shape[-1] - c * g * g:].reshape(lead + (c, g, g))
  return jnp.moveaxis(last, -3, -1)


def target_template(feats, config):
  """The first-frame template of ``config.first_template``: the `central` K x K of the tower's
  last activation over a crop at the target's box, from its (N, features_per_crop) features:
  (N, K, K, C) float32."""
  return central(last_maps(feats, config)).astype(jnp.float32)


class PeepholeLSTMCell(nn.RNNCellBase):
  """Re3's peephole LSTM cell (`lstm`): carry (c, h), each (..., features) float32.

  Parameters: ``kernel`` [in + H, 4H] on concat(x, h) in TF's gate order (i, j, f, o),
  ``bias`` [4H], and the peepholes, ``w_{i,f,o}_peep`` [H, H] ('full', the paper's cell)
  or ``w_{i,f,o}_diag`` [H] ('diagonal', TF's LSTMCell). Returns ((c, h), h); `nn.RNN`
  runs it over time. Products run in `dtype`; gates and states stay float32.
  """
  features: int
  peepholes: str = 'diagonal'
  forget_bias: float = 0.0
  forget_bias_init: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, carry, inputs):
    if self.peepholes not in lstm.PEEPHOLES:
      raise ValueError(f'peepholes must be one of {lstm.PEEPHOLES}, got {self.peepholes!r}')
    c, h = carry
    units, in_dim = self.features, inputs.shape[-1]
    full = self.peepholes == 'full'
    fan_j = in_dim + units
    fan_gate = in_dim + 2 * units if full else in_dim + units

    def kernel_init(key, shape):  # He-normal per gate (`lstm.init_cell`)
      stds = jnp.array([fan_gate, fan_j, fan_gate, fan_gate], jnp.float32)
      stds = jnp.repeat(jnp.sqrt(2.0 / stds), units)
      return (jax.random.normal(key, shape, jnp.float32) * stds).astype(self.param_dtype)

    def bias_init(key, shape):
      del key
      return jnp.zeros(shape, jnp.float32).at[2 * units:3 * units].set(self.forget_bias_init)

    def peep_init(key, shape):
      w = jax.random.normal(key, shape, jnp.float32) * np.sqrt(2.0 / fan_gate)
      return w.astype(self.param_dtype) if full else w

    params = {'kernel': self.param('kernel', kernel_init, (in_dim + units, 4 * units)),
              'bias': self.param('bias', bias_init, (4 * units,))}
    for gate in 'ifo':
      name = f'w_{gate}_peep' if full else f'w_{gate}_diag'
      params[name] = self.param(name, peep_init, (units, units) if full else (units,))
    c, h = lstm.cell_step(params, inputs, c, h, forget_bias=self.forget_bias,
                          dtype=jnp.dtype(self.dtype))
    return (c, h), h

  @nn.nowrap
  def initialize_carry(self, rng, input_shape):
    """Zero (c, h) for inputs of `input_shape` (batch dimensions, then features)."""
    del rng
    shape = tuple(input_shape[:-1]) + (self.features,)
    return jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32)

  @property
  def num_feature_axes(self) -> int:
    return 1


class Re3(nn.Module):
  """The Re3 network of a `configs.ModelConfig`.

  ``__call__(crop_pairs, state)``: (B, T, 2, S, S, 3) crop pairs (0..255; pair index 0 the
  previous image's crop, 1 the current one's) and an `lstm.LSTMState` of (B, H) leaves ->
  (outputs (B, T, 4) float32 boxes in each step's crop frame, x10 convention; the state
  after the last step). The tower runs over all pairs at once, the LSTMs in a scan over
  time. The methods are the network's parts (`network` applies them by name).
  """
  config: Any  # ModelConfig

  def setup(self):
    cfg = self.config
    pd, dtype = jnp.dtype(cfg.param_dtype), jnp.dtype(cfg.dtype)
    self.tower = towers.module(cfg)
    nn.share_scope(self, self.tower)  # the tower's layers at the top of the tree
    self.fc6 = Dense(cfg.fc6_units, pd)
    cell = dict(features=cfg.lstm_units, peepholes=cfg.peepholes,
                forget_bias=cfg.forget_bias, forget_bias_init=cfg.forget_bias_init,
                dtype=dtype, param_dtype=pd)
    self.lstm1 = PeepholeLSTMCell(**cell)
    self.lstm2 = PeepholeLSTMCell(**cell)
    self.fc_output = Dense(4, pd)

  def __call__(self, crop_pairs, state: lstm.LSTMState, template=None):
    cfg = self.config
    b, t = crop_pairs.shape[:2]
    s = cfg.crop_size
    if crop_pairs.shape[2:] != (2, s, s, 3):
      raise ValueError(f'crop_pairs must be (B, T, 2, {s}, {s}, 3) for model {cfg.name!r}, '
                       f'got {crop_pairs.shape}')
    if template is not None:  # one per sequence, the same at every step
      template = jnp.repeat(template, t, axis=0)
    fc6 = self.pair_features(crop_pairs.reshape(b * t, 2, s, s, 3), template)
    return self.recurrent(fc6.reshape(b, t, -1), state)

  def conv_features(self, crops):
    """The tower and skips: (N, S, S, 3) crops -> (N, features_per_crop) (`towers`' order;
    with ``config.correlation`` the tower's last activation follows)."""
    return self.tower(crops)[0]

  def template(self, crops):
    """The first-frame template (`target_template`) of (N, S, S, 3) crops at the targets'
    boxes: (N, K, K, C)."""
    return target_template(self.conv_features(crops), self.config)

  def pair_features(self, crop_pairs, template=None):
    """The tower, skips and fc6 of crop pairs: (N, 2, S, S, 3) -> fc6 (N, fc6_units);
    `template` (N, K, K, C) under ``config.first_template``."""
    n, s = crop_pairs.shape[0], self.config.crop_size
    feats = self.conv_features(crop_pairs.reshape(n * 2, s, s, 3))
    return self.fc6_layer(feats.reshape(n, -1), template)

  def fc6_layer(self, pair_feats, template=None):
    """fc6 and its ReLU on (N, 2 * features_per_crop) concatenated pair features; under
    ``config.correlation`` both crops' features without the last activation, then the
    pair's `correlation` (channel-major), then under ``config.first_template`` the
    `cross_correlation` of `template` (N, K, K, C; `template`) over the current crop's."""
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    if cfg.first_template != (template is not None):
      raise ValueError(f'model {cfg.name!r} ' + (
          'correlates a first-frame template: give template (Re3.template of the first crop)'
          if cfg.first_template else 'has no first-frame template: give template=None'))
    if cfg.correlation:
      c, g = towers.get(cfg.tower).last(cfg)
      n, f = pair_feats.shape[0], cfg.features_per_crop
      crops = pair_feats.reshape(n, 2, f)
      maps = last_maps(crops, cfg)
      parts = [crops[:, :, :f - c * g * g].reshape(n, -1),
               tower_base.flatten_chw(correlation(maps[:, 0], maps[:, 1]))]
      if cfg.first_template:
        first = cross_correlation(template.astype(maps.dtype), maps[:, 1])
        parts.append(tower_base.flatten_chw(first))
      pair_feats = jnp.concatenate(parts, axis=-1)
    return jax.nn.relu(self.fc6(pair_feats.astype(dtype))).astype(dtype)

  def lstm_step(self, state: lstm.LSTMState, fc6):
    """The two LSTMs and the head for one step: fc6 (B, F) -> (outputs (B, 4), state)."""
    dtype = jnp.dtype(self.config.dtype)
    (c1, h1), _ = self.lstm1((state.c1, state.h1), fc6)
    (c2, h2), _ = self.lstm2((state.c2, state.h2),
                             jnp.concatenate([fc6, h1.astype(dtype)], axis=-1))
    out = self.fc_output(h2)
    return out.astype(jnp.float32), lstm.LSTMState(c1, h1, c2, h2)

  def recurrent(self, fc6, state: lstm.LSTMState):
    """The LSTMs and the head over time: fc6 (B, T, F) -> (outputs (B, T, 4), state)."""
    def step(module, carry, x):
      out, carry = module.lstm_step(carry, x)
      return carry, out

    scan = nn.scan(step, variable_broadcast='params', split_rngs={'params': False})
    state, outputs = scan(self, state, jnp.swapaxes(fc6, 0, 1))
    return jnp.swapaxes(outputs, 0, 1), state


def init_inputs(config, batch: int = 1, steps: int = 1):
  """Zero crop pairs (batch, steps, 2, S, S, 3), a zero state and, under
  ``config.first_template``, a zero template (batch, K, K, C) (else None), for ``Re3.init``."""
  s = config.crop_size
  template = None
  if config.first_template:
    c, g = towers.get(config.tower).last(config)
    template = jnp.zeros((batch, g // 2, g // 2, c), jnp.float32)
  return (jnp.zeros((batch, steps, 2, s, s, 3), jnp.uint8),
          lstm.LSTMState.zeros(batch, config.lstm_units), template)
