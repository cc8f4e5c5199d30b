"""Clips made from nothing: textured boxes moving over smooth random backgrounds.

`synthetic_clip` is the tracking clip of the demo, the benchmark and the tests: one
object with a smooth-noise texture that drifts, bounces off the borders and changes size
over a smooth-noise background, as a `sequences.Sequence`. `draw_boxes` draws it, and
also the frames of the fake dataset downloads (`re3_jax.testing.fake_datasets`), whose
several objects (striped, with a dark border, so a learner sees their extent) follow
trajectories fixed in advance (their integer boxes go into the annotation files) over a
panning background. Re3's training simulator (`re3_jax.input.synthetic`) is another
thing: objects cut from images, with distractors and occlusion.

Everything is deterministic given the random generator (or seed).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from re3_jax.core import noise
from re3_jax.datasets import sequences


def draw_boxes(frame: np.ndarray, textures: Sequence[np.ndarray], boxes: np.ndarray) -> None:
  """Draws texture k stretched (bilinear) over integer xyxy `boxes[k]` of `frame`, in order.

  Args:
    frame: uint8 (H, W, 3), drawn on in place.
    textures: uint8 (h, w, 3) textures, one per box.
    boxes: (N, 4) integer xyxy boxes inside the frame; empty ones are skipped.
  """
  for texture, (x1, y1, x2, y2) in zip(textures, np.asarray(boxes, np.int64)):
    if x2 > x1 and y2 > y1:
      frame[y1:y2, x1:x2] = cv2.resize(texture, (int(x2 - x1), int(y2 - y1)),
                                       interpolation=cv2.INTER_LINEAR)


def synthetic_clip(n_frames: int, seed: int = 0, size=(240, 360)) -> sequences.Sequence:
  """A procedural clip: a textured object moving and resizing over a textured background.

  The object bounces off the borders; its velocity and size drift randomly.
  Deterministic given `seed`. Needs no files.

  Args:
    n_frames: number of frames T.
    seed: the random seed.
    size: (H, W) of the frames.

  Returns:
    A `Sequence` named ``synthetic_SEED``: uint8 (T, H, W, 3) frames and float32
    (T, 4) integer-valued xyxy boxes (where the texture is drawn).
  """
  rng = np.random.default_rng(seed)
  h, w = size
  background = (noise.smooth_noise(rng, (h, w, 3), 6) * 160 + 40).astype(np.uint8)
  texture = (np.clip(noise.smooth_noise(rng, (64, 64, 3), 4), 0, 1) * 255).astype(np.uint8)
  obj_h, obj_w = h * rng.uniform(0.15, 0.3), w * rng.uniform(0.1, 0.25)
  cy, cx = h / 2, w / 2
  vy, vx = rng.normal(0, 3, 2)
  frames, boxes = [], []
  for _ in range(n_frames):
    vy, vx = 0.9 * vy + rng.normal(0, 1), 0.9 * vx + rng.normal(0, 1)
    obj_h = float(np.clip(obj_h * np.exp(rng.normal(0, 0.02)), 0.08 * h, 0.4 * h))
    obj_w = float(np.clip(obj_w * np.exp(rng.normal(0, 0.02)), 0.06 * w, 0.35 * w))
    cy, cx = cy + vy, cx + vx
    if not obj_h / 2 <= cy <= h - obj_h / 2:
      vy = -vy
      cy = float(np.clip(cy, obj_h / 2, h - obj_h / 2))
    if not obj_w / 2 <= cx <= w - obj_w / 2:
      vx = -vx
      cx = float(np.clip(cx, obj_w / 2, w - obj_w / 2))
    box = np.round([cx - obj_w / 2, cy - obj_h / 2, cx + obj_w / 2, cy + obj_h / 2])
    frame = background.copy()
    draw_boxes(frame, [texture], box[None])
    frames.append(frame)
    boxes.append(box.astype(np.float32))
  return sequences.Sequence(f'synthetic_{seed}', np.stack(frames), np.stack(boxes))
