"""Boxes drawn by hand on a frame: OpenCV's `cv2.selectROIs` where a display exists.

`python -m re3_jax.track --box=select` shows the first frame and takes the boxes drawn on it
(drag a box, Enter or Space to keep it, again for more, Esc to finish), as OpenCV's own
tracker samples do. Where no window can open (a headless OpenCV build, as the project's
locked `opencv-contrib-python-headless`, or no display) it is one error naming the reason and
the flags to use instead.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import cv2
import numpy as np

WINDOW = 're3_jax: draw each box, Enter to keep it, Esc when done'


def unavailable_reason(build_information: str | None = None,
                       environ: dict | None = None, platform: str | None = None) -> str | None:
  """Why no selection window can open here, or None when one can."""
  info = cv2.getBuildInformation() if build_information is None else build_information
  environ = os.environ if environ is None else environ
  platform = sys.platform if platform is None else platform
  gui = next((line.split(':', 1)[1].strip() for line in info.splitlines()
              if line.strip().startswith('GUI:')), '')
  if not gui or gui.upper() == 'NONE':
    return (f'OpenCV {cv2.__version__} was built without a GUI (GUI: {gui or "not listed"}; '
            'the headless wheels, as opencv-contrib-python-headless)')
  if platform.startswith('linux') and not (environ.get('DISPLAY') or
                                           environ.get('WAYLAND_DISPLAY')):
    return 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)'
  return None


def require_window(name: str) -> None:
  """Raises ValueError, naming the reason and the flags to use instead, where no selection
  window can open; `name` is the input whose first frame it would show."""
  reason = unavailable_reason()
  if reason is not None:
    raise ValueError(f'--box=select needs a window to draw the boxes on the first frame of '
                     f'{name}, and none can open: {reason}; give the boxes as '
                     '--box=x1,y1,x2,y2 (or --box_format=xywh --box=x,y,w,h)')


def select_boxes(frame: np.ndarray, name: str,
                 select: Callable[[str, np.ndarray], np.ndarray] | None = None) -> list:
  """The xyxy boxes drawn on `frame` (uint8 RGB), at least one.

  Args:
    frame: the first frame, uint8 (H, W, 3) RGB.
    name: what the frame is (named in errors).
    select: (window name, BGR image) -> (N, 4) x, y, w, h rows, as `cv2.selectROIs`
      (the default, which needs a window; tests give another).

  Raises:
    ValueError: no window can open here (the reason, and --box to use instead), or no box
      was drawn.
  """
  if select is None:
    require_window(name)

    def select(window, image):
      try:
        return cv2.selectROIs(window, image, showCrosshair=True, fromCenter=False)
      finally:
        cv2.destroyWindow(window)
  rows = np.asarray(select(WINDOW, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)),
                    np.float64).reshape(-1, 4)
  rows = rows[(rows[:, 2] > 0) & (rows[:, 3] > 0)]  # a click without a drag draws nothing
  if not len(rows):
    raise ValueError(f'--box=select: no box was drawn on the first frame of {name}')
  return [[x, y, x + w, y + h] for x, y, w, h in rows.tolist()]
