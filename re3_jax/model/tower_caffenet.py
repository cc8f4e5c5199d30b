"""The ``caffenet`` tower: the paper's conv1..conv5 (reference section 3), skips from conv1,
conv2 and conv5 beside pool5; 227x227 crops, the RGB mean subtracted. No pretrained weights
here (the paper starts from ImageNet CaffeNet, which cannot be downloaded); the official
checkpoints (`official_weights`) hold it whole."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from re3_jax.core.crops import CROP_SIZE
from re3_jax.model import tower_base
from re3_jax.model.layers import Conv, Skip

# RGB mean subtracted from uint8 crops (no division by 255).
MEAN_RGB = (123.151630838, 115.902882574, 103.062623801)


def max_pool(x):
  # A Python scalar init value makes this lax.reduce_window_max, which has a gradient.
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), 'VALID')


def lrn(x):
  """Caffe LRN: local_size 5, alpha 1e-4, beta 0.75, k 1 (TF: depth_radius 2, alpha 2e-5)."""
  sq = jnp.pad(jnp.square(x.astype(jnp.float32)), ((0, 0), (0, 0), (0, 0), (2, 2)))
  c = x.shape[-1]
  window = sum(sq[..., k:k + c] for k in range(5))
  return (x * (1.0 + 2e-5 * window) ** -0.75).astype(x.dtype)


class CaffeNetTower(nn.Module):
  """The paper's conv1..conv5 and skips from conv1, conv2, conv5 beside pool5."""
  config: Any  # ModelConfig

  @nn.compact
  def __call__(self, crops):
    cfg = self.config
    pd, dtype = jnp.dtype(cfg.param_dtype), jnp.dtype(cfg.dtype)
    c1, c2, c3, c4, c5 = cfg.conv_channels
    s1, s2, s5 = cfg.skip_channels
    x = crops.astype(jnp.float32) - jnp.asarray(MEAN_RGB, jnp.float32)
    if cfg.input_scale != 1.0:
      x = x * cfg.input_scale
    x = x.astype(dtype)
    x = Conv(c1, 11, 4, 'VALID', param_dtype=pd, name='conv1')(x)
    x = lrn(max_pool(jax.nn.relu(x)))
    skip1 = Skip(s1, pd, name='conv1_skip')(x)
    x = lrn(max_pool(jax.nn.relu(Conv(c2, 5, groups=2, param_dtype=pd, name='conv2')(x))))
    skip2 = Skip(s2, pd, name='conv2_skip')(x)
    x = jax.nn.relu(Conv(c3, 3, param_dtype=pd, name='conv3')(x))
    x = jax.nn.relu(Conv(c4, 3, groups=2, param_dtype=pd, name='conv4')(x))
    x = jax.nn.relu(Conv(c5, 3, groups=2, param_dtype=pd, name='conv5')(x))
    skip5 = Skip(s5, pd, name='conv5_skip')(x)
    return tower_base.flat((skip1, skip2, skip5, max_pool(x)), x, cfg)


def _check(config):
  if config.crop_size != CROP_SIZE or config.tower_cut:
    raise ValueError(f'the caffenet tower takes {CROP_SIZE}-pixel crops and no tower_cut, got '
                     f'crop_size {config.crop_size}, tower_cut {config.tower_cut!r}')
  if any(c % 2 for c in config.conv_channels):
    raise ValueError(f'conv channels must be even (2-group convs): {config.conv_channels}')
  if config.feature_scale != 1.0:
    raise ValueError('feature_scale does not apply to the caffenet tower')


def _skips(config):
  c1, c2, _, _, c5 = config.conv_channels
  return (('conv1_skip', c1), ('conv2_skip', c2), ('conv5_skip', c5))


def _init(keys, config):
  c1, c2, c3, c4, c5 = config.conv_channels
  p = {
      'conv1': tower_base.conv_params(next(keys), 11, 11, 3, c1),
      'conv2': tower_base.conv_params(next(keys), 5, 5, c1, c2, groups=2),
      'conv3': tower_base.conv_params(next(keys), 3, 3, c2, c3),
      'conv4': tower_base.conv_params(next(keys), 3, 3, c3, c4, groups=2),
      'conv5': tower_base.conv_params(next(keys), 3, 3, c4, c5, groups=2),
  }
  return dict(p, **tower_base.skip_params(keys, config, _skips(config)))


def _blocks(config):
  s1, s2, s5 = config.skip_channels
  return ((s1, 27), (s2, 13), (s5, 13), (config.conv_channels[4], 6))  # the skips, pool5


TOWER = tower_base.Tower(
    name='caffenet', module=CaffeNetTower, check=_check, init=_init, blocks=_blocks,
    last=lambda c: (c.conv_channels[4], 13),
    keys=lambda c: tuple(f'conv{i}' for i in range(1, 6)),
    pretrained=tower_base.no_pretrained('caffenet'),
    describe=lambda c: f'conv {list(c.conv_channels)}', pretrained_from='')
