"""The conv towers of Re3, by name: each turns crops into one feature vector per crop.

`TOWERS` maps a `ModelConfig.tower` name to a `Tower`: what the network, the config
checks, the pretrained starts and the weight descriptions ask of a tower. Adding a tower is
a module with its layers (as `squeezenet.py`, `nanotrack.py`), its Flax module in
`layers.TOWER_MODULES` and one entry here.

- ``caffenet``: the paper's conv1..conv5 (reference section 3), skips from conv1, conv2 and
  conv5 beside pool5; 227x227 crops, the RGB mean subtracted.
- ``squeezenet``: SqueezeNet v1.0 (ImageNet) cut after a fire module; skips from pool1
  (max-pooled to the others' grid), pool4 and the cut.
- ``nanotrack``: NanoTrack v2's backbone (trained for tracking); skips from block1
  (stride 4, max-pooled to stride 8), block3 (stride 8) and the last block (stride 16).

The towers' forward passes are Flax modules (`layers.CaffeNetTower`, `SqueezeNetTower`,
`NanoTrackTower`) built from the layer functions here. Every skip is a 1x1 convolution and a
PReLU; a crop's features are the skips flattened
channel-major (C, H, W) and concatenated in that order (caffenet: then pool5). With
`ModelConfig.correlation`, the tower's last activation is appended as well, for the pair's
correlation (`network.fc6_layer`).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from re3_jax.core.crops import CROP_SIZE
from re3_jax.model import nanotrack
from re3_jax.model import squeezenet

if TYPE_CHECKING:
  from re3_jax.model.configs import ModelConfig

Params = dict[str, Any]
# RGB mean subtracted from uint8 crops (no division by 255), for the caffenet tower.
MEAN_RGB = (123.151630838, 115.902882574, 103.062623801)
_DN = ('NHWC', 'HWIO', 'NHWC')
# The cuts of a SqueezeNet tower: pool4 (the middle skip) must come before the cut.
SQUEEZENET_CUTS = ('fire5', 'fire6', 'fire7', 'fire8', 'fire9')


class Tower(NamedTuple):
  """What a tower provides, each a function of the model config.

  check: raises ValueError for a config the tower cannot run (crop size, cut, ...).
  init: (keys, config) -> the tower's and its skips' random parameters, drawing keys
    from the iterator in a fixed order.
  grids: config -> the side of each feature block's grid, in feature order.
  last: config -> (channels, side) of the tower's last activation.
  keys: config -> the top-level parameter keys of the tower proper (what a pretrained
    start fills, what a frozen tower keeps).
  pretrained: (config, path) -> {key: params} of the pretrained tower; path None: the
    tower's default source.
  describe: config -> the tower in a few words, for messages.
  pretrained_from: the file `pretrained` reads (empty: the tower has no pretrained
    weights here).
  """
  check: Callable[['ModelConfig'], None]
  init: Callable[[Iterator[jax.Array], 'ModelConfig'], Params]
  grids: Callable[['ModelConfig'], tuple[int, ...]]
  last: Callable[['ModelConfig'], tuple[int, int]]
  keys: Callable[['ModelConfig'], tuple[str, ...]]
  pretrained: Callable[['ModelConfig', str | os.PathLike | None], Params]
  describe: Callable[['ModelConfig'], str]
  pretrained_from: str


def get(name: str) -> Tower:
  if name not in TOWERS:
    raise ValueError(f'tower must be one of {tuple(TOWERS)}, got {name!r}')
  return TOWERS[name]


def features_per_crop(config: 'ModelConfig') -> int:
  """Length of one crop's flattened features (with the last activation under correlation)."""
  tower = get(config.tower)
  widths = tuple(config.skip_channels) + tower_extra_blocks(config)
  total = sum(c * g * g for c, g in zip(widths, tower.grids(config)))
  if config.correlation:
    c, g = tower.last(config)
    total += c * g * g
  return total


def tower_extra_blocks(config: 'ModelConfig') -> tuple[int, ...]:
  """Channels of feature blocks after the skips (caffenet's pool5)."""
  return (config.conv_channels[4],) if config.tower == 'caffenet' else ()


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


def _skip_params(keys, config: 'ModelConfig', inputs) -> Params:
  p = {}
  for (name, cin), cout in zip(inputs, config.skip_channels):
    p[name] = conv_params(next(keys), 1, 1, cin, cout)
    p[name]['prelu'] = jnp.full((cout,), 0.25, jnp.float32)
  return p


def _flat(blocks, last, config: 'ModelConfig'):
  if config.correlation:
    blocks = tuple(blocks) + (last,)
  return jnp.concatenate([flatten_chw(t) for t in blocks], axis=-1), last


# ----------------------------------------------------------------------------
# caffenet.

def _max_pool(x):
  # A Python scalar init value makes this lax.reduce_window_max, which has a gradient.
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), 'VALID')


def _lrn(x):
  """Caffe LRN: local_size 5, alpha 1e-4, beta 0.75, k 1 (TF: depth_radius 2, alpha 2e-5)."""
  sq = jnp.pad(jnp.square(x.astype(jnp.float32)), ((0, 0), (0, 0), (0, 0), (2, 2)))
  c = x.shape[-1]
  window = sum(sq[..., k:k + c] for k in range(5))
  return (x * (1.0 + 2e-5 * window) ** -0.75).astype(x.dtype)


def _caffenet_check(config):
  if config.crop_size != CROP_SIZE or config.tower_cut:
    raise ValueError(f'the caffenet tower takes {CROP_SIZE}-pixel crops and no tower_cut, got '
                     f'crop_size {config.crop_size}, tower_cut {config.tower_cut!r}')
  if any(c % 2 for c in config.conv_channels):
    raise ValueError(f'conv channels must be even (2-group convs): {config.conv_channels}')


def _caffenet_skips(config):
  c1, c2, _, _, c5 = config.conv_channels
  return (('conv1_skip', c1), ('conv2_skip', c2), ('conv5_skip', c5))


def _caffenet_init(keys, config):
  c1, c2, c3, c4, c5 = config.conv_channels
  p = {
      'conv1': conv_params(next(keys), 11, 11, 3, c1),
      'conv2': conv_params(next(keys), 5, 5, c1, c2, groups=2),
      'conv3': conv_params(next(keys), 3, 3, c2, c3),
      'conv4': conv_params(next(keys), 3, 3, c3, c4, groups=2),
      'conv5': conv_params(next(keys), 3, 3, c4, c5, groups=2),
  }
  return dict(p, **_skip_params(keys, config, _caffenet_skips(config)))


def check_pretrained(config: 'ModelConfig') -> None:
  """Raises ValueError unless `config`'s tower has pretrained weights here."""
  if not get(config.tower).pretrained_from:
    have = ', '.join(f'the {name} tower ({t.pretrained_from})'
                     for name, t in TOWERS.items() if t.pretrained_from)
    raise ValueError(f'model {config.name!r} has the {config.tower} tower; pretrained weights '
                     f'exist here for {have}')


def _caffenet_pretrained(config, path):
  check_pretrained(config)


CAFFENET = Tower(
    check=_caffenet_check, init=_caffenet_init,
    grids=lambda c: (27, 13, 13, 6), last=lambda c: (c.conv_channels[4], 13),
    keys=lambda c: tuple(f'conv{i}' for i in range(1, 6)), pretrained=_caffenet_pretrained,
    describe=lambda c: f'conv {list(c.conv_channels)}', pretrained_from='')


# ----------------------------------------------------------------------------
# squeezenet.

def _squeezenet_check(config):
  if config.tower_cut not in SQUEEZENET_CUTS:
    raise ValueError(f'tower_cut must be one of {SQUEEZENET_CUTS}, got {config.tower_cut!r}')
  if config.crop_size < 63:  # the smallest crop whose cut output is at least 1x1 after fire9
    raise ValueError(f'crop_size must be >= 63 for the squeezenet tower, got {config.crop_size}')


def _squeezenet_skips(config):
  last = dict((n, 2 * e) for n, _, e in squeezenet.FIRES)[config.tower_cut]
  return (('early_skip', 96), ('middle_skip', 256), ('last_skip', last))


def _squeezenet_init(keys, config):
  def conv_leaf(layer):
    cout, cin, kh, kw = layer.shape
    return conv_params(next(keys), kh, kw, cin, cout)
  tower = jax.tree.map(conv_leaf, squeezenet.tower_layout(config.tower_cut),
                       is_leaf=lambda x: isinstance(x, squeezenet.Layer))
  return dict({'squeezenet': tower}, **_skip_params(keys, config, _squeezenet_skips(config)))


def _squeezenet_grids(config):
  grid = config.crop_size  # conv1 is 7x7 stride 2 unpadded; Caffe's pools halve, rounding down
  grid = ((grid - 7) // 2 + 1) // 2 // 2
  last = grid // 2 if config.tower_cut == 'fire9' else grid
  return (grid, grid, last)


SQUEEZENET = Tower(
    check=_squeezenet_check, init=_squeezenet_init,
    grids=_squeezenet_grids,
    last=lambda c: (_squeezenet_skips(c)[2][1], _squeezenet_grids(c)[2]),
    keys=lambda c: ('squeezenet',),
    pretrained=lambda c, path: {'squeezenet': squeezenet.pretrained_tower(c.tower_cut, path)},
    describe=lambda c: f'SqueezeNet to {c.tower_cut} at {c.crop_size}x{c.crop_size}',
    pretrained_from=f'ImageNet: {squeezenet.FILE_NAME} or download')


# ----------------------------------------------------------------------------
# nanotrack.

# Where the skips tap the backbone: stride 4, 8 and 16.
NANOTRACK_TAPS = ('block1', 'block3', 'block8')


def _nanotrack_check(config):
  if config.tower_cut:
    raise ValueError(f'the nanotrack tower runs whole (tower_cut ""), got {config.tower_cut!r}')
  if config.crop_size < 32:
    raise ValueError(f'crop_size must be >= 32 for the nanotrack tower, got {config.crop_size}')


def _nanotrack_init(keys, config):
  inputs = [(name, nanotrack.BLOCKS[nanotrack.BLOCK_NAMES.index(tap)].out)
            for name, tap in zip(('early_skip', 'middle_skip', 'last_skip'), NANOTRACK_TAPS)]
  return dict({'nanotrack': nanotrack.init_tower(next(keys))},
              **_skip_params(keys, config, inputs))


def _nanotrack_grids(config):
  sides = nanotrack.grid(config.crop_size)
  at = {name: sides[1 + i] for i, name in enumerate(nanotrack.BLOCK_NAMES)}
  early = -(-(at['block1'] - 1) // 2)  # max pool 3x3 stride 2, size rounded up
  return (early, at['block3'], at['block8'])


def _nanotrack_pretrained(config, path):
  if path is None:
    raise ValueError(f'the nanotrack tower has no download: give the path of NanoTrack v2\'s '
                     f'{nanotrack.FILE_NAME} ({nanotrack.SOURCE})')
  return {'nanotrack': nanotrack.pretrained_tower(path)}


NANOTRACK = Tower(
    check=_nanotrack_check, init=_nanotrack_init,
    grids=_nanotrack_grids,
    last=lambda c: (nanotrack.OUT_CHANNELS, _nanotrack_grids(c)[2]),
    keys=lambda c: ('nanotrack',), pretrained=_nanotrack_pretrained,
    describe=lambda c: f'NanoTrack v2 backbone at {c.crop_size}x{c.crop_size}',
    pretrained_from=f'tracking: NanoTrack v2\'s {nanotrack.FILE_NAME}')


TOWERS = {'caffenet': CAFFENET, 'squeezenet': SQUEEZENET, 'nanotrack': NANOTRACK}
