"""The ``squeezenet`` tower: SqueezeNet v1.0 (ImageNet, `squeezenet`) cut after a fire module
(``ModelConfig.tower_cut``); skips from pool1 (max-pooled to the others' grid), pool4 and the
cut. Its pretrained weights are the Deep Compression release (`squeezenet.pretrained_tower`)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from re3_jax.model import squeezenet
from re3_jax.model import tower_base
from re3_jax.model.layers import SqueezeNet, three_skips

# The cuts: pool4 (the middle skip) must come before the cut.
CUTS = ('fire5', 'fire6', 'fire7', 'fire8', 'fire9')


class SqueezeNetTower(nn.Module):
  """SqueezeNet v1.0 to ``config.tower_cut`` ('squeezenet') and skips from pool1, pool4 and
  the cut ('early_skip', 'middle_skip', 'last_skip')."""
  config: Any  # ModelConfig

  @nn.compact
  def __call__(self, crops):
    cfg = self.config
    x = (squeezenet.preprocess(crops) * cfg.input_scale).astype(jnp.dtype(cfg.dtype))
    last, taps = SqueezeNet(cfg.tower_cut, ('pool1', 'pool4'), jnp.dtype(cfg.param_dtype),
                            name='squeezenet')(x)
    return three_skips(cfg, taps['pool1'], taps['pool4'], last)


def _check(config):
  if config.tower_cut not in CUTS:
    raise ValueError(f'tower_cut must be one of {CUTS}, got {config.tower_cut!r}')
  if config.crop_size < 63:  # the smallest crop whose cut output is at least 1x1 after fire9
    raise ValueError(f'crop_size must be >= 63 for the squeezenet tower, got {config.crop_size}')


def _skips(config):
  last = dict((n, 2 * e) for n, _, e in squeezenet.FIRES)[config.tower_cut]
  return (('early_skip', 96), ('middle_skip', 256), ('last_skip', last))


def _init(keys, config):
  def conv_leaf(layer):
    cout, cin, kh, kw = layer.shape
    return tower_base.conv_params(next(keys), kh, kw, cin, cout)
  tower = jax.tree.map(conv_leaf, squeezenet.tower_layout(config.tower_cut),
                       is_leaf=lambda x: isinstance(x, squeezenet.Layer))
  return dict({'squeezenet': tower}, **tower_base.skip_params(keys, config, _skips(config)))


def _grids(config):
  grid = config.crop_size  # conv1 is 7x7 stride 2 unpadded; Caffe's pools halve, rounding down
  grid = ((grid - 7) // 2 + 1) // 2 // 2
  last = grid // 2 if config.tower_cut == 'fire9' else grid
  return (grid, grid, last)


TOWER = tower_base.Tower(
    name='squeezenet', module=SqueezeNetTower, check=_check, init=_init,
    blocks=lambda c: tuple(zip(c.skip_channels, _grids(c))),
    last=lambda c: (_skips(c)[2][1], _grids(c)[2]),
    keys=lambda c: ('squeezenet',),
    pretrained=lambda c, path: {'squeezenet': squeezenet.pretrained_tower(c.tower_cut, path)},
    describe=lambda c: f'SqueezeNet to {c.tower_cut} at {c.crop_size}x{c.crop_size}',
    pretrained_from=f'ImageNet: {squeezenet.FILE_NAME} or download')
