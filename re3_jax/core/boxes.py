"""Boxes: the one box convention of re3_jax, and converters to the others.

Every box in re3_jax is ``xyxy`` in continuous, 0-based pixel coordinates,
float32: ``[x1, y1, x2, y2]`` with ``x1 < x2`` and ``y1 < y2``. The top-left
pixel of an image covers ``[0, 1) x [0, 1)``, so a box covering a whole W x H
image is ``[0, 0, W, H]``. IoU uses no ``+1``.

Other conventions are converted at the edges of the library, here:

* OTB ``x, y, w, h`` with 1-based pixels (``groundtruth_rect.txt``): pixel
  ``(x, y)`` (1-based) is the box's top-left pixel, so ``x1 = x - 1`` and
  ``x2 = x1 + w``.
* VOT 8-value polygons (the 4 corners of a rotated rectangle, 1-based like
  OTB): the axis-aligned box is the min/max of the corners, shifted by -1.
* The crop frame of the network (reference section 2): coordinates normalised
  to the 2x context window and multiplied by 10, so the window's own box is
  ``[2.5, 2.5, 7.5, 7.5]``.

All functions work on the last axis of NumPy or JAX arrays of any leading shape
and are jit-able, except the ``validate_*`` functions, which run on the host and
raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp

# The context window is the box scaled by this factor around its centre.
CONTEXT_SCALE = 2.0
# The network's output is in window-normalised coordinates times this factor.
OUTPUT_SCALE = 10.0
# The window's own box in the crop frame: [2.5, 2.5, 7.5, 7.5].
CENTERED_BOX = (2.5, 2.5, 7.5, 7.5)


def _xp(x):
  return np if isinstance(x, (np.ndarray, list, tuple, float, int)) else jnp


def width_height(boxes):
  """Returns (..., 2) widths and heights of (..., 4) xyxy boxes."""
  return boxes[..., 2:] - boxes[..., :2]


def centers(boxes):
  """Returns (..., 2) centres of (..., 4) xyxy boxes."""
  return (boxes[..., :2] + boxes[..., 2:]) / 2


def from_center_size(center, size):
  """(..., 2) centres and (..., 2) sizes -> (..., 4) xyxy boxes."""
  xp = _xp(center)
  center, size = xp.asarray(center), xp.asarray(size)
  return xp.concatenate([center - size / 2, center + size / 2], axis=-1)


def context_window(boxes, scale: float = CONTEXT_SCALE):
  """The crop window of (..., 4) boxes: each box scaled by `scale` about its centre.

  Width and height are scaled independently (the aspect ratio of the window is
  the box's; the crop warps it to a square).
  """
  xp = _xp(boxes)
  boxes = xp.asarray(boxes)
  return from_center_size(centers(boxes), width_height(boxes) * scale)


def _origin_and_size(windows, xp):
  """(..., 4) windows -> their (x1, y1, x1, y1) and (w, h, w, h), each (..., 4)."""
  origin = xp.concatenate([windows[..., :2], windows[..., :2]], axis=-1)
  size = xp.concatenate([width_height(windows)] * 2, axis=-1)
  return origin, size


def to_crop_frame(boxes, windows):
  """Image-frame boxes -> the network's crop frame (x10 normalised) of `windows`.

  Args:
    boxes: (..., 4) xyxy boxes in image pixels.
    windows: (..., 4) xyxy crop windows in image pixels (see `context_window`).

  Returns:
    (..., 4) boxes in the crop frame, where `windows` itself is [0, 0, 10, 10].
  """
  xp = _xp(boxes)
  origin, size = _origin_and_size(xp.asarray(windows), xp)
  return (xp.asarray(boxes) - origin) / size * OUTPUT_SCALE


def from_crop_frame(outputs, windows):
  """The network's crop-frame outputs -> image-frame boxes (inverse of `to_crop_frame`)."""
  xp = _xp(outputs)
  origin, size = _origin_and_size(xp.asarray(windows), xp)
  return xp.asarray(outputs) / OUTPUT_SCALE * size + origin


def from_otb(xywh):
  """OTB ``[x, y, w, h]`` (1-based pixels) -> xyxy."""
  xp = _xp(xywh)
  xywh = xp.asarray(xywh, dtype=xp.float32)
  x1y1 = xywh[..., :2] - 1
  return xp.concatenate([x1y1, x1y1 + xywh[..., 2:]], axis=-1)


def to_otb(boxes):
  """xyxy -> OTB ``[x, y, w, h]`` (1-based pixels)."""
  xp = _xp(boxes)
  boxes = xp.asarray(boxes)
  return xp.concatenate([boxes[..., :2] + 1, width_height(boxes)], axis=-1)


def from_vot_polygon(polygons):
  """VOT ``[x1, y1, ..., x4, y4]`` corners (1-based) -> the enclosing xyxy box.

  Also accepts 4-value VOT rectangles ``[x, y, w, h]``, which are OTB boxes.
  """
  xp = _xp(polygons)
  polygons = xp.asarray(polygons, dtype=xp.float32)
  if polygons.shape[-1] == 4:
    return from_otb(polygons)
  if polygons.shape[-1] != 8:
    raise ValueError(f'a VOT region has 4 or 8 values, got shape {polygons.shape}')
  xs, ys = polygons[..., 0::2], polygons[..., 1::2]
  return xp.stack([xs.min(-1), ys.min(-1), xs.max(-1), ys.max(-1)], axis=-1) - 1


def to_vot_polygon(boxes):
  """xyxy -> VOT 8-value polygon (1-based corners, clockwise from top-left)."""
  xp = _xp(boxes)
  b = xp.asarray(boxes) + 1
  x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
  return xp.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=-1)


def area(boxes):
  """(..., 4) -> (...) areas; zero for empty or inverted boxes."""
  xp = _xp(boxes)
  wh = xp.maximum(width_height(xp.asarray(boxes)), 0)
  return wh[..., 0] * wh[..., 1]


def iou(a, b):
  """Intersection over union of (..., 4) and (..., 4) boxes (broadcasting), no +1.

  Empty or inverted boxes have zero area; the IoU of two empty boxes is 0.
  """
  xp = _xp(a)
  a, b = xp.asarray(a), xp.asarray(b)
  lo = xp.maximum(a[..., :2], b[..., :2])
  hi = xp.minimum(a[..., 2:], b[..., 2:])
  inter = area(xp.concatenate([lo, hi], axis=-1))
  union = area(a) + area(b) - inter
  return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0.0)


def validate_box(box, image_size=None, name: str = 'box') -> np.ndarray:
  """Checks one user-given xyxy box on the host and returns it as float32 (4,).

  The checks hold for the float32 values the tracker computes with: a
  coordinate beyond float32's range (~3.4e38) is rejected, not turned into
  infinity, and a width or height that rounds to 0 in float32 is refused.

  Args:
    box: 4 numbers, xyxy pixels.
    image_size: optional (height, width) of the image the box is given in; the
      box must overlap it.
    name: how to name the box in error messages.

  Raises:
    ValueError: naming the box, if it is not 4 finite numbers, has zero or
      negative width or height, or lies entirely outside the image.
  """
  try:
    arr = np.asarray(box, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise ValueError(f'{name} {box!r} is not 4 numbers (x1, y1, x2, y2)') from e
  if arr.shape != (4,):
    raise ValueError(f'{name} {box!r} must have 4 values (x1, y1, x2, y2), got shape {arr.shape}')
  if not np.all(np.isfinite(arr)):
    raise ValueError(f'{name} {arr.tolist()} has a NaN or infinite coordinate')
  with np.errstate(over='ignore'):
    arr32 = arr.astype(np.float32)
  if not np.all(np.isfinite(arr32)):
    raise ValueError(f'{name} {arr.tolist()} has a coordinate beyond float32\'s range '
                     f'(+-{np.finfo(np.float32).max:.3g})')
  w, h = arr32[2] - arr32[0], arr32[3] - arr32[1]
  if not (w > 0 and h > 0):
    raise ValueError(
        f'{name} {arr.tolist()} has width {w:g} and height {h:g} (in float32); both must be > 0 '
        '(boxes are x1, y1, x2, y2, not x, y, w, h)')
  if image_size is not None:
    ih, iw = image_size
    if arr32[2] <= 0 or arr32[3] <= 0 or arr32[0] >= iw or arr32[1] >= ih:
      raise ValueError(
          f'{name} {arr.tolist()} lies entirely outside the {iw}x{ih} (width x height) image')
  return arr32


def validate_boxes(boxes, image_size=None, name: str = 'starting boxes') -> np.ndarray:
  """Checks N >= 1 user-given xyxy boxes (`validate_box` each) and returns (N, 4) float32.

  Raises:
    ValueError: naming the array (its shape if not (N, 4), N >= 1) or the bad
      box by index.
  """
  try:
    shape = np.shape(boxes)
  except ValueError as e:  # ragged nesting
    raise ValueError(f'{name} must be an (N, 4) array of xyxy boxes: {e}') from e
  check_boxes_shape(shape, name)
  return np.stack([validate_box(b, image_size, f'{name}[{i}]') for i, b in enumerate(boxes)])


def check_boxes_shape(shape, name: str = 'starting boxes') -> None:
  """Raises a ValueError naming `name` unless `shape` is (N, 4) with N >= 1."""
  shape = tuple(shape)
  if len(shape) != 2 or shape[1] != 4 or shape[0] < 1:
    hint = ' (one box: give [box], shape (1, 4))' if shape == (4,) else ''
    raise ValueError(f'{name} must be an (N, 4) array of xyxy boxes with N >= 1, got shape '
                     f'{shape}{hint}')


# How a box is written as text (the command lines' --box_format): its fields, and what they mean.
BOX_FORMATS = {
    'xyxy': ('x1,y1,x2,y2', 'corners, 0-based pixels: the convention of this package'),
    'xywh': ('x,y,w,h', "top-left corner (0-based pixels) and size: OpenCV's cv2.selectROI "
             'and trackers'),
    'otb': ('x,y,w,h', 'as a line of an OTB or GOT-10k ground-truth file: 1-based top-left '
            'corner and size'),
}


def parse_box(text: str, box_format: str = 'xyxy') -> np.ndarray:
  """Parses a box written as `box_format` says (`BOX_FORMATS`; commas, optional spaces) into a
  (4,) float32 xyxy box: ``x1,y1,x2,y2`` by default, or ``x,y,w,h`` (``xywh``: 0-based as
  OpenCV's; ``otb``: 1-based as OTB's files).

  Raises:
    ValueError: naming `text`, if it is not 4 finite numbers with a width and height > 0, or
      naming an unknown `box_format`.
  """
  if box_format not in BOX_FORMATS:
    raise ValueError(f'unknown box format {box_format!r}: one of {", ".join(BOX_FORMATS)}')
  fields = BOX_FORMATS[box_format][0]
  parts = [f.strip() for f in str(text).split(',')]
  try:
    values = [float(f) for f in parts]
  except ValueError:
    raise ValueError(f'malformed box {text!r}: expected 4 comma-separated numbers '
                     f'{fields}') from None
  if len(values) != 4:
    raise ValueError(f'malformed box {text!r}: expected 4 comma-separated numbers {fields}, '
                     f'got {len(values)}')
  if box_format == 'xyxy':
    return validate_box(values, name=f'box {text!r}')
  x, y, w, h = values
  if not (w > 0 and h > 0):  # NaN too; named in the user's own fields
    raise ValueError(f'box {text!r} ({fields}) has width {w:g} and height {h:g}; both must be '
                     'finite and > 0')
  xyxy = from_otb(np.asarray(values)) if box_format == 'otb' else [x, y, x + w, y + h]
  return validate_box(xyxy, name=f'box {text!r} ({box_format} {fields}), as x1,y1,x2,y2')
