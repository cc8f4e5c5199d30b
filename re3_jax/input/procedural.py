"""Procedural images: still images with objects and their boxes, made from
nothing (no files). The simulator (`re3_jax.input.synthetic`) turns them into
training sequences that need no dataset; `procedural_image` says what is drawn.

All randomness comes from the ``rng`` argument: the same seed gives the same
image. The module needs only NumPy and OpenCV (no JAX), so it is cheap to
import in data-loading workers.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from re3_jax.core import noise


def check_size(size, name: str = 'size', minimum: int = 16) -> tuple[int, int]:
  """Checks a (height, width) size: two integers >= `minimum`; returns them as ints.

  Raises:
    ValueError: naming `name`, for anything else.
  """
  try:
    h, w = (int(s) for s in size)
    ok = all(int(s) == s for s in size)
  except (TypeError, ValueError):
    ok = False
  if not ok or h < minimum or w < minimum:
    raise ValueError(f'{name} must be (height, width), two integers >= {minimum}, got {size!r}')
  return h, w


# ----------------------------------------------------------------------------
# Procedural images.


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
  """(..., 3) HSV (hue in degrees, saturation and value in [0, 1]) -> RGB in [0, 255]."""
  hsv = np.asarray(hsv, np.float32)
  flat = hsv.reshape(1, -1, 3).copy()
  flat[..., 0] %= 360
  flat[..., 1:] = np.clip(flat[..., 1:], 0, 1)
  return cv2.cvtColor(flat, cv2.COLOR_HSV2RGB).reshape(hsv.shape) * 255


def _natural_colors(rng: np.random.Generator, n: int) -> np.ndarray:
  """`n` related background colours: earth, foliage, sky, stone, indoor tones."""
  base = rng.choice([30.0, 50.0, 100.0, 130.0, 210.0, 20.0, 0.0, 270.0]) + rng.normal(0, 15)
  hue = base + rng.normal(0, 25, n)
  sat = rng.uniform(0.05, 0.65, n) * rng.uniform(0.4, 1.0)
  val = rng.uniform(0.2, 0.9, n)
  return _hsv_to_rgb(np.stack([hue, sat, val], -1))


def _object_colors(rng: np.random.Generator, n: int) -> np.ndarray:
  """`n` colours of one object: a base hue and variations (sometimes contrasting)."""
  hue = rng.uniform(0, 360) + rng.choice([0.0, 0.0, 30.0, 180.0], n) * rng.choice([-1, 1], n) \
      + rng.normal(0, 12, n)
  sat = rng.uniform(0, 1, n) ** rng.choice([0.5, 1.0, 2.0])
  val = rng.uniform(0.08, 1.0, n)
  return _hsv_to_rgb(np.stack([hue, sat, val], -1))


def _normalise(x: np.ndarray) -> np.ndarray:
  lo, hi = float(x.min()), float(x.max())
  return (x - lo) / max(hi - lo, 1e-6)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  """A natural-ish float32 (H, W, 3) background in [0, 255]."""
  # Work at half resolution: everything here is smooth.
  sh, sw = (h + 1) // 2, (w + 1) // 2
  c = _natural_colors(rng, 3)
  f1 = _normalise(noise.smooth_noise(rng, (sh, sw), rng.uniform(1.5, 4), 4,
                                     rng.uniform(0.35, 0.65)))
  f2 = _normalise(noise.smooth_noise(rng, (sh, sw), rng.uniform(2, 8), 3, 0.5))
  bg = c[0] + f1[..., None] * (c[1] - c[0]) + (f2[..., None] - 0.5) * (c[2] - c[0]) * 0.6
  if rng.random() < 0.5:  # a horizon: sky or wall above, ground below
    y = np.arange(sh, dtype=np.float32)[:, None]
    wave = (noise.smooth_noise(rng, (1, sw), rng.uniform(2, 6))[0] - 0.5) * sh * rng.uniform(0, 0.3)
    horizon = sh * rng.uniform(0.2, 0.7) + wave[None, :]
    soft = max(1.0, sh * rng.uniform(0.002, 0.05))
    up = 1 / (1 + np.exp(np.clip((y - horizon) / soft, -30, 30)))
    top = _natural_colors(rng, 2)
    grad = top[0] + (y / sh)[..., None] * (top[1] - top[0])
    bg = grad * up[..., None] + bg * (1 - up[..., None])
  if rng.random() < 0.7:  # soft blobs: bushes, clouds, shadows, furniture
    blobs = np.zeros((sh // 2 + 1, sw // 2 + 1, 3), np.float32)
    for _ in range(int(rng.integers(3, 12))):
      center = (int(rng.integers(0, blobs.shape[1])), int(rng.integers(0, blobs.shape[0])))
      axes = (int(rng.integers(3, blobs.shape[1] // 3 + 4)),
              int(rng.integers(3, blobs.shape[0] // 3 + 4)))
      color = rng.normal(0, 45, 3).tolist()
      cv2.ellipse(blobs, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    blobs = cv2.GaussianBlur(blobs, (0, 0), rng.uniform(1, 6))
    bg = bg + cv2.resize(blobs, (sw, sh), interpolation=cv2.INTER_LINEAR)
  if rng.random() < 0.5:  # streaks: grass, wood, water
    lines, along = int(rng.integers(20, 80)), int(rng.integers(2, 6))
    grid = rng.random((lines, along) if rng.random() < 0.5 else (along, lines), dtype=np.float32)
    streak = cv2.resize(grid, (sw, sh), interpolation=cv2.INTER_CUBIC)
    bg = bg + (streak[..., None] - 0.5) * np.float32(rng.uniform(10, 50)) * (c[2] - c[0] + 40) / 100
  bg = np.ascontiguousarray(bg, dtype=np.float32)
  for _ in range(int(rng.integers(0, 10))):  # small unlabelled clutter
    color = _object_colors(rng, 1)[0].tolist()
    center = (int(rng.integers(0, sw)), int(rng.integers(0, sh)))
    r = int(rng.integers(2, max(3, min(sh, sw) // 10)))
    if rng.random() < 0.5:
      cv2.ellipse(bg, center, (r, int(r * rng.uniform(0.3, 2))), float(rng.uniform(0, 180)), 0, 360,
                  color, -1, cv2.LINE_AA)
    else:
      pts = np.array(center) + rng.normal(0, r, (int(rng.integers(3, 7)), 2))
      cv2.fillPoly(bg, [pts.astype(np.int32)], color, cv2.LINE_AA)
  if rng.random() < 0.6:  # out of focus
    bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(0.5, 2.5))
  return cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)


def _shape_mask(rng: np.random.Generator, bh: int, bw: int) -> np.ndarray:
  """A uint8 (bh, bw) mask of a random shape that spans about the whole (bh, bw) box."""
  mask = np.zeros((bh, bw), np.uint8)
  s = 16  # drawing with 4 bits of sub-pixel precision
  kind = rng.choice(['ellipse', 'polygon', 'rounded', 'composite', 'blob', 'ring', 'rect'],
                    p=[0.16, 0.2, 0.16, 0.18, 0.14, 0.06, 0.1])

  def ellipse(x0, y0, x1, y1, value=255):
    center = (int((x0 + x1) / 2 * s), int((y0 + y1) / 2 * s))
    axes = (max(int((x1 - x0) / 2 * s), s // 2), max(int((y1 - y0) / 2 * s), s // 2))
    cv2.ellipse(mask, center, axes, 0, 0, 360, value, -1, cv2.LINE_AA, 4)

  def polygon(pts, value=255):
    cv2.fillPoly(mask, [np.round(pts * s).astype(np.int32)], value, cv2.LINE_AA, 4)

  def spread(pts, x0, y0, x1, y1):  # scales points to span exactly the given box
    lo, hi = pts.min(0), pts.max(0)
    return (pts - lo) / np.maximum(hi - lo, 1e-6) * [x1 - x0, y1 - y0] + [x0, y0]

  if kind == 'ellipse':
    ellipse(0, 0, bw, bh)
  elif kind in ('polygon', 'rect'):
    n = 4 if kind == 'rect' else int(rng.integers(3, 10))
    step = rng.uniform(0.6, 1.4, n) if kind == 'polygon' else np.ones(n)
    ang = np.cumsum(step / step.sum() * 2 * np.pi) + rng.uniform(0, 2 * np.pi)
    if kind == 'rect':
      ang = np.arange(4) * np.pi / 2 + np.pi / 4 + rng.normal(0, 0.25) * (rng.random() < 0.5)
      radius = np.ones(4)
    elif rng.random() < 0.3:  # star
      radius = np.where(np.arange(n) % 2 == 0, 1.0, rng.uniform(0.35, 0.7))
    else:
      radius = rng.uniform(0.6, 1.0, n)
    pts = np.stack([np.cos(ang) * radius, np.sin(ang) * radius], 1)
    polygon(spread(pts, 0, 0, bw, bh))
  elif kind == 'rounded':
    r = rng.uniform(0.1, 0.5) * min(bw, bh)
    cv2.rectangle(mask, (int(r), 0), (int(bw - r), bh - 1), 255, -1)
    cv2.rectangle(mask, (0, int(r)), (bw - 1, int(bh - r)), 255, -1)
    for cx in (r, bw - r):
      for cy in (r, bh - r):
        ellipse(cx - r, cy - r, cx + r, cy + r)
  elif kind == 'composite':
    top, right = bh * rng.uniform(0, 0.4), bw * rng.uniform(0.6, 1)  # the main part
    if rng.random() < 0.5:
      ellipse(0, top, right, bh)
    else:
      polygon(np.array([[0, top], [right, top], [right, bh], [0, bh]]))
    for _ in range(int(rng.integers(1, 4))):
      pw, ph = bw * rng.uniform(0.2, 0.6), bh * rng.uniform(0.2, 0.6)
      px, py = rng.uniform(0, bw - pw), rng.uniform(0, bh - ph)
      if rng.random() < 0.6:
        ellipse(px, py, px + pw, py + ph)
      else:
        polygon(np.array([[px, py], [px + pw, py], [px + pw, py + ph], [px, py + ph]]))
  elif kind == 'blob':
    u = np.linspace(-1, 1, bw, dtype=np.float32)[None, :]
    v = np.linspace(-1, 1, bh, dtype=np.float32)[:, None]
    field = 1 - (u * u + v * v) + (noise.smooth_noise(rng, (bh, bw), rng.uniform(2, 5)) - 0.5) * 1.2
    mask[...] = (cv2.GaussianBlur((field > 0.25).astype(np.float32), (0, 0), 0.7) * 255).astype(np.uint8)
  else:  # ring or crescent
    ellipse(0, 0, bw, bh)
    k = rng.uniform(0.3, 0.7)
    ox, oy = rng.uniform(-0.3, 0.3, 2) * [bw, bh] * (rng.random() < 0.5)
    ellipse(bw * (1 - k) / 2 + ox, bh * (1 - k) / 2 + oy,
            bw * (1 + k) / 2 + ox, bh * (1 + k) / 2 + oy, 0)
  return mask


def _pattern(rng: np.random.Generator, bh: int, bw: int) -> np.ndarray:
  """A float32 (bh, bw) pattern in [0, 1]: stripes, spots, noise, gradient, checks or plain."""
  kind = rng.choice(['plain', 'stripes', 'spots', 'noise', 'gradient', 'checks'],
                    p=[0.12, 0.2, 0.16, 0.22, 0.18, 0.12])
  if kind == 'plain':
    return np.zeros((bh, bw), np.float32)
  if kind == 'noise':
    return _normalise(noise.smooth_noise(rng, (bh, bw), rng.uniform(1.5, 10),
                                         int(rng.integers(1, 4))))
  if kind == 'spots':
    t = np.zeros((bh, bw), np.float32)
    r_max = max(2, int(min(bh, bw) * rng.uniform(0.04, 0.2)))
    n = int(rng.integers(3, 40))
    xs, ys = rng.integers(0, bw, n), rng.integers(0, bh, n)
    rs = rng.integers(1, r_max + 1, n)
    for x, y, r in zip(xs, ys, rs):
      cv2.circle(t, (int(x), int(y)), int(r), 1.0, -1, cv2.LINE_AA)
    return t
  theta = rng.uniform(0, np.pi)
  x = np.arange(bw, dtype=np.float32)[None, :]
  y = np.arange(bh, dtype=np.float32)[:, None]
  u = x * np.float32(math.cos(theta)) + y * np.float32(math.sin(theta))
  if kind == 'gradient':
    return _normalise(u)
  period = rng.uniform(3, max(4, min(bh, bw) / 2))
  if kind == 'stripes':
    t = np.sin(u * np.float32(2 * np.pi / period))
    return np.clip(t * np.float32(rng.uniform(1, 6)), -1, 1) * 0.5 + 0.5
  v = -x * np.float32(math.sin(theta)) + y * np.float32(math.cos(theta))
  return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)


def _object_texture(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
  """A float32 (bh, bw, 3) coloured, patterned and shaded texture for a shape mask."""
  bh, bw = mask.shape
  colors = _object_colors(rng, 3)
  t = _pattern(rng, bh, bw)[..., None]
  tex = colors[0] + t * (colors[1] - colors[0])
  if rng.random() < 0.4:  # a second, fainter layer
    t2 = _pattern(rng, bh, bw)[..., None]
    tex = tex + t2 * (colors[2] - tex) * np.float32(rng.uniform(0.2, 0.6))
  # Shading: a light direction, and rounding (darker towards the silhouette).
  u = np.linspace(-1, 1, bw, dtype=np.float32)[None, :]
  v = np.linspace(-1, 1, bh, dtype=np.float32)[:, None]
  phi = rng.uniform(0, 2 * np.pi)
  light = u * np.float32(math.cos(phi)) + v * np.float32(math.sin(phi))
  shade = 1 + np.float32(rng.uniform(0, 0.4)) * light
  if rng.random() < 0.6:
    sigma = max(0.15 * min(bh, bw), 0.8)
    inside = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), sigma)
    shade = shade * (np.float32(rng.uniform(0.45, 0.75)) + np.float32(0.5) * np.sqrt(inside))
  tex = tex * shade[..., None]
  if rng.random() < 0.25:  # a highlight
    hx, hy = -math.cos(phi) * 0.4, -math.sin(phi) * 0.4
    spot = np.exp(-((u - hx) ** 2 + (v - hy) ** 2) / np.float32(rng.uniform(0.02, 0.15)))
    tex = tex + spot[..., None] * np.float32(rng.uniform(40, 120))
  if rng.random() < 0.3:  # a dark outline
    edge = mask.astype(np.float32) - cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(np.float32)
    tex = tex * (1 - np.float32(rng.uniform(0.3, 0.8) / 255) * edge)[..., None]
  return tex


def _overlap_ok(box: np.ndarray, placed: list[np.ndarray], max_frac: float = 0.25) -> bool:
  """Whether `box` overlaps each placed box by at most `max_frac` of the smaller one's area."""
  for other in placed:
    iw = min(box[2], other[2]) - max(box[0], other[0])
    ih = min(box[3], other[3]) - max(box[1], other[1])
    if iw > 0 and ih > 0:
      smaller = min((box[2] - box[0]) * (box[3] - box[1]), (other[2] - other[0]) * (other[3] - other[1]))
      if iw * ih > max_frac * smaller:
        return False
  return True


def procedural_image(rng: np.random.Generator,
                     size: tuple[int, int] = (375, 500)) -> tuple[np.ndarray, np.ndarray]:
  """An image with objects and their boxes, made from nothing (no files).

  The background is multi-scale smooth noise in natural colours, with
  sometimes a horizon, soft blobs, streaks, small unlabelled clutter and
  defocus. On it lie 2-8 objects: ellipses, polygons, stars, rounded or
  rotated rectangles, composites of parts, organic blobs and rings, each with
  its own colours, a pattern (stripes, spots, noise, gradient, checks or
  plain), shading, sometimes a highlight, an outline and a drop shadow. Each
  is drawn to fill a box of 1%-40% of the image area (the first at least 3%)
  with an aspect ratio from 1:3 to 3:1 (its tight box can be a little
  smaller); objects overlap one another by at most 25% of the smaller box.
  Sensor grain, and sometimes a colour cast or a greyscale image, finish it.

  Args:
    rng: the only source of randomness.
    size: (height, width), each at least 32.

  Returns:
    image: uint8 (H, W, 3) RGB.
    boxes: float32 (N, 4), N >= 1, the tight xyxy boxes of the drawn shapes
      (amodal: a part hidden by a later object still counts).
  """
  h, w = check_size(size, 'size', 32)
  img = _background(rng, h, w)
  area = h * w
  n = int(rng.integers(2, 9))
  fracs = np.exp(rng.uniform(np.log(0.01), np.log(0.4), n))
  fracs[0] = max(fracs[0], 0.03)
  placed: list[np.ndarray] = []
  for frac in fracs:
    aspect = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))
    for _ in range(12):  # shrink until a place overlaps little
      bw = int(min(round(math.sqrt(frac * area * aspect)), w - 2))
      bh = int(min(round(math.sqrt(frac * area / aspect)), h - 2))
      if bw < 4 or bh < 4:
        break
      x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
      if _overlap_ok(np.array([x0, y0, x0 + bw, y0 + bh]), placed):
        break
      frac *= 0.85
    else:
      continue
    if bw < 4 or bh < 4:
      continue
    mask = _shape_mask(rng, bh, bw)
    cols, rows = np.flatnonzero(mask.max(0) >= 128), np.flatnonzero(mask.max(1) >= 128)
    if not len(cols) or not len(rows):
      continue
    tex = _object_texture(rng, mask)
    alpha = mask.astype(np.float32)[..., None] / 255
    if rng.random() < 0.5:  # a soft drop shadow on what lies below
      pad = max(2, int(0.15 * max(bw, bh)))
      sx0, sy0 = max(x0 - pad, 0), max(y0 - pad, 0)
      sx1, sy1 = min(x0 + bw + pad, w), min(y0 + bh + pad, h)
      shadow = np.zeros((sy1 - sy0, sx1 - sx0), np.float32)
      dx, dy = (rng.uniform(-0.6, 0.6, 2) * pad).astype(int)
      ox, oy = x0 - sx0 + dx, y0 - sy0 + dy
      cx0, cy0 = max(ox, 0), max(oy, 0)
      cx1, cy1 = min(ox + bw, shadow.shape[1]), min(oy + bh, shadow.shape[0])
      if cx1 > cx0 and cy1 > cy0:
        shadow[cy0:cy1, cx0:cx1] = alpha[cy0 - oy:cy1 - oy, cx0 - ox:cx1 - ox, 0]
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(pad / 3, 0.8))
        img[sy0:sy1, sx0:sx1] *= (1 - np.float32(rng.uniform(0.2, 0.55)) * shadow)[..., None]
    roi = img[y0:y0 + bh, x0:x0 + bw]
    roi += (tex - roi) * alpha
    placed.append(np.array([x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1],
                           np.float32))
  # Camera: colour cast, grain, sometimes greyscale.
  if rng.random() < 0.3:
    img *= rng.uniform(0.8, 1.2, 3).astype(np.float32)
  grain = rng.standard_normal((h, w, 1), dtype=np.float32)
  img += grain * np.float32(rng.uniform(1, 7))
  if rng.random() < 0.05:
    img[...] = img @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
  image = np.clip(img, 0, 255).astype(np.uint8)
  return image, np.stack(placed).astype(np.float32)
