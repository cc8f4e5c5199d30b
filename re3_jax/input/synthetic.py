"""Synthetic training sequences: Re3's simulator, over real or procedural images
(the procedural images are made in `re3_jax.input.procedural`).

Half of Re3's training sequences are synthetic (reference section 6). An object
is cut from a still image together with its context (its box scaled by 4 about
its centre, clipped to the image: the "texture"; the tracked box is the object's
box inside it) and moves over a background made of the same image resized to
the canvas, among distractor patches cut from random regions of the same image
(each overlapping the target's box by less than 30% of the target's area). Half
of the distractors are drawn below the target and half above it, so the target
is sometimes occluded. Position, speed, direction of motion and size drift with
random noise; objects bounce off the canvas borders. Textures are pasted with
feathered (alpha-ramped) edges.

Differences from the released simulator (``re3_utils/simulator``), all on
purpose:

* Full frames: the original rendered 227x227 crops around the previous box;
  here every frame is the whole canvas (``SIM_SIZE``), because crops are cut
  later on the device (self-training places windows at the network's own
  predictions). Object sizes are therefore chosen for full frames: the target's
  box starts with a geometric-mean side of 8%-30% of the canvas, as far as its
  texture fits in 90% of the canvas (with a full 4x context: at most ~22%);
  its sides then stay within 4%-50% of the canvas. (The original's target was
  ~25 px of 400, but rendered at the source's resolution in the crop.)
  Distractors start at 0.3-1x the target's size.
* Sub-pixel rendering: textures are placed with ``cv2.warpAffine`` at their
  exact (unrounded) float boxes, so the returned box matches the pasted pixels.
* Motion: see `re3_jax.input.motion`.
* Distractor patches really avoid the target (the original tested them against
  a dummy box ``[1, 1, 2, 2]``) and have aspect ratios within 1:4.

Borders: every texture (object plus context) is kept entirely inside the
canvas by the bounces, so the target's box always lies inside
``[0, 0, W, H]``; it can touch the border only where its context was clipped
by the source image's border.

The warm-up of the released training code is kept: the world steps 0-200 times
(stopping early once the target is more than 20% occluded), then steps until
the target is less than 1% occluded (at most 300 steps), and the first frame is
rendered only then.

All randomness comes from the ``rng`` argument: the same seed gives the same
sequence. The module needs only NumPy and OpenCV (no JAX), so it is cheap to
import in data-loading workers.

``python -m re3_jax.simulate --out=sheet.png`` writes a contact sheet of procedural
sequences to look at.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from re3_jax.input import motion
from re3_jax.input import procedural

SIM_SIZE = (400, 400)  # (height, width) of simulated frames

# Cutting textures (the first two as in Re3's simulator).
CONTEXT_SCALE = 4.0  # the target's texture: its box scaled by this about its centre
MIN_TARGET_AREA = 0.01  # boxes under this fraction of the image area are never targets
MAX_DISTRACTOR_OVERLAP = 0.3  # distractor patch & target box < this x target area
MAX_DISTRACTOR_ASPECT = 4.0
DISTRACTOR_CANDIDATES = 32  # random rectangles tried per distractor

# Sizes on the canvas, as fractions of min(height, width) of the canvas.
TARGET_INIT_SIZE = (0.08, 0.3)  # geometric-mean side of the target's box, log-uniform
TARGET_MIN_SIDE = 0.04  # each side of the target's box, at least
TARGET_MAX_SIDE = 0.5  # each side of the target's box, at most (x canvas side)
MAX_TEXTURE_SIDE = 0.9  # each side of any texture, at most (x canvas side)
DISTRACTOR_INIT_SCALE = (0.3, 1.0)  # geometric-mean side, x the target box's
DISTRACTOR_SIZE = (0.03, 0.3)  # its initial geometric-mean side, clipped to this
DISTRACTOR_SIZE_RANGE = (0.5, 1.6)  # a distractor's sides stay within this x initial

# Rendering.
FEATHER = 0.02  # alpha ramp width at each texture edge, x its size (Re3: 4/227)

# Warm-up (Re3's training code, get_data_sequence).
WARMUP_MAX_STEPS = 200
WARMUP_OCCLUSION = 0.2
CLEAR_OCCLUSION = 0.01
CLEAR_MAX_STEPS = 300
# ----------------------------------------------------------------------------
# Input checks (sizes are checked by `procedural.check_size`, shared with the images).


def _as_rgb(image) -> np.ndarray:
  """Checks an image and returns it as contiguous uint8 (H, W, 3)."""
  if not isinstance(image, np.ndarray):
    raise ValueError(f'image must be a NumPy array, got {type(image).__name__}')
  if image.dtype != np.uint8:
    raise ValueError(f'image has dtype {image.dtype}; expected uint8 RGB (H, W, 3)')
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise ValueError(f'image has shape {image.shape}; expected (H, W, 3) RGB '
                     '(or (H, W), (H, W, 1), (H, W, 4))')
  if image.shape[0] < 4 or image.shape[1] < 4:
    raise ValueError(f'image of shape {image.shape} is too small (at least 4x4)')
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  return np.ascontiguousarray(image[..., :3])


def _check_boxes(boxes, image_hw: tuple[int, int]) -> np.ndarray:
  """Checks (N, 4) xyxy boxes against an image; returns them clipped to it, float64."""
  try:
    arr = np.asarray(boxes, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise ValueError(f'boxes must be an (N, 4) array of numbers: {e}') from e
  if arr.ndim == 1 and arr.shape == (4,):
    arr = arr[None]
  if arr.ndim != 2 or arr.shape[1] != 4 or len(arr) == 0:
    raise ValueError(f'boxes must have shape (N, 4) with N >= 1 (x1, y1, x2, y2), '
                     f'got shape {arr.shape}')
  if not np.all(np.isfinite(arr)):
    raise ValueError('boxes have a NaN or infinite coordinate')
  bad = (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
  if bad.any():
    i = int(np.argmax(bad))
    raise ValueError(f'box {i} {arr[i].tolist()} has zero or negative width or height '
                     '(boxes are x1, y1, x2, y2, not x, y, w, h)')
  h, w = image_hw
  outside = (arr[:, 2] <= 0) | (arr[:, 3] <= 0) | (arr[:, 0] >= w) | (arr[:, 1] >= h)
  if outside.any():
    i = int(np.argmax(outside))
    raise ValueError(f'box {i} {arr[i].tolist()} lies entirely outside the {w}x{h} '
                     '(width x height) image')
  return np.clip(arr, 0, [w, h, w, h])


def _check_int(value, name: str, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')
  return int(value)


# ----------------------------------------------------------------------------
# The simulator.


def _cut_with_context(image: np.ndarray, box: np.ndarray):
  """The texture around `box` (CONTEXT_SCALE x, clipped) and the box in it, normalised to [0, 1]."""
  h, w = image.shape[:2]
  c = (box[:2] + box[2:]) / 2
  half = (box[2:] - box[:2]) * CONTEXT_SCALE / 2
  x0, y0 = (max(int(math.floor(v)), 0) for v in c - half)
  x1 = min(int(math.ceil(c[0] + half[0])), w)
  y1 = min(int(math.ceil(c[1] + half[1])), h)
  texture = image[y0:y1, x0:x1]
  inner = (box - [x0, y0, x0, y0]) / [x1 - x0, y1 - y0, x1 - x0, y1 - y0]
  return texture, np.clip(inner, 0, 1)


def _distractor_rects(rng: np.random.Generator, image_hw, target_box, n: int) -> np.ndarray:
  """`n` random integer rects (x0, y0, x1, y1) of the image, each overlapping the target < 30%."""
  h, w = image_hw
  if n == 0:
    return np.zeros((0, 4), np.int64)
  k = DISTRACTOR_CANDIDATES
  lo_w, lo_h = max(2, min(10, w // 2)), max(2, min(10, h // 2))
  hi_w, hi_h = max(lo_w, w // 2), max(lo_h, h // 2)
  rw = rng.integers(lo_w, hi_w + 1, (n, k))
  rh = rng.integers(lo_h, hi_h + 1, (n, k))
  rx = np.floor(rng.random((n, k)) * (w - rw + 1)).astype(np.int64)
  ry = np.floor(rng.random((n, k)) * (h - rh + 1)).astype(np.int64)
  ix = np.clip(np.minimum(rx + rw, target_box[2]) - np.maximum(rx, target_box[0]), 0, None)
  iy = np.clip(np.minimum(ry + rh, target_box[3]) - np.maximum(ry, target_box[1]), 0, None)
  target_area = (target_box[2] - target_box[0]) * (target_box[3] - target_box[1])
  overlap = ix * iy / target_area
  aspect = np.maximum(rw / rh, rh / rw)
  ok = (overlap < MAX_DISTRACTOR_OVERLAP) & (aspect <= MAX_DISTRACTOR_ASPECT)
  # The first acceptable candidate; where none is, the least overlapping one.
  fallback = np.argmin(overlap + 10 * (aspect > MAX_DISTRACTOR_ASPECT), 1)
  pick = np.where(ok.any(1), np.argmax(ok, 1), fallback)
  rows = np.arange(n)
  x0, y0 = rx[rows, pick], ry[rows, pick]
  return np.stack([x0, y0, x0 + rw[rows, pick], y0 + rh[rows, pick]], 1)


def _fit_texture(texture: np.ndarray, max_w: float, max_h: float) -> np.ndarray:
  """Shrinks a texture (area interpolation) to the largest size it will be drawn at.

  Drawing then never shrinks it much (bilinear warping aliases when it does);
  textures within 20% of that size are kept as they are.
  """
  th, tw = texture.shape[:2]
  f = max(max_w / tw, max_h / th)
  if f >= 0.8:
    return np.ascontiguousarray(texture)
  size = (max(2, int(math.ceil(tw * f))), max(2, int(math.ceil(th * f))))
  return cv2.resize(texture, size, interpolation=cv2.INTER_AREA)


def _paste(frame: np.ndarray, texture: np.ndarray, box: np.ndarray) -> None:
  """Draws `texture` stretched over the float xyxy `box` of `frame`, with feathered edges.

  The texture's continuous extent [0, tw] x [0, th] maps exactly onto the box;
  alpha ramps linearly from 0 at the box's edges to 1 at FEATHER x its size
  inside (at least one pixel, which is then exact area coverage).
  """
  fh, fw = frame.shape[:2]
  x1, y1, x2, y2 = (float(v) for v in box)
  ix1, iy1 = max(int(math.floor(x1)), 0), max(int(math.floor(y1)), 0)
  ix2, iy2 = min(int(math.ceil(x2)), fw), min(int(math.ceil(y2)), fh)
  if ix2 <= ix1 or iy2 <= iy1:
    return
  th, tw = texture.shape[:2]
  sx, sy = (x2 - x1) / tw, (y2 - y1) / th
  # Pixel centres: source index i sits at i + 0.5, destination index j at ix1 + j + 0.5.
  m = np.array([[sx, 0, x1 - ix1 + 0.5 * sx - 0.5],
                [0, sy, y1 - iy1 + 0.5 * sy - 0.5]])
  out_w, out_h = ix2 - ix1, iy2 - iy1
  warped = cv2.warpAffine(texture, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
  cx = np.arange(ix1, ix2, dtype=np.float32) + 0.5
  cy = np.arange(iy1, iy2, dtype=np.float32) + 0.5
  rx, ry = max(1.0, FEATHER * (x2 - x1)), max(1.0, FEATHER * (y2 - y1))
  ax = np.clip((np.minimum(cx - x1, x2 - cx) + 0.5) / rx, 0, 1)
  ay = np.clip((np.minimum(cy - y1, y2 - cy) + 0.5) / ry, 0, 1)
  alpha = np.minimum(ay[:, None], ax[None, :])
  roi = frame[iy1:iy2, ix1:ix2]
  roi[...] = cv2.blendLinear(warped, roi, alpha, 1 - alpha)


def simulate(rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, length: int, *,
             target: int | None = None, size: tuple[int, int] = SIM_SIZE,
             num_distractors: int = 20, speed: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
  """Re3's simulator: a sequence of an object of `image` moving over a background.

  Args:
    rng: the only source of randomness.
    image: uint8 RGB (H, W, 3) still image, any size ((H, W), (H, W, 1) and
      (H, W, 4) are accepted too).
    boxes: (N, 4) xyxy boxes of the objects of `image` (pixels, the re3_jax
      convention); boxes partly outside the image are clipped to it.
    length: number of frames, >= 1.
    target: index of the box to track; random among the eligible ones (area at
      least 1% of the image's) if None.
    size: (height, width) of the frames.
    num_distractors: patches of the image moving around the target, half
      drawn below it and half (the extra one, if odd) above it.
    speed: factor on the rate of motion and of size change (0: still).

  Returns:
    frames: uint8 (length, height, width, 3).
    boxes: float32 (length, 4) xyxy box of the target in each frame, always
      inside [0, 0, width, height].

  Raises:
    ValueError: a malformed image, box, length, size, count or speed; a
      `target` that is out of range or under 1% of the image; no eligible box.
  """
  image = _as_rgb(image)
  ih, iw = image.shape[:2]
  boxes = _check_boxes(boxes, (ih, iw))
  length = _check_int(length, 'length', 1)
  num_distractors = _check_int(num_distractors, 'num_distractors', 0)
  out_h, out_w = procedural.check_size(size)
  if not np.isfinite(speed) or speed < 0:
    raise ValueError(f'speed must be a finite number >= 0, got {speed!r}')
  areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
  eligible = areas >= MIN_TARGET_AREA * ih * iw
  if target is None:
    if not eligible.any():
      raise ValueError(f'no box covers at least {MIN_TARGET_AREA:.0%} of the {iw}x{ih} image '
                       f'(largest: {areas.max() / (ih * iw):.2%}), so none can be a target')
    target = int(rng.choice(np.flatnonzero(eligible)))
  else:
    target = _check_int(target, 'target', 0)
    if target >= len(boxes):
      raise ValueError(f'target {target} is out of range for {len(boxes)} boxes')
    if not eligible[target]:
      raise ValueError(f'target box {target} {boxes[target].tolist()} covers '
                       f'{areas[target] / (ih * iw):.2%} of the image, under {MIN_TARGET_AREA:.0%}')
  box = boxes[target].copy()
  if rng.random() < 0.5:
    image = np.ascontiguousarray(image[:, ::-1])
    box[[0, 2]] = iw - box[[2, 0]]

  m = min(out_h, out_w)
  # The target: its texture and the size it starts at.
  texture, inner = _cut_with_context(image, box)
  th0, tw0 = texture.shape[:2]
  fx, fy = inner[2] - inner[0], inner[3] - inner[1]  # object / texture, per axis
  obj_w, obj_h = fx * tw0, fy * th0
  g = m * math.exp(rng.uniform(*np.log(TARGET_INIT_SIZE)))
  max_tw = min(MAX_TEXTURE_SIDE * out_w, TARGET_MAX_SIDE * out_w / fx)
  max_th = min(MAX_TEXTURE_SIDE * out_h, TARGET_MAX_SIDE * out_h / fy)
  scale = min(g / math.sqrt(obj_w * obj_h), max_tw / tw0, max_th / th0)
  t_w, t_h = tw0 * scale, th0 * scale
  min_tw = min(max(TARGET_MIN_SIDE * m / fx, 2.0), t_w)
  min_th = min(max(TARGET_MIN_SIDE * m / fy, 2.0), t_h)
  textures = [_fit_texture(texture, max_tw, max_th)]
  sizes = [(t_w, t_h, min_tw, max_tw, min_th, max_th)]

  # The distractors, sized relative to the target's box.
  rects = _distractor_rects(rng, (ih, iw), box, num_distractors)
  target_side = math.sqrt(obj_w * obj_h) * scale
  ratios = rng.uniform(*DISTRACTOR_INIT_SCALE, num_distractors)
  for (x0, y0, x1, y1), r in zip(rects, ratios):
    patch = image[y0:y1, x0:x1]
    pw, ph = x1 - x0, y1 - y0
    gd = float(np.clip(target_side * r, DISTRACTOR_SIZE[0] * m, DISTRACTOR_SIZE[1] * m))
    s = min(gd / math.sqrt(pw * ph), MAX_TEXTURE_SIDE * out_w / pw, MAX_TEXTURE_SIDE * out_h / ph)
    d_w, d_h = pw * s, ph * s
    lo, hi = DISTRACTOR_SIZE_RANGE
    mx_w, mx_h = min(d_w * hi, MAX_TEXTURE_SIDE * out_w), min(d_h * hi, MAX_TEXTURE_SIDE * out_h)
    textures.append(_fit_texture(patch, mx_w, mx_h))
    sizes.append((d_w, d_h, max(2.0, min(d_w * lo, d_w)), mx_w, max(2.0, min(d_h * lo, d_h)), mx_h))

  # Drawing order: half the distractors, the target, the other half.
  below = num_distractors // 2
  order = list(range(1, below + 1)) + [0] + list(range(below + 1, num_distractors + 1))
  textures = [textures[i] for i in order]
  sz = np.array([sizes[i] for i in order], np.float64).T
  world = motion.World(rng, (out_h, out_w), sz[[0, 1]], sz[[2, 4]], sz[[3, 5]], float(speed),
                       target=below)

  # Warm-up (Re3's get_data_sequence): wander until occluded, then until clear.
  for _ in range(int(rng.integers(0, WARMUP_MAX_STEPS + 1))):
    world.step()
    if world.occlusion(inner) > WARMUP_OCCLUSION:
      break
  for _ in range(CLEAR_MAX_STEPS):
    if world.occlusion(inner) < CLEAR_OCCLUSION:
      break
    world.step()

  interp = cv2.INTER_AREA if ih > out_h or iw > out_w else cv2.INTER_LINEAR
  background = cv2.resize(image, (out_w, out_h), interpolation=interp)
  frames = np.empty((length, out_h, out_w, 3), np.uint8)
  out_boxes = np.empty((length, 4), np.float32)
  for t in range(length):
    if t:
      world.step()
    frame = frames[t]
    frame[...] = background
    for tex, tbox in zip(textures, world.texture_boxes()):
      _paste(frame, tex, tbox)
    out_boxes[t] = world.target_box(inner)
  return frames, out_boxes


def procedural_sequence(rng: np.random.Generator, length: int, *,
                        size: tuple[int, int] = SIM_SIZE, **kwargs) -> tuple[np.ndarray, np.ndarray]:
  """`simulate` over a `procedural.procedural_image`: a training sequence that needs no files.

  Args:
    rng: the only source of randomness.
    length: number of frames.
    size: (height, width) of the frames.
    **kwargs: more arguments of `simulate` (target, num_distractors, speed).

  Returns:
    (frames uint8 (length, H, W, 3), boxes float32 (length, 4)), as `simulate`.
  """
  image, boxes = procedural.procedural_image(rng)
  return simulate(rng, image, boxes, length, size=size, **kwargs)
