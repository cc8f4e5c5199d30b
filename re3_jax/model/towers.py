"""The conv towers of Re3, by name: `TOWERS`, the one table of them.

``ModelConfig.tower`` names an entry; everything that depends on the tower (the Flax module
`modules.Re3` runs, the config's checks and feature sizes, `network.init`'s random
parameters, the pretrained starts, the frozen keys of training, the weight descriptions)
asks its `tower_base.Tower` record, found here by `get`. Adding a tower is a module with its
Flax module and its `Tower` (as `tower_nanotrack`) and one entry in `TOWERS`
(docs/EXTENDING.md):

- ``caffenet`` (`tower_caffenet`): the paper's conv1..conv5, 227x227 crops.
- ``squeezenet`` (`tower_squeezenet`): SqueezeNet v1.0 (ImageNet) cut after a fire module.
- ``nanotrack`` (`tower_nanotrack`): NanoTrack v2's backbone (trained for tracking).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from re3_jax.core import tables
from re3_jax.model import tower_caffenet
from re3_jax.model import tower_nanotrack
from re3_jax.model import tower_squeezenet
from re3_jax.model.tower_base import Params, Tower

if TYPE_CHECKING:
  import flax.linen as nn
  from re3_jax.model.configs import ModelConfig


TOWERS = tables.by_name(
    'towers',
    tower_caffenet.TOWER,
    tower_squeezenet.TOWER,
    tower_nanotrack.TOWER,
)


def get(name: str) -> Tower:
  """The tower `name`; ValueError naming the registered ones for another name."""
  if name not in TOWERS:
    raise ValueError(f'tower must be one of {tuple(TOWERS)}, got {name!r}')
  return TOWERS[name]


def module(config: 'ModelConfig') -> 'nn.Module':
  """The Flax module of `config`'s tower: crops -> (features, last activation)."""
  return get(config.tower).module(config)


def features_per_crop(config: 'ModelConfig') -> int:
  """Length of one crop's flattened features (with the last activation under correlation)."""
  tower = get(config.tower)
  total = sum(c * g * g for c, g in tower.blocks(config))
  if config.correlation:
    c, g = tower.last(config)
    total += c * g * g
  return total


def check_pretrained(config: 'ModelConfig') -> None:
  """Raises ValueError unless `config`'s tower has pretrained weights here."""
  if not get(config.tower).pretrained_from:
    have = ', '.join(f'the {name} tower ({t.pretrained_from})'
                     for name, t in TOWERS.items() if t.pretrained_from)
    raise ValueError(f'model {config.name!r} has the {config.tower} tower; pretrained weights '
                     f'exist here for {have}')


def pretrained(config: 'ModelConfig', path: str | os.PathLike | None = None) -> Params:
  """{key: params} of `config`'s pretrained tower (`Tower.pretrained`), after
  `check_pretrained`."""
  check_pretrained(config)
  return get(config.tower).pretrained(config, path)
