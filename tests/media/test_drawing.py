"""Tests of drawing on frames: annotation and contact sheets (re3_jax.media.drawing)."""

import numpy as np
import pytest

from re3_jax.media import drawing
from re3_jax.media import synthetic_clips


def test_annotate_draws_each_box_in_its_colour_with_a_label():
  frame = np.full((120, 160, 3), 128, np.uint8)
  boxes = np.array([[20, 40, 70, 100], [90, 30, 150, 90]], np.float32)
  out = drawing.annotate(frame, boxes, ['0', 'car'])
  assert out.shape == frame.shape and (frame == 128).all()  # the input is not modified
  assert tuple(out[70, 20]) == drawing.color(0)  # left edge of box 0
  assert tuple(out[60, 150]) == drawing.color(1)  # right edge of box 1
  assert tuple(out[110, 5]) == (128, 128, 128)
  # The labels sit on filled tabs of the box's colour above the boxes, with text in them
  # (white on dark colours, black on light ones).
  tab0, tab1 = out[:40, 20:70].reshape(-1, 3), out[:30, 90:150].reshape(-1, 3)
  assert (tab0 == drawing.color(0)).all(-1).sum() > 50 and (tab0 > 200).all(-1).sum() > 3
  assert (tab1 == drawing.color(1)).all(-1).sum() > 50 and (tab1 < 60).all(-1).sum() > 3


def test_annotate_draws_a_box_dashed_under_the_score_threshold():
  frame = np.full((120, 160, 3), 128, np.uint8)
  boxes = np.array([[20.6, 40.2, 70.9, 100.5], [90, 30, 150, 90]], np.float32)
  plain = drawing.annotate(frame, boxes, ['0', '1'])
  scored = drawing.annotate(frame, boxes, ['0', '1'], scores=[0.2, 0.8], score_threshold=0.35)
  nan = drawing.annotate(frame, boxes, ['0', '1'], scores=[np.nan, np.nan], score_threshold=0.35)
  np.testing.assert_array_equal(nan, plain)  # no score: drawn as without scores
  ink = lambda out, k: (out == drawing.color(k)).all(-1)
  # Box 0 (0.2 < 0.35): its outline is the solid one's pixels with gaps on every edge.
  solid, dashed = ink(plain, 0)[40:], ink(scored, 0)[40:]  # below the label tab
  assert not (dashed & ~solid).any() and dashed.sum() < 0.7 * solid.sum()
  # (rows 40 to 100 from y = 40; the label tab's last row covers row 40 itself)
  for edge in (dashed[1:61, 20], dashed[1:61, 70], dashed[1, 20:71], dashed[60, 20:71]):
    assert 0.3 < edge.mean() < 0.8, edge  # on and off along it
  assert solid[:, 20].sum() == 61 and solid[0, 20:71].all()
  # Box 1 (0.8): solid, the same outline as without a score.
  np.testing.assert_array_equal(ink(scored, 1)[30:], ink(plain, 1)[30:])
  # Each label gains its score: wider tabs, of the box's colour.
  for k, rows in ((0, slice(0, 40)), (1, slice(0, 30))):
    assert ink(scored, k)[rows].any(0).sum() > ink(plain, k)[rows].any(0).sum() + 10


def test_contact_sheet():
  clips = [synthetic_clips.synthetic_clip(6, seed=s, size=(48, 64)) for s in range(3)]
  sheet = drawing.contact_sheet([(c.frames, c.boxes) for c in clips], frames_per_row=5, thumb=40)
  assert sheet.shape == (3 * 42 + 2, 5 * 42 + 2, 3) and sheet.dtype == np.uint8
  # Fewer frames than columns, and non-square frames.
  short = (np.zeros((2, 30, 60, 3), np.uint8), np.array([[10, 5, 20, 15]] * 2, np.float32))
  sheet = drawing.contact_sheet([short], frames_per_row=4, thumb=32)
  assert sheet.shape == (36, 4 * 34 + 2, 3)
  assert (sheet[..., 1] == 255).any()  # the box is drawn in green
  with pytest.raises(ValueError):
    drawing.contact_sheet([])


def test_contact_sheet_of_truth_and_predictions():
  frames = np.zeros((3, 100, 100, 3), np.uint8)
  truth = np.array([[10, 10, 50, 50]] * 3, np.float32)
  predicted = np.array([[60, 60, 90, 90], [np.nan] * 4, [1e30, 0, 2e30, 5]], np.float32)
  sheet = drawing.contact_sheet([(frames, truth, predicted)], frames_per_row=3, thumb=100)
  cells = [sheet[2:102, 2 + k * 102:102 + k * 102] for k in range(3)]
  for k, cell in enumerate(cells):
    assert tuple(cell[30, 10]) == drawing.GREEN  # the truth's left edge
  assert tuple(cells[0][75, 60]) == drawing.RED  # the prediction's left edge
  assert not (cells[1] == drawing.RED).all(-1).any()  # a NaN box is not drawn
  with pytest.raises(ValueError, match='2 box tracks but 1 colours'):
    drawing.contact_sheet([(frames, truth, predicted)], colors=[drawing.GREEN])
  with pytest.raises(ValueError, match=r'boxes must have shape \(3, 4\)'):
    drawing.contact_sheet([(frames, truth[:2])])
