"""Finding a lost target again: the first frame's template searched for around its last place.

Re3 follows whatever its box holds; once the box has slid off the target (an occlusion, the
target out of view, a faster move than the 2x window), nothing brings it back. With a
`Recovery` the tracker counts, per track, the consecutive frames whose confidence
(`confidence.appearance`) is below `Recovery.threshold`; from the `patience`-th on, the track
is lost and each of its frames searches:

* candidate boxes of the size of the last confident box (the *anchor*: the box of the last
  frame scored at or above the threshold) on a `grid` x `grid` lattice centred on it, the
  lattice's step `spacing` box sizes, wider by `growth` each further frame lost (at most
  `max_spacing`);
* the tower over each candidate's crop (its 2x context window, as the tracker crops), and
  the normalised cross-correlation (`ncc`: the cosine of the first-frame template with each
  K x K window of the crop's last activation) at every offset: the same measure as the
  confidence, which is its value at the central offset. An offset of one cell moves the
  target by a quarter of the box (the crop is twice the box, the map G = 2K cells), so a
  lattice step of one box leaves no gap between candidates;
* the best offset of all: when its similarity reaches `resume`, the track restarts there,
  box of the anchor's size at that place, LSTM back to the track's initial state (the
  state after its starting pass, as the every-32-frames reset), the template kept, and
  the crop at the new box as the next step's previous crop; else the regressed box stands
  and the next frame searches again, wider.

The step runs the search under `lax.cond` on any track being lost: tracking that never
falls below the threshold for `patience` frames computes what it does without recovery.
Thresholds and layout were chosen on the validation sequences (WORKSPACE.md, "Recovery
(issue 26)").
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops as crops_lib
from re3_jax.model import modules
from re3_jax.tracking import confidence


@dataclasses.dataclass(frozen=True)
class Recovery:
  """When a track counts as lost and how it is searched for (see the module docstring).

  Attributes:
    threshold: a frame whose confidence is below this is a low frame.
    patience: consecutive low frames after which the track is lost and searches (>= 1).
    resume: the similarity (cosine, as the confidence) a candidate needs to restart there.
    grid: candidates per side of the lattice (odd, >= 1): grid**2 tower passes a lost frame.
    spacing: the lattice's step in box sizes on the first frame lost.
    growth: added to the step each further frame lost.
    max_spacing: the step's limit.
  """
  threshold: float = 0.4
  patience: int = 1
  resume: float = 0.5
  grid: int = 5
  spacing: float = 1.0
  growth: float = 0.5
  max_spacing: float = 3.0

  def __post_init__(self):
    if not (isinstance(self.patience, int) and self.patience >= 1):
      raise ValueError(f'Recovery.patience must be an integer >= 1, got {self.patience!r}')
    if not (isinstance(self.grid, int) and self.grid >= 1 and self.grid % 2 == 1):
      raise ValueError(f'Recovery.grid must be an odd integer >= 1, got {self.grid!r}')
    for name in ('threshold', 'resume', 'spacing', 'growth', 'max_spacing'):
      value = getattr(self, name)
      if not np.isfinite(value):
        raise ValueError(f'Recovery.{name} must be finite, got {value!r}')
    if self.spacing <= 0 or self.growth < 0 or self.max_spacing < self.spacing:
      raise ValueError(f'Recovery needs spacing > 0, growth >= 0 and max_spacing >= spacing, '
                       f'got {self.spacing}, {self.growth}, {self.max_spacing}')


DEFAULT = Recovery()


def resolve(recovery, config) -> Recovery | None:
  """`recovery` as the step's static argument: None (off) for False/None, `DEFAULT` for
  True, a `Recovery` as given, and for 'auto' (every API's default) `DEFAULT` where the
  model has a confidence (`confidence.available`), else None. ValueError for anything else,
  or for recovery asked of a model without a confidence."""
  if isinstance(recovery, str) and recovery == 'auto':
    return DEFAULT if confidence.available(config) else None
  if recovery is None or recovery is False:
    return None
  if recovery is True:
    recovery = DEFAULT
  if not isinstance(recovery, Recovery):
    raise ValueError(f'recovery must be \'auto\', True, False, None or a recovery.Recovery, got '
                     f'{type(recovery).__name__} {recovery!r}')
  if not confidence.available(config):
    raise ValueError(f'recovery needs a confidence, which model {config.name!r} has not (its '
                     f'features lack the tower\'s last activation: ModelConfig.correlation)')
  return recovery


def ncc(template, maps):
  """Cosine similarity of (N, K, K, C) templates with every K x K window of (N, G, G, C)
  maps: (N, G - K + 1, G - K + 1) float32 in [-1, 1]."""
  k = template.shape[1]
  maps = maps.astype(jnp.float32)
  dot = jnp.sum(modules.cross_correlation(template, maps), axis=-1) * (k * k)
  ones = jnp.ones(template.shape[:3] + (1,), jnp.float32)
  window_sq = modules.cross_correlation(ones, jnp.sum(maps * maps, axis=-1, keepdims=True))
  window_sq = window_sq[..., 0] * (k * k)
  t_sq = jnp.sum(template * template, axis=(1, 2, 3))
  norm = jnp.sqrt(jnp.maximum(window_sq, 0.0) * t_sq[:, None, None])
  return dot / jnp.maximum(norm, confidence.EPS)


def _lattice(grid: int) -> np.ndarray:
  """(grid**2, 2) lattice offsets in steps, centre first."""
  r = np.arange(grid) - grid // 2
  offsets = np.stack(np.meshgrid(r, r, indexing='xy'), -1).reshape(-1, 2).astype(np.float32)
  order = np.argsort(np.abs(offsets).max(-1), kind='stable')
  return offsets[order]


def search(params, image, template, anchor, frames_lost, config, recovery: Recovery):
  """Searches N tracks' templates around their anchors in `image`.

  Args:
    params: network parameters.
    image: (H, W, 3) uint8.
    template: (N, K, K, C) first-frame templates.
    anchor: (N, 4) xyxy boxes the lattices are centred on, of the size searched for.
    frames_lost: (N,) int32 frames lost so far, this one included (>= 1 widens nothing).
    config: the model config.
    recovery: the layout.

  Returns:
    ((N, 4) boxes of the best match, (N,) their similarity).
  """
  n = anchor.shape[0]
  wh = jnp.asarray(image.shape[1::-1], jnp.float32)
  size = boxes_lib.width_height(anchor)
  step = jnp.minimum(recovery.spacing + recovery.growth * (frames_lost - 1).astype(jnp.float32),
                     recovery.max_spacing)
  offsets = jnp.asarray(_lattice(recovery.grid))                      # (M, 2)
  centres = (boxes_lib.centers(anchor)[:, None] +
             offsets[None] * (step[:, None, None] * size[:, None]))  # (N, M, 2)
  centres = jnp.clip(centres, 0.0, wh)
  m = offsets.shape[0]
  cand = boxes_lib.from_center_size(centres, jnp.broadcast_to(size[:, None], centres.shape))
  cand = cand.reshape(n * m, 4)
  crops = crops_lib.crop_many(image, boxes_lib.context_window(cand), size=config.crop_size)
  maps = modules.last_maps(model.conv_features(params, crops, config), config)
  sim = ncc(jnp.repeat(template, m, axis=0), maps)                   # (N*M, O, O)
  o = sim.shape[-1]
  sim = sim.reshape(n, m * o * o)
  best = jnp.argmax(sim, axis=-1)
  score = jnp.take_along_axis(sim, best[:, None], axis=-1)[:, 0]
  cand_idx, cell = best // (o * o), best % (o * o)
  dy, dx = cell // o - (o - 1) // 2, cell % o - (o - 1) // 2
  # One cell of the G-cell map spans 2 / G of the box (the window is twice the box).
  cells = maps.shape[1]
  shift = jnp.stack([dx, dy], -1).astype(jnp.float32) * (2.0 / cells) * size
  centre = jnp.take_along_axis(centres, cand_idx[:, None, None], axis=1)[:, 0] + shift
  centre = jnp.clip(centre, 0.0, wh)
  return boxes_lib.from_center_size(centre, size), score
