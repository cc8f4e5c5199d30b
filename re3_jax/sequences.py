"""Tracking sequences: a frames + ground-truth container, benchmark folder readers,
and a procedural synthetic clip that needs no files.

Readers here cover the two layouts of ``../shared/sequences``:

* OTB: ``groundtruth_rect.txt`` (``x,y,w,h`` per line, 1-based; comma, tab or
  space separated) and frames in ``img/``.
* VOT: ``groundtruth.txt`` (8-value polygons or 4-value rectangles) and frames
  in ``imgs/`` or ``color/`` or beside it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

import numpy as np
from PIL import Image

from re3_jax import boxes as boxes_lib

_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


@dataclasses.dataclass(frozen=True)
class Sequence:
  """A clip with one tracked object.

  Attributes:
    name: the sequence's name.
    frames: (T, H, W, 3) uint8 RGB frames.
    boxes: (T, 4) float32 xyxy ground truth, one per frame.
  """
  name: str
  frames: np.ndarray
  boxes: np.ndarray


def read_groundtruth(path: str | pathlib.Path) -> np.ndarray:
  """Reads OTB or VOT ground truth into (T, 4) xyxy boxes.

  Raises:
    ValueError: naming the file and line, for a line that is not 4 or 8
      numbers or a file with no boxes.
  """
  path = pathlib.Path(path)
  rows = []
  for lineno, line in enumerate(path.read_text().splitlines(), 1):
    if not line.strip():
      continue
    fields = [f for f in re.split(r'[,\s]+', line.strip()) if f]
    try:
      values = [float(f) for f in fields]
    except ValueError:
      raise ValueError(f'{path}:{lineno}: not numbers: {line!r}') from None
    if len(values) not in (4, 8):
      raise ValueError(f'{path}:{lineno}: expected 4 (x,y,w,h) or 8 (polygon) values, '
                       f'got {len(values)}: {line!r}')
    rows.append(boxes_lib.from_vot_polygon(np.asarray(values, np.float32)))
  if not rows:
    raise ValueError(f'{path} holds no boxes')
  return np.stack(rows).astype(np.float32)


def read_frame(path: str | pathlib.Path) -> np.ndarray:
  """Reads one image file as (H, W, 3) uint8 RGB, naming the file on failure."""
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert('RGB'))
  except (OSError, ValueError) as e:
    raise ValueError(f'cannot read frame {path}: {e}') from e


def _frame_paths(folder: pathlib.Path) -> list[pathlib.Path]:
  for sub in ('img', 'imgs', 'color', '.'):
    d = folder / sub
    if d.is_dir():
      paths = sorted(p for p in d.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
      if paths:
        return paths
  raise ValueError(f'{folder} has no frames in img/, imgs/, color/ or itself')


def load_sequence(folder: str | pathlib.Path, max_frames: int | None = None) -> Sequence:
  """Loads an OTB- or VOT-layout sequence folder.

  Args:
    folder: the sequence folder.
    max_frames: read only the first `max_frames` frames.

  Raises:
    ValueError: no ground truth or frames, an unreadable frame, or a ground
      truth line count that does not match the frame count (each named).
  """
  folder = pathlib.Path(folder)
  gt_path = next((folder / n for n in ('groundtruth_rect.txt', 'groundtruth.txt')
                  if (folder / n).exists()), None)
  if gt_path is None:
    raise ValueError(f'{folder} has no groundtruth_rect.txt or groundtruth.txt')
  gt = read_groundtruth(gt_path)
  paths = _frame_paths(folder)
  if len(paths) != len(gt):
    raise ValueError(f'{folder}: {len(paths)} frames but {len(gt)} ground-truth lines in '
                     f'{gt_path.name}')
  if max_frames is not None:
    paths, gt = paths[:max_frames], gt[:max_frames]
  frames = [read_frame(p) for p in paths]
  shapes = {f.shape for f in frames}
  if len(shapes) > 1:
    raise ValueError(f'{folder}: frames of different sizes {sorted(shapes)}')
  return Sequence(folder.name, np.stack(frames), gt)


def _smooth_noise(rng, shape, cells):
  """Smooth random texture: low-resolution noise upsampled bilinearly."""
  h, w = shape
  low = rng.uniform(0, 1, (cells + 1, cells + 1, 3))
  ys = np.linspace(0, cells, h)
  xs = np.linspace(0, cells, w)
  y0 = np.minimum(ys.astype(int), cells - 1)
  x0 = np.minimum(xs.astype(int), cells - 1)
  fy = (ys - y0)[:, None, None]
  fx = (xs - x0)[None, :, None]
  top = low[y0][:, x0] * (1 - fx) + low[y0][:, x0 + 1] * fx
  bottom = low[y0 + 1][:, x0] * (1 - fx) + low[y0 + 1][:, x0 + 1] * fx
  return top * (1 - fy) + bottom * fy


def synthetic_clip(n_frames: int, seed: int = 0, size=(240, 360)) -> Sequence:
  """A procedural clip: a textured object moving and resizing over a textured background.

  The object bounces off the borders; its velocity and size drift randomly.
  Deterministic given `seed`. Needs no files.
  """
  rng = np.random.default_rng(seed)
  h, w = size
  background = (_smooth_noise(rng, size, 6) * 160 + 40).astype(np.float32)
  obj_tex = _smooth_noise(rng, (64, 64), 4) * 255
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
    box = np.array([cx - obj_w / 2, cy - obj_h / 2, cx + obj_w / 2, cy + obj_h / 2], np.float32)
    frame = background.copy()
    x1, y1, x2, y2 = np.round(box).astype(int)
    ty = np.linspace(0, 63, y2 - y1).astype(int)
    tx = np.linspace(0, 63, x2 - x1).astype(int)
    frame[y1:y2, x1:x2] = obj_tex[ty][:, tx]
    frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    boxes.append(np.array([x1, y1, x2, y2], np.float32))
  return Sequence(f'synthetic_{seed}', np.stack(frames), np.stack(boxes))
