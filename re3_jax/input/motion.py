"""The simulator's world (`re3_jax.input.synthetic`): the boxes of its textures moving,
turning, resizing and bouncing off the canvas borders (Re3's ``TrackedObject``,
vectorised over the objects), and how much of the target the textures above it cover.

Differences from the released simulator (``re3_utils/simulator``), on purpose (the
others are listed in `re3_jax.input.synthetic`):

* Speed is capped at 0.35 (the original's cap, 1.5, is three object widths per
  frame, far outside the 2x crop window); a bounce reflects every axis that
  left the canvas (the original reflected one) and points it back inside;
  hitting a size limit stops the size change (the original set the height's
  rate to 2, an evident slip); size rates are relative to the current size.

All randomness comes from the ``rng`` argument. NumPy only.
"""

from __future__ import annotations

import math

import numpy as np

# Motion (Re3's TrackedObject unless noted).
INITIAL_VELOCITY = 1 / 15  # |Laplace(0, this)|: initial speed
VELOCITY_NOISE = 0.01  # Laplace scale of the speed's change per step
MAX_VELOCITY = 0.35  # speed cap (Re3: 1.5)
MOVE_SCALE = 0.5  # position step = speed * MOVE_SCALE * texture size (per axis)
ANGLE_NOISE = math.pi / 32  # Gaussian std of the direction's change per step
SIZE_VELOCITY_NOISE = 0.004  # Gaussian std of the relative size rate's change
MAX_SIZE_VELOCITY = 0.04  # |relative size change| per step, at most
MAX_ASPECT_CHANGE = 2.0  # width/height stays within [1/2, 2] x the native ratio
BOUNCE_DAMPING = 0.5  # speed factor on a bounce
_OCCLUSION_GRID = 12  # occlusion is measured on a grid of this many points per side

_NOISE_CHUNK = 64  # steps of motion noise drawn at a time


class World:
  """Texture boxes and motion of all objects, one column per object, in drawing order.

  Attributes:
    pos: (2, N) centres (x, y) of the texture boxes on the canvas.
    size: (2, N) sizes (width, height) of the texture boxes on the canvas.
    v, angle: (N,) speed (in MOVE_SCALE x texture size per step) and direction.
    rate: (2, N) relative rates of change of width and height per step.
  """

  def __init__(self, rng: np.random.Generator, canvas_hw: tuple[int, int], size: np.ndarray,
               lo: np.ndarray, hi: np.ndarray, speed: float, target: int):
    n = size.shape[1]
    self.rng = rng
    self.canvas = np.array([[canvas_hw[1]], [canvas_hw[0]]], np.float64)
    self.size = size.astype(np.float64)
    self.lo, self.hi = lo, hi  # (2, N) size limits
    aspect = self.size[0] / self.size[1]  # each texture's native aspect ratio
    self.thin, self.wide = aspect / MAX_ASPECT_CHANGE, aspect * MAX_ASPECT_CHANGE
    self.speed = speed
    self.target = target
    self.pos = self.size / 2 + rng.random((2, n)) * (self.canvas - self.size)
    self.v = np.minimum(np.abs(rng.laplace(0, INITIAL_VELOCITY, n)), MAX_VELOCITY)
    self.angle = rng.random(n) * 2 * math.pi
    self.rate = np.zeros((2, n))
    self._noise: list[np.ndarray] = []

  def _next_noise(self) -> np.ndarray:
    if not self._noise:
      n = self.size.shape[1]
      noise = self.rng.standard_normal((_NOISE_CHUNK, 4, n))
      noise[:, 0] = self.rng.laplace(0, VELOCITY_NOISE, (_NOISE_CHUNK, n))
      noise[:, 1] *= ANGLE_NOISE
      noise[:, 2:] *= SIZE_VELOCITY_NOISE
      self._noise = list(noise[::-1])
    return self._noise.pop()

  def step(self) -> None:
    """One time step of every object (Re3's TrackedObject.step, vectorised)."""
    noise = self._next_noise()
    s = self.speed
    self.v = np.minimum(np.maximum(self.v + noise[0], 0), MAX_VELOCITY)
    self.angle = self.angle + noise[1]
    self.rate = np.minimum(np.maximum(self.rate + noise[2:], -MAX_SIZE_VELOCITY), MAX_SIZE_VELOCITY)
    size = self.size * (1 + self.rate * s)
    # Aspect ratio within [1/2, 2] x native, size within its limits; either stops the size change.
    ratio = size[0] / size[1]
    thin, wide = ratio < self.thin, ratio > self.wide
    stop = thin | wide
    if stop.any():
      size[1] = np.where(thin, size[0] / self.thin, size[1])
      size[0] = np.where(wide, size[1] * self.wide, size[0])
    clipped = np.minimum(np.maximum(size, self.lo), self.hi)
    # A side raised to its minimum can break the aspect ratio: raise the other side then.
    clipped[0] = np.minimum(np.maximum(clipped[0], clipped[1] * self.thin), self.hi[0])
    clipped[1] = np.minimum(np.maximum(clipped[1], clipped[0] / self.wide), self.hi[1])
    stop |= (clipped != size).any(0)
    if stop.any():
      self.rate[:, stop] = 0
    self.size = clipped
    # Move; bounce off the borders, pointing back inside, at reduced speed.
    d = np.stack([np.cos(self.angle), np.sin(self.angle)])
    pos = self.pos + d * (self.v * (MOVE_SCALE * s)) * clipped
    half = clipped / 2
    low, high = pos < half, pos > self.canvas - half
    if low.any() or high.any():
      d = np.where(low, np.abs(d), np.where(high, -np.abs(d), d))
      bounced = (low | high).any(0)
      self.angle = np.where(bounced, np.arctan2(d[1], d[0]), self.angle)
      self.v = np.where(bounced, self.v * BOUNCE_DAMPING, self.v)
      pos = np.minimum(np.maximum(pos, half), self.canvas - half)
    self.pos = pos

  def texture_boxes(self) -> np.ndarray:
    """(N, 4) xyxy boxes of the textures on the canvas."""
    half = self.size / 2
    return np.concatenate([self.pos - half, self.pos + half]).T

  def target_box(self, inner: np.ndarray) -> np.ndarray:
    """The target's object box on the canvas; `inner` is it normalised to its texture."""
    t = self.target
    w, h = self.size[:, t]
    x0, y0 = self.pos[:, t] - self.size[:, t] / 2
    return np.array([x0 + inner[0] * w, y0 + inner[1] * h, x0 + inner[2] * w, y0 + inner[3] * h])

  def occlusion(self, inner: np.ndarray) -> float:
    """The fraction of the target's box covered by the textures drawn above it (on a grid)."""
    t = self.target
    if t + 1 == self.size.shape[1]:
      return 0.0
    half = self.size[:, t + 1:] / 2
    lo, hi = self.pos[:, t + 1:] - half, self.pos[:, t + 1:] + half  # (2, K)
    box = self.target_box(inner)
    u = (np.arange(_OCCLUSION_GRID) + 0.5) / _OCCLUSION_GRID
    pts = box[:2, None] + u * (box[2:] - box[:2])[:, None]  # (2, G): x and y samples
    inside = (pts[:, None, :] >= lo[:, :, None]) & (pts[:, None, :] < hi[:, :, None])  # (2, K, G)
    inside = inside.astype(np.float32)
    covered = inside[1].T @ inside[0]  # (G, G): occluders over each grid point
    return float(np.count_nonzero(covered)) / covered.size
