"""Smooth random textures: value noise, the one texture source of everything made from
nothing (procedural training images, the synthetic tracking clip, the fake dataset
downloads). Imports only NumPy and OpenCV (no JAX), so data-loading workers import it cheaply.
"""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], cells: float,
                 octaves: int = 1, persistence: float = 0.5) -> np.ndarray:
  """Multi-scale value noise: random grids upsampled (bicubic) and summed.

  Octave ``o`` is a grid of uniform [0, 1) values with about ``cells * 2**o``
  cells along the longer side (at least 2 grid points per side; the grid keeps
  the aspect ratio), resized to (H, W) with `cv2.INTER_CUBIC`; octaves are
  weighted by ``persistence**o`` and the sum divided by the weights' sum.
  Channels, if any, are independent noises drawn together.

  Args:
    rng: the only source of randomness (`Generator.random`, float32).
    shape: (H, W) for one channel, or (H, W, C) for C channels (C <= 4).
    cells: grid cells along the longer side at the first octave (> 0; may be fractional).
    octaves: number of octaves (>= 1), each with twice the cells of the one before.
    persistence: weight factor from one octave to the next.

  Returns:
    float32 (H, W) or (H, W, C), about in [0, 1]: the bicubic upsampling
    overshoots a little (clip where exact bounds matter).
  """
  h, w = shape[:2]
  channels = tuple(shape[2:])
  out = np.zeros((h, w) + channels, np.float32)
  total = 0.0
  amp = 1.0
  for o in range(octaves):
    c = cells * 2 ** o
    gh = max(2, int(round(c * h / max(h, w))) + 1)
    gw = max(2, int(round(c * w / max(h, w))) + 1)
    grid = rng.random((gh, gw) + channels, dtype=np.float32)
    out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).reshape(out.shape)
    total += amp
    amp *= persistence
  return out / total
