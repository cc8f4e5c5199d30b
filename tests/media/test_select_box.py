"""`--box=select`: boxes drawn on the first frame (`re3_jax.media.select_box`)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from re3_jax.media import select_box
from re3_jax.media import synthetic_clips

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS='cpu')
GUI_INFO = 'Video I/O:\n  GUI:                           GTK3\n'
HEADLESS_INFO = '  GUI:                           NONE\n'


def test_a_window_opens_only_with_a_gui_build_and_a_display():
  assert select_box.unavailable_reason(GUI_INFO, {'DISPLAY': ':0'}, 'linux') is None
  assert select_box.unavailable_reason(GUI_INFO, {'WAYLAND_DISPLAY': 'w'}, 'linux') is None
  assert select_box.unavailable_reason(GUI_INFO, {}, 'darwin') is None
  assert 'no display' in select_box.unavailable_reason(GUI_INFO, {}, 'linux')
  assert 'without a GUI (GUI: NONE' in select_box.unavailable_reason(
      HEADLESS_INFO, {'DISPLAY': ':0'}, 'linux')
  assert 'not listed' in select_box.unavailable_reason('nothing', {'DISPLAY': ':0'}, 'linux')


def test_selected_rows_become_xyxy_boxes_and_the_frame_is_shown_as_bgr():
  frame = np.zeros((40, 60, 3), np.uint8)
  frame[..., 0] = 255  # red in RGB
  shown = []

  def select(window, image):
    shown.append((window, image))
    return np.array([[5, 6, 10, 20], [1, 1, 0, 0], [30, 2, 4, 5]])  # a click draws nothing

  boxes = select_box.select_boxes(frame, 'clip.mp4', select=select)
  assert boxes == [[5, 6, 15, 26], [30, 2, 34, 7]]
  assert shown[0][0] == select_box.WINDOW and shown[0][1][0, 0].tolist() == [0, 0, 255]
  with pytest.raises(ValueError, match='no box was drawn on the first frame of clip.mp4'):
    select_box.select_boxes(frame, 'clip.mp4', select=lambda w, i: np.zeros((0, 4)))


def test_headless_selection_is_one_error_naming_the_reason(monkeypatch):
  monkeypatch.setattr(select_box, 'unavailable_reason', lambda: 'no display (test)')
  with pytest.raises(ValueError, match=r'first frame of v.mp4, and none can open: no display '
                     r'\(test\); give the boxes as --box=x1,y1,x2,y2'):
    select_box.select_boxes(np.zeros((4, 4, 3), np.uint8), 'v.mp4')


def _clip(tmp_path):
  clip = synthetic_clips.synthetic_clip(12, seed=3, size=(120, 160))
  path = tmp_path / 'clip.mp4'
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 15, (160, 120))
  for frame in clip.frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  return clip, path


def test_track_box_select_uses_the_drawn_box(tmp_path):
  # A display stood in for: cv2.selectROIs returns what a user drew (the clip's first box).
  clip, path = _clip(tmp_path)
  x1, y1, x2, y2 = clip.boxes[0].tolist()
  script = textwrap.dedent(f'''\
      import runpy, sys, cv2, numpy as np
      from re3_jax.media import select_box
      select_box.unavailable_reason = lambda *a, **k: None
      drawn = []
      def select_rois(window, image, **kwargs):
        drawn.append(image.shape)
        return np.array([[{x1}, {y1}, {x2 - x1}, {y2 - y1}]])
      cv2.selectROIs = select_rois
      cv2.destroyWindow = lambda window: None
      sys.argv = ['track'] + sys.argv[1:]
      try:
        runpy.run_module('re3_jax.track', run_name='__main__', alter_sys=True)
      finally:
        print('shown', drawn)
  ''')
  run = subprocess.run([sys.executable, '-c', script, f'--input={path}', '--box=select',
                        '--tracker.random_model=tiny', '--boxes_out=b.csv'], cwd=tmp_path,
                       env=ENV, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  assert 'shown [(120, 160, 3)]' in run.stdout
  rows = np.loadtxt(tmp_path / 'b.csv', delimiter=',', skiprows=1, ndmin=2)
  np.testing.assert_array_equal(rows[0, 2:6], clip.boxes[0])


@pytest.mark.parametrize('extra, message', [
    ([], 'none can open: OpenCV'),
    (['--box=1,2,3,4'], '--box=select draws every box: give it alone'),
])
def test_track_box_select_errors_before_any_set_up(tmp_path, extra, message):
  # This test environment's OpenCV is the headless build: the real reason is named.
  if extra == [] and select_box.unavailable_reason() is None:
    pytest.skip('a window can open here')
  _, path = _clip(tmp_path)
  run = subprocess.run([sys.executable, '-m', 're3_jax.track', f'--input={path}',
                        '--box=select'] + extra, cwd=tmp_path, env=ENV, capture_output=True,
                       text=True, timeout=300)
  assert run.returncode == 1, run.stderr[-3000:]
  assert message in run.stderr and 'Traceback' not in run.stderr
  assert len(run.stderr.strip().splitlines()) == 1, run.stderr
