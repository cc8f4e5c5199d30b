"""The ``nanotrack`` tower: NanoTrack v2's backbone (`nanotrack`, trained for tracking); skips
from block1 (stride 4, max-pooled to stride 8), block3 (stride 8) and the last block (stride
16). Its pretrained weights are read from NanoTrack v2's ONNX file (`nanotrack.pretrained_tower`;
no download)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from re3_jax.model import nanotrack
from re3_jax.model import tower_base
from re3_jax.model.layers import NanoTrack, three_skips

# Where the skips tap the backbone: stride 4, 8 and 16.
TAPS = ('block1', 'block3', 'block8')


class NanoTrackTower(nn.Module):
  """NanoTrack v2's backbone ('nanotrack') and skips from block1, block3 and block8."""
  config: Any  # ModelConfig

  @nn.compact
  def __call__(self, crops):
    cfg = self.config
    x = (crops.astype(jnp.float32) * cfg.input_scale).astype(jnp.dtype(cfg.dtype))
    last, taps = NanoTrack(TAPS[:2], jnp.dtype(cfg.param_dtype), name='nanotrack')(x)
    return three_skips(cfg, taps['block1'], taps['block3'], last)


def _check(config):
  if config.tower_cut:
    raise ValueError(f'the nanotrack tower runs whole (tower_cut ""), got {config.tower_cut!r}')
  if config.crop_size < 32:
    raise ValueError(f'crop_size must be >= 32 for the nanotrack tower, got {config.crop_size}')


def _init(keys, config):
  inputs = [(name, nanotrack.BLOCKS[nanotrack.BLOCK_NAMES.index(tap)].out)
            for name, tap in zip(('early_skip', 'middle_skip', 'last_skip'), TAPS)]
  return dict({'nanotrack': nanotrack.init_tower(next(keys))},
              **tower_base.skip_params(keys, config, inputs))


def _grids(config):
  sides = nanotrack.grid(config.crop_size)
  at = {name: sides[1 + i] for i, name in enumerate(nanotrack.BLOCK_NAMES)}
  early = -(-(at['block1'] - 1) // 2)  # max pool 3x3 stride 2, size rounded up
  return (early, at['block3'], at['block8'])


def _pretrained(config, path):
  del config
  if path is None:
    raise ValueError(f'the nanotrack tower has no download: give the path of NanoTrack v2\'s '
                     f'{nanotrack.FILE_NAME} ({nanotrack.SOURCE})')
  return {'nanotrack': nanotrack.pretrained_tower(path)}


TOWER = tower_base.Tower(
    name='nanotrack', module=NanoTrackTower, check=_check, init=_init,
    blocks=lambda c: tuple(zip(c.skip_channels, _grids(c))),
    last=lambda c: (nanotrack.OUT_CHANNELS, _grids(c)[2]),
    keys=lambda c: ('nanotrack',), pretrained=_pretrained,
    describe=lambda c: f'NanoTrack v2 backbone at {c.crop_size}x{c.crop_size}',
    pretrained_from=f'tracking: NanoTrack v2\'s {nanotrack.FILE_NAME}')
