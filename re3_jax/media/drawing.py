"""Drawing on frames: boxes with labels in per-object colours, resizing, contact sheets.

`annotate` draws the boxes of one frame (the tracking outputs' videos); `contact_sheet`
lays out evenly spaced frames of sequences in a grid with their boxes drawn (the
demo's output, the simulator's sheet: ``python -m re3_jax.simulate --out=F``).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# One colour per object (matplotlib's tab10), reused cyclically.
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def color(index: int) -> tuple[int, int, int]:
  """The RGB colour of object `index`."""
  return COLORS[index % len(COLORS)]


def _font(size: int):
  try:
    return ImageFont.load_default(size=size)
  except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font.
    return ImageFont.load_default()


def _dashed_rectangle(draw, box, rgb, width: int) -> None:
  """The outline `draw.rectangle(box, outline=rgb, width=width)` draws, in dashes: the same
  bands of pixels, every other stretch of 3 widths left out (corners drawn)."""
  x1, y1, x2, y2 = (int(v) for v in box)  # truncated, as PIL's rectangle does
  dash = 3 * width
  bands = ((x1, y1, x2, y1 + width - 1), (x1, y2 - width + 1, x2, y2),  # top, bottom
           (x1, y1, x1 + width - 1, y2), (x2 - width + 1, y1, x2, y2))  # left, right
  for k, (a1, b1, a2, b2) in enumerate(bands):
    if k < 2:  # horizontal: dashes along x
      for x in range(a1, a2 + 1, 2 * dash):
        draw.rectangle([x, b1, min(x + dash - 1, a2), b2], fill=rgb)
    else:
      for y in range(b1, b2 + 1, 2 * dash):
        draw.rectangle([a1, y, a2, min(y + dash - 1, b2)], fill=rgb)


def annotate(frame: np.ndarray, boxes: np.ndarray, labels: Sequence[str],
             colors: Sequence[tuple[int, int, int]] | None = None, *,
             scores: Sequence[float] | None = None,
             score_threshold: float | None = None) -> np.ndarray:
  """Draws each box in its colour with its label on a copy of an RGB frame.

  Args:
    frame: (H, W, 3) uint8 RGB.
    boxes: (N, 4) xyxy pixel boxes.
    labels: N texts drawn at the boxes' top-left corners.
    colors: N RGB colours (default: `color(i)` for box i).
    scores: N confidences (the tracker's score): each finite one is written after its
      label with 2 decimals (``car: 0.83``) (a NaN, a box without a score, adds nothing).
    score_threshold: a box whose score is below it is drawn dashed (the tracker has
      most likely lost its target); the others, and all without `scores`, solid.

  Returns:
    The annotated (H, W, 3) uint8 frame.
  """
  image = Image.fromarray(np.asarray(frame, np.uint8))
  draw = ImageDraw.Draw(image)
  h, w = frame.shape[:2]
  width = max(2, round(min(h, w) / 160))
  font = _font(max(10, round(min(h, w) / 24)))
  scores = [float('nan')] * len(labels) if scores is None else [float(s) for s in scores]
  for i, (box, label, score) in enumerate(zip(np.asarray(boxes, np.float64), labels, scores)):
    rgb = tuple(colors[i]) if colors is not None else color(i)
    x1, y1, x2, y2 = box.tolist()
    if score_threshold is not None and score < score_threshold:  # False for NaN
      _dashed_rectangle(draw, box, rgb, width)
    else:
      draw.rectangle([x1, y1, x2, y2], outline=rgb, width=width)
    if np.isfinite(score):
      label = f'{label}: {score:.2f}'
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    tw, th = right - left + 2 * width, bottom - top + 2 * width
    tx = min(max(x1, 0), max(w - tw, 0))
    ty = y1 - th if y1 - th >= 0 else max(y1, 0)  # above the box, else inside it
    draw.rectangle([tx, ty, tx + tw, ty + th], fill=rgb)
    ink = (0, 0, 0) if sum(rgb) > 382 else (255, 255, 255)
    draw.text((tx + width - left, ty + width - top), label, fill=ink, font=font)
  return np.asarray(image)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
  """(height, width) scaled by `scale`, rounded, at least 1 pixel each: `resize`'s size."""
  return max(1, round(height * scale)), max(1, round(width * scale))


def resize(frame: np.ndarray, scale: float) -> np.ndarray:
  """`frame` scaled by `scale` (`scaled_size`); unchanged for scale 1."""
  if scale == 1:
    return frame
  h, w = scaled_size(*frame.shape[:2], scale)
  return np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BILINEAR))


GREEN, RED = (0, 255, 0), (255, 0, 0)


def _check_int(value, name: str, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')
  return int(value)


def contact_sheet(sequences: Sequence[tuple[np.ndarray, ...]], *, frames_per_row: int = 8,
                  thumb: int = 128,
                  colors: Sequence[tuple[int, int, int]] = (GREEN, RED)) -> np.ndarray:
  """A grid image of sequences: one row each, evenly spaced frames with their boxes drawn.

  Args:
    sequences: ``(frames, boxes, ...)`` tuples: uint8 (T, H, W, 3) frames and one or
      more (T, 4) xyxy box tracks (e.g. the truth, then a tracker's boxes); track k
      is drawn in ``colors[k]``. Boxes with a non-finite value are not drawn.
    frames_per_row: frames shown per sequence (all of them if fewer; first and
      last always shown).
    thumb: the side of each square cell; frames are scaled to fit, keeping their
      aspect ratio (boxes are drawn ``max(1, thumb // 128)`` pixels wide).
    colors: the RGB colour of each box track.

  Returns:
    uint8 RGB (rows * (thumb + 2) + 2, frames_per_row * (thumb + 2) + 2, 3), cells
    on a dark grey ground.

  Raises:
    ValueError: no sequence, frames that are not uint8 (T, H, W, 3), box tracks
      that are not (T, 4), more tracks than colours, or a bad count.
  """
  frames_per_row = _check_int(frames_per_row, 'frames_per_row', 1)
  thumb = _check_int(thumb, 'thumb', 8)
  if not len(sequences):
    raise ValueError('contact_sheet needs at least one sequence')
  gap = 2
  width = max(1, thumb // 128)
  sheet = np.full((len(sequences) * (thumb + gap) + gap, frames_per_row * (thumb + gap) + gap, 3),
                  32, np.uint8)
  for row, (frames, *tracks) in enumerate(sequences):
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
      raise ValueError(f'sequence {row}: frames must be uint8 (T, H, W, 3), got {frames.dtype} '
                       f'{frames.shape}')
    tracks = [np.asarray(b, np.float64) for b in tracks]
    for boxes in tracks:
      if boxes.shape != (len(frames), 4):
        raise ValueError(f'sequence {row}: boxes must have shape ({len(frames)}, 4), '
                         f'got {boxes.shape}')
    if len(tracks) > len(colors):
      raise ValueError(f'sequence {row}: {len(tracks)} box tracks but {len(colors)} colours')
    n = len(frames)
    picks = np.round(np.linspace(0, n - 1, min(n, frames_per_row))).astype(int)
    fh, fw = frames.shape[1:3]
    f = thumb / max(fh, fw)
    tw, th = max(1, round(fw * f)), max(1, round(fh * f))
    ox, oy = (thumb - tw) // 2, (thumb - th) // 2
    for col, i in enumerate(picks):
      cell = np.ascontiguousarray(cv2.resize(frames[i], (tw, th), interpolation=cv2.INTER_AREA))
      for boxes, rgb in zip(tracks, colors):
        if not np.isfinite(boxes[i]).all():
          continue
        b = np.clip(boxes[i] * [tw / fw, th / fh, tw / fw, th / fh], -thumb, 2 * thumb)
        p1 = tuple(int(round(v * 4)) for v in b[:2])  # 2 bits of sub-pixel precision
        p2 = tuple(int(round(v * 4)) for v in b[2:])
        cv2.rectangle(cell, p1, p2, tuple(int(c) for c in rgb), width, cv2.LINE_8, 2)
      y, x = gap + row * (thumb + gap) + oy, gap + col * (thumb + gap) + ox
      sheet[y:y + th, x:x + tw] = cell
  return sheet
