"""What a conv tower of Re3 is (`Tower`), and the layer functions the towers share.

A tower turns (N, S, S, 3) crops (0..255) into one feature vector per crop. Each tower is a
module of its own (`tower_caffenet`, `tower_squeezenet`, `tower_nanotrack`) holding its Flax
module and its `Tower` record; `towers.TOWERS` is the one table of them, by name
(docs/EXTENDING.md). Every tower's skips are 1x1 convolutions and PReLUs (`skip`); a crop's
features are its feature blocks (`Tower.blocks`) flattened channel-major (C, H, W) and
concatenated in order, then, under ``ModelConfig.correlation``, the tower's last activation
(`Tower.last`; `flat`).

The layer functions here (`conv`, `skip`, `xavier`, ...) are the arithmetic of the Flax layers
(`layers.Conv`, `layers.Skip`) and of `network.init`'s random parameters.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

if TYPE_CHECKING:
  import flax.linen as nn
  from re3_jax.model.configs import ModelConfig

Params = dict[str, Any]
_DN = ('NHWC', 'HWIO', 'NHWC')


class Tower(NamedTuple):
  """A conv tower: what the network, the config checks, the pretrained starts and the weight
  descriptions ask of it, each a function of the `ModelConfig`.

  name: the ``ModelConfig.tower`` value that selects it (its key in `towers.TOWERS`).
  module: config -> the Flax module (``crops (N, S, S, 3) -> (features (N, F), last NHWC)``),
    whose parameters sit at the top of `modules.Re3`'s tree.
  check: raises ValueError for a config the tower cannot run (crop size, cut, ...).
  init: (keys, config) -> the tower's and its skips' random parameters, drawing keys
    from the iterator in a fixed order (`network.init`).
  blocks: config -> (channels, side) of each feature block, in feature order (the
    correlation's last activation not included).
  last: config -> (channels, side) of the tower's last activation.
  keys: config -> the top-level parameter keys of the tower proper (what a pretrained
    start fills, what a frozen tower keeps).
  pretrained: (config, path) -> {key: params} of the pretrained tower; path None: the
    tower's default source.
  describe: config -> the tower in a few words, for messages.
  pretrained_from: the file `pretrained` reads (empty: the tower has no pretrained
    weights here).
  """
  name: str
  module: Callable[['ModelConfig'], 'nn.Module']
  check: Callable[['ModelConfig'], None]
  init: Callable[[Iterator[jax.Array], 'ModelConfig'], Params]
  blocks: Callable[['ModelConfig'], tuple[tuple[int, int], ...]]
  last: Callable[['ModelConfig'], tuple[int, int]]
  keys: Callable[['ModelConfig'], tuple[str, ...]]
  pretrained: Callable[['ModelConfig', str | os.PathLike | None], Params]
  describe: Callable[['ModelConfig'], str]
  pretrained_from: str


def no_pretrained(name: str) -> Callable[['ModelConfig', Any], Params]:
  """`Tower.pretrained` of a tower without pretrained weights: raises ValueError."""
  def pretrained(config, path):
    del path
    raise ValueError(f'model {config.name!r} has the {name} tower, which has no pretrained '
                     'weights here')
  return pretrained


# ----------------------------------------------------------------------------
# Layers shared by the towers.

def xavier(key, shape, fan_in, fan_out):
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def conv_params(key, kh, kw, cin, cout, groups=1):
  shape = (kh, kw, cin // groups, cout)
  # Fans as TF's Xavier initialiser computes them from the kernel's shape.
  w = xavier(key, shape, kh * kw * cin // groups, kh * kw * cout)
  return {'w': w, 'b': jnp.zeros((cout,), jnp.float32)}


def conv(x, p, stride=1, padding='SAME', groups=1):
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


def skip(x, p):
  """A skip connection: 1x1 convolution and PReLU."""
  y = conv(x, p)
  a = p['prelu'].astype(y.dtype)
  return jnp.where(y > 0, y, a * y)


def flatten_chw(x):
  return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)


def skip_params(keys, config: 'ModelConfig', inputs) -> Params:
  """Random parameters of the skips: `inputs` is ((name, input channels), ...), the output
  channels ``config.skip_channels``."""
  p = {}
  for (name, cin), cout in zip(inputs, config.skip_channels):
    p[name] = conv_params(next(keys), 1, 1, cin, cout)
    p[name]['prelu'] = jnp.full((cout,), 0.25, jnp.float32)
  return p


def flat(blocks, last, config: 'ModelConfig'):
  """(features, last): the blocks flattened channel-major and concatenated, with `last`
  appended under ``config.correlation``."""
  if config.correlation:
    blocks = tuple(blocks) + (last,)
  return jnp.concatenate([flatten_chw(t) for t in blocks], axis=-1), last
