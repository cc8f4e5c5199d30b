"""Flax Linen layers of Re3: convolutions, skips, dense layers, SqueezeNet, NanoTrack's blocks.

The building blocks of `modules.Re3` and of its towers (`towers.TOWERS`: the Flax module of
each is in its own module, `tower_caffenet.CaffeNetTower`, ...), each usable on its own in a
Flax model. Parameter
names are the project's (``w``, ``b``, ``prelu``; the towers' layer names), so a tower's
``init(...)['params']`` is the subtree `network.init` gives it and its pretrained weights
(`squeezenet.pretrained_tower`, `nanotrack.pretrained_tower`) load as they are. The
arithmetic is the layer functions of `tower_base`, `squeezenet` and `nanotrack`
(`tower_base.conv`, `tower_base.skip`, `nanotrack.depthwise`, the pools), called on the module's
parameters, so the numbers are those of the functions the project had before the modules.

Initialisers follow `network.init`'s schemes (Xavier-uniform convolutions and dense layers,
He-uniform NanoTrack layers, PReLU slopes 0.25, zero biases; matrices and kernels in
``param_dtype``, vectors float32) but draw their own keys: only `network.init` reproduces
the values of the project's ``init(key, config)`` for a key.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from re3_jax.model import matmul
from re3_jax.model import nanotrack
from re3_jax.model import squeezenet
from re3_jax.model import tower_base

Dtype = Any


def xavier_init(fan_in: int, fan_out: int, param_dtype: Dtype = jnp.float32) -> Callable:
  """A Flax initialiser: Xavier-uniform for the given fans (`tower_base.xavier`), in param_dtype."""
  def init(key, shape, dtype=None):
    return tower_base.xavier(key, shape, fan_in, fan_out).astype(dtype or param_dtype)
  return init


def he_uniform_init(param_dtype: Dtype = jnp.float32) -> Callable:
  """He-uniform with fan-in the product of all but the last dimension (`nanotrack.init_tower`)."""
  def init(key, shape, dtype=None):
    limit = float(math.sqrt(6.0 / math.prod(shape[:-1])))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit).astype(dtype or param_dtype)
  return init


def _zeros(key, shape, dtype=jnp.float32):
  del key
  return jnp.zeros(shape, dtype)


class Conv(nn.Module):
  """A convolution, NHWC / HWIO, parameters ``w`` and ``b`` (`tower_base.conv`).

  `groups` > 1 runs one convolution per group (faster on XLA's CPU backend);
  `kernel_init`: 'xavier' (fans from the kernel's shape, as TF) or 'he_uniform' (NanoTrack).
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: Any = 'SAME'
  groups: int = 1
  kernel_init: str = 'xavier'
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, cin, cout = self.kernel_size, x.shape[-1], self.features
    shape = (k, k, cin // self.groups, cout)
    if self.kernel_init == 'xavier':
      w_init = xavier_init(k * k * cin // self.groups, k * k * cout, self.param_dtype)
    else:
      w_init = he_uniform_init(self.param_dtype)
    w = self.param('w', w_init, shape)
    b = self.param('b', _zeros, (cout,))
    return tower_base.conv(x, {'w': w, 'b': b}, self.stride, self.padding, self.groups)


class Skip(nn.Module):
  """A skip connection: 1x1 convolution and PReLU (``w``, ``b``, ``prelu``; `tower_base.skip`)."""
  features: int
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    cin, cout = x.shape[-1], self.features
    w = self.param('w', xavier_init(cin, cout, self.param_dtype), (1, 1, cin, cout))
    b = self.param('b', _zeros, (cout,))
    prelu = self.param('prelu', lambda key, shape: jnp.full(shape, 0.25, jnp.float32), (cout,))
    return tower_base.skip(x, {'w': w, 'b': b, 'prelu': prelu})


class Dense(nn.Module):
  """x @ w + b in x's dtype (`matmul.dense`: ``w`` may be packed bfloat16, as the tracker
  stores fc6 on CPUs); Xavier-uniform ``w``, zero ``b``."""
  features: int
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    w = self.param('w', xavier_init(fan_in, self.features, self.param_dtype),
                   (fan_in, self.features))
    b = self.param('b', _zeros, (self.features,))
    return matmul.dense(x, w) + b.astype(x.dtype)


class Depthwise(nn.Module):
  """A depthwise k x k convolution (``w`` (k, k, 1, C), ``b``; `nanotrack.depthwise`)."""
  kernel_size: int
  stride: int = 1
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    w = self.param('w', he_uniform_init(self.param_dtype),
                   (self.kernel_size, self.kernel_size, 1, c))
    b = self.param('b', _zeros, (c,))
    return nanotrack.depthwise(x, {'w': w, 'b': b}, self.stride)


class GateDense(nn.Module):
  """A dense layer of a squeeze-and-excitation gate (``w`` (in, out), ``b``), He-uniform."""
  features: int
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    w = self.param('w', he_uniform_init(self.param_dtype), (x.shape[-1], self.features))
    b = self.param('b', _zeros, (self.features,))
    return matmul.dense(x, w) + b.astype(x.dtype)  # w may be packed (`matmul.pack_params`)


# ----------------------------------------------------------------------------
# SqueezeNet v1.0.

class Fire(nn.Module):
  """A fire module: squeeze (1x1), then 1x1 and 3x3 expands concatenated, 1x1 first; ReLUs."""
  squeeze_features: int
  expand_features: int
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    pd, e = self.param_dtype, self.expand_features
    s = jax.nn.relu(Conv(self.squeeze_features, 1, param_dtype=pd, name='squeeze')(x))
    e1 = jax.nn.relu(Conv(e, 1, param_dtype=pd, name='expand1x1')(s))
    e3 = jax.nn.relu(Conv(e, 3, padding=((1, 1), (1, 1)), param_dtype=pd, name='expand3x3')(s))
    return jnp.concatenate([e1, e3], -1)


class SqueezeNet(nn.Module):
  """SqueezeNet v1.0 from preprocessed NHWC input (`squeezenet.preprocess`) up to `cut`.

  Parameters as `squeezenet.tower_params` ('conv1', 'fire2': {'squeeze', 'expand1x1',
  'expand3x3'}, ...). Returns (output of `cut`, {tap: activation}) for `taps` among 'pool1',
  'pool4', 'pool8' and the fire modules before the cut.
  """
  cut: str = 'fire5'
  taps: tuple[str, ...] = ()
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    fires = squeezenet.fire_names(self.cut)
    runs = {'pool1'} | {name for name, _, _ in fires}
    runs |= {'pool' + name[4:] for name, _, _ in fires
             if name in squeezenet.POOL_AFTER and ('pool' + name[4:] in self.taps
                                                   or name != self.cut)}
    missing = [t for t in self.taps if t not in runs]
    if missing:
      raise ValueError(f'taps {missing} are not run by a tower cut at {self.cut}')
    tapped = {}
    x = jax.nn.relu(Conv(96, 7, 2, 'VALID', param_dtype=self.param_dtype, name='conv1')(x))
    x = squeezenet.max_pool_ceil(x)
    tapped['pool1'] = x
    for name, s, e in fires:
      x = Fire(s, e, self.param_dtype, name=name)(x)
      tapped[name] = x
      if name in squeezenet.POOL_AFTER:
        pool = 'pool' + name[4:]
        if pool in self.taps or name != self.cut:
          x = squeezenet.max_pool_ceil(x)
          tapped[pool] = x
    out = tapped[self.cut] if self.cut != 'conv1' else tapped['pool1']
    return out, {t: tapped[t] for t in self.taps}


# ----------------------------------------------------------------------------
# NanoTrack v2's backbone.

class NanoTrackBlock(nn.Module):
  """An inverted-residual block of `nanotrack.BLOCKS` ('expand', 'depthwise', 'se1', 'se2',
  'project'; the two orders of `nanotrack`'s docstring)."""
  block: nanotrack.Block
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    blk, pd = self.block, self.param_dtype
    act = {'relu': jax.nn.relu, 'hswish': nanotrack.hard_swish}[blk.act]
    hidden = blk.expand or x.shape[-1]

    def gate(h):
      s = jnp.mean(h.astype(jnp.float32), axis=(1, 2)).astype(h.dtype)
      s = jax.nn.relu(GateDense(blk.se, pd, name='se1')(s))
      s = nanotrack.hard_sigmoid(GateDense(hidden, pd, name='se2')(s))
      return h * s[:, None, None, :]

    h = x
    if blk.expand:
      h = act(Conv(hidden, 1, kernel_init='he_uniform', param_dtype=pd, name='expand')(h))
    h = Depthwise(blk.kernel, blk.stride, pd, name='depthwise')(h)
    if blk.expand:
      h = act(gate(h) if blk.se else h)
    else:
      h = act(h)
      h = gate(h) if blk.se else h
    h = Conv(blk.out, 1, kernel_init='he_uniform', param_dtype=pd, name='project')(h)
    return x + h if h.shape == x.shape else h


class NanoTrack(nn.Module):
  """NanoTrack v2's backbone: (N, H, W, 3) RGB 0..255 -> (N, ceil(H/16), ., 48).

  Parameters as `nanotrack.tower_layout` ('stem', 'block1'..'block8'). Returns (output,
  {tap: activation}) for `taps` among 'stem', 'block1'..'block8'.
  """
  taps: tuple[str, ...] = ()
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    missing = [t for t in self.taps if t not in ('stem',) + nanotrack.BLOCK_NAMES]
    if missing:
      raise ValueError(f'unknown NanoTrack taps {missing}; known: '
                       f'{sorted(("stem",) + nanotrack.BLOCK_NAMES)}')
    tapped = {}
    stem = Conv(nanotrack.STEM, 3, 2, ((1, 1), (1, 1)), kernel_init='he_uniform',
                param_dtype=self.param_dtype, name='stem')
    x = nanotrack.hard_swish(stem(x))
    tapped['stem'] = x
    for name, blk in zip(nanotrack.BLOCK_NAMES, nanotrack.BLOCKS):
      x = NanoTrackBlock(blk, self.param_dtype, name=name)(x)
      tapped[name] = x
    return x, {t: tapped[t] for t in self.taps}


# ----------------------------------------------------------------------------
# The skips of the squeezenet and nanotrack towers.

def three_skips(cfg, early, middle, last):
  """Skips from an early (max-pooled to the middle grid), a middle and the last activation
  ('early_skip', 'middle_skip', 'last_skip'), scaled by ``cfg.feature_scale`` first; returns
  (features, last) (`tower_base.flat`). Called inside a tower's ``nn.compact`` method."""
  pd = jnp.dtype(cfg.param_dtype)
  if cfg.feature_scale != 1.0:
    last = last * cfg.feature_scale
    early, middle = early * cfg.feature_scale, middle * cfg.feature_scale
  s1, s2, s3 = cfg.skip_channels
  skips = (squeezenet.max_pool_ceil(Skip(s1, pd, name='early_skip')(early)),
           Skip(s2, pd, name='middle_skip')(middle), Skip(s3, pd, name='last_skip')(last))
  return tower_base.flat(skips, last, cfg)
