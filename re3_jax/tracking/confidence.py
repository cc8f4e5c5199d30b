"""How sure the tracker is of a box: the first frame's target compared with what the box holds.

Re3 regresses a box and always answers; whether the box still holds the target is another
question. The tracker keeps each track's first-frame template (`model.template_from_features`:
the central K x K of the tower's last activation over the starting crop, where the target
sits) and, after each step, the tower's features of the crop cut at the new box (the next
step's previous crop, computed once for both uses). `appearance` compares the two: the
cosine similarity of the template with the central K x K of that crop's last activation,
i.e. of the starting target's features with the features at the box. It is 1 at the start
and falls when the box holds something else (occlusion, a distractor, the target out of
view). No parameters: any model whose features carry the tower's last activation
(``ModelConfig.correlation``) has it; others score NaN.

Measured against lost frames (IoU below 0.1 or target absent) in WORKSPACE.md's results log;
the design and the alternatives tried are in docs/ARCHITECTURE.md, "A confidence per box".
"""

from __future__ import annotations

import jax.numpy as jnp

from re3_jax.model import modules

NO_SCORE = float('nan')  # models without the tower's last activation in their features
EPS = 1e-6
# A box scoring below this is most likely lost (drawn dashed by `track`, flagged lost by the
# evaluation harness). Chosen on the shipped model's val runs (../shared/real_sequences/val,
# 1736 frames, 382 lost: IoU < 0.1 or absent): a score under 0.35 is a lost frame 82% of the
# time, 70% of the lost frames score under it, and the VOT-LT F-score peaks there
# (WORKSPACE.md, "Results log", 2026-12-06).
LOST_THRESHOLD = 0.35


def available(config) -> bool:
  """Whether tracks of `config`'s model get a score (its features end with the last
  activation: ``config.correlation``)."""
  return bool(config.correlation)


def appearance(template, feats, config):
  """Cosine similarity of (N, K, K, C) templates with the central K x K of the tower's last
  activation in (N, features_per_crop) features: (N,) float32 in [-1, 1]."""
  here = modules.target_template(feats, config)
  t = template.reshape(template.shape[0], -1).astype(jnp.float32)
  h = here.reshape(here.shape[0], -1)
  dot = jnp.sum(t * h, axis=-1)
  norm = jnp.sqrt(jnp.sum(t * t, axis=-1) * jnp.sum(h * h, axis=-1))
  return dot / jnp.maximum(norm, EPS)
