"""OTB's spatial robustness evaluation (SRE): one-pass runs from 12 perturbed starts.

Wu, Lim and Yang's benchmark (CVPR 2013, TPAMI 2015) starts each tracker from the first
true box and from 12 perturbations of it, the ``shiftTypeSet`` of its MATLAB toolkit
(``shiftInitBB.m``), and averages the one-pass scores over all of them:

* ``left``, ``right``, ``up``, ``down``: the box moved by ``ceil(0.1 * w)`` (or ``h``) pixels;
* ``topLeft``, ``topRight``, ``bottomLeft``, ``bottomRight``: that corner pushed outwards by
  10% of the size (rounded), the opposite corner kept: the box grows by ~10% each way;
* ``scale_8``, ``scale_9``, ``scale_11``, ``scale_12``: the box scaled by 0.8 ... 1.2 about
  its centre, then rounded;

then clipped to the image as the toolkit does (the top-left corner to pixel 1, the width and
height cut at the right and bottom edges). The arithmetic is the toolkit's, in its 1-based
``[x, y, w, h]`` with MATLAB's ``round`` (half away from zero), converted from and back to
this project's 0-based xyxy boxes (`re3_jax.core.boxes`).

What it is for here: on a few sequences, a tracker whose one pass hangs on a coin flip (the
box taken by a neighbour or not) reads very differently after a change too small to matter;
averaged over 13 starts (``--protocol=ope,sre``) the flip counts in proportion to how often
it happens.
"""

from __future__ import annotations

import math

import numpy as np

from re3_jax.core import boxes as boxes_lib

# The toolkit's shiftTypeSet, in its order.
SHIFTS = ('left', 'right', 'up', 'down', 'topLeft', 'topRight', 'bottomLeft', 'bottomRight',
          'scale_8', 'scale_9', 'scale_11', 'scale_12')

_SCALES = {'scale_8': 0.8, 'scale_9': 0.9, 'scale_11': 1.1, 'scale_12': 1.2}


def _round(x: float) -> float:
  """MATLAB's ``round``: halves away from zero (Python's ``round`` takes them to even)."""
  return math.copysign(math.floor(abs(x) + 0.5), x)


def shift_rect(rect, shift: str, image_height: int, image_width: int) -> np.ndarray:
  """``shiftInitBB.m``: one of `SHIFTS` applied to a 1-based OTB ``[x, y, w, h]``, clipped.

  Raises:
    ValueError: an unknown shift (listing `SHIFTS`).
  """
  x, y, w, h = (float(v) for v in rect)
  br_x, br_y = x + w - 1, y + h - 1
  if shift in _SCALES:
    cx, cy = x + w / 2, y + h / 2
    w, h = _SCALES[shift] * w, _SCALES[shift] * h
    x, y, w, h = _round(cx - w / 2), _round(cy - h / 2), _round(w), _round(h)
  elif shift in ('left', 'right'):
    x += (-1 if shift == 'left' else 1) * math.ceil(0.1 * w)
  elif shift in ('up', 'down'):
    y += (-1 if shift == 'up' else 1) * math.ceil(0.1 * h)
  elif shift in ('topLeft', 'topRight', 'bottomLeft', 'bottomRight'):
    if shift.startswith('top'):
      y = _round(y - 0.1 * h)
    else:
      br_y = _round(br_y + 0.1 * h)
    if shift.endswith('Left'):
      x = _round(x - 0.1 * w)
    else:
      br_x = _round(br_x + 0.1 * w)
    w, h = br_x - x + 1, br_y - y + 1
  else:
    raise ValueError(f'unknown SRE shift {shift!r}; known: {", ".join(SHIFTS)}')
  x, y = max(x, 1.0), max(y, 1.0)
  if x + w - 1 > image_width:
    w = image_width - x + 1
  if y + h - 1 > image_height:
    h = image_height - y + 1
  return np.array([x, y, w, h])


def start_box(box, shift: str, image_size: tuple[int, int]) -> np.ndarray:
  """The SRE start `shift` of a true xyxy box (0-based pixels) in an image of
  ``(height, width)``: a float32 xyxy box.

  Raises:
    ValueError: an unknown shift, or a box the clipping leaves empty (a true box outside
      the image).
  """
  rect = boxes_lib.to_otb(np.asarray(box, np.float64))
  shifted = boxes_lib.from_otb(shift_rect(rect, shift, *image_size))
  if not (shifted[2] > shifted[0] and shifted[3] > shifted[1]):
    raise ValueError(f'SRE start {shift} of the box {np.asarray(box).tolist()} is empty in '
                     f'an image of {image_size[1]}x{image_size[0]}')
  return shifted
