"""Tests of `re3_jax.core.boxes`: converters, context windows, IoU and validation.

re3_jax boxes are xyxy in continuous 0-based pixels (the top-left pixel covers
[0, 1) x [0, 1)). OTB and VOT give 1-based pixels, so converting them shifts
by -1; the network's crop frame is the 2x context window normalised and
multiplied by 10. Expected values are hand-computed; converters are checked on
NumPy and JAX inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax.core import boxes


def random_boxes(rng, n):
  """(n, 4) valid xyxy boxes with sizes in [1, 50) and corners in [-100, 100)."""
  x1y1 = rng.uniform(-100, 100, (n, 2))
  wh = rng.uniform(1, 50, (n, 2))
  return np.concatenate([x1y1, x1y1 + wh], axis=-1).astype(np.float32)


# ---------------------------------------------------------------------------
# OTB and VOT converters.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('xp', [np, jnp])
def test_from_otb_by_hand(xp):
  # OTB x=1, y=1 is the top-left pixel (1-based), i.e. [0, 1) here.
  out = boxes.from_otb(xp.asarray([1.0, 1.0, 10.0, 5.0]))
  assert out.dtype == np.float32
  np.testing.assert_array_equal(np.asarray(out), [0, 0, 10, 5])
  np.testing.assert_array_equal(np.asarray(boxes.from_otb(xp.asarray([205, 151, 17, 50]))),
                                [204, 150, 221, 200])


def test_from_otb_accepts_lists():
  np.testing.assert_array_equal(boxes.from_otb([1, 1, 10, 5]), [0, 0, 10, 5])


@pytest.mark.parametrize('xp', [np, jnp])
def test_otb_round_trip(xp):
  xyxy = random_boxes(np.random.default_rng(0), 20)
  otb = boxes.to_otb(xp.asarray(xyxy))
  np.testing.assert_allclose(np.asarray(otb[:, 2:]), xyxy[:, 2:] - xyxy[:, :2], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(otb[:, :2]), xyxy[:, :2] + 1, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(boxes.from_otb(otb)), xyxy, atol=1e-4)


@pytest.mark.parametrize('xp', [np, jnp])
def test_vot_polygon_of_axis_aligned_rectangle(xp):
  # Corners of the rectangle covering 1-based pixel columns 11..40 and rows
  # 21..60 as VOT writes them: x from 11 to 41, y from 21 to 61 (1-based).
  polygon = xp.asarray([11, 21, 41, 21, 41, 61, 11, 61], dtype=xp.float32)
  np.testing.assert_array_equal(np.asarray(boxes.from_vot_polygon(polygon)), [10, 20, 40, 60])
  # Corner order does not matter (min/max of the corners).
  shuffled = xp.asarray([41, 61, 11, 21, 11, 61, 41, 21], dtype=xp.float32)
  np.testing.assert_array_equal(np.asarray(boxes.from_vot_polygon(shuffled)), [10, 20, 40, 60])


def test_vot_polygon_of_rotated_rectangle_is_enclosing_box():
  # A diamond with corners (21, 11), (31, 21), (21, 31), (11, 21), 1-based.
  polygon = np.array([21, 11, 31, 21, 21, 31, 11, 21], np.float32)
  np.testing.assert_array_equal(boxes.from_vot_polygon(polygon), [10, 10, 30, 30])


def test_vot_four_values_are_otb_rectangles():
  np.testing.assert_array_equal(boxes.from_vot_polygon([1, 1, 10, 5]), [0, 0, 10, 5])


def test_vot_polygon_batched_and_round_trip():
  xyxy = random_boxes(np.random.default_rng(1), 10)
  polygons = boxes.to_vot_polygon(xyxy)
  assert polygons.shape == (10, 8)
  # Clockwise from the top-left, 1-based.
  np.testing.assert_allclose(polygons[0], [xyxy[0, 0] + 1, xyxy[0, 1] + 1, xyxy[0, 2] + 1,
                                           xyxy[0, 1] + 1, xyxy[0, 2] + 1, xyxy[0, 3] + 1,
                                           xyxy[0, 0] + 1, xyxy[0, 3] + 1], rtol=1e-6)
  np.testing.assert_allclose(boxes.from_vot_polygon(polygons), xyxy, atol=1e-4)
  np.testing.assert_allclose(np.asarray(boxes.from_vot_polygon(jnp.asarray(polygons))), xyxy,
                             atol=1e-4)


@pytest.mark.parametrize('n', [3, 6, 9])
def test_vot_wrong_length_raises(n):
  with pytest.raises(ValueError, match=str(n)):
    boxes.from_vot_polygon(np.zeros(n, np.float32))


# ---------------------------------------------------------------------------
# Context window and the crop frame.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('xp', [np, jnp])
def test_context_window_by_hand(xp):
  # Centre (20, 40), size (20, 40) -> size (40, 80) about the same centre.
  np.testing.assert_allclose(np.asarray(boxes.context_window(xp.asarray([10., 20., 30., 60.]))),
                             [0, 0, 40, 80])
  np.testing.assert_allclose(
      np.asarray(boxes.context_window(xp.asarray([10., 20., 30., 60.]), scale=1.5)),
      [5, 10, 35, 70])


@pytest.mark.parametrize('xp', [np, jnp])
def test_to_crop_frame_by_hand(xp):
  # Window [10, 20, 30, 60] is 20 x 40: x = (15 - 10) / 20 * 10 = 2.5, etc.
  window = xp.asarray([10., 20., 30., 60.])
  out = boxes.to_crop_frame(xp.asarray([15., 30., 25., 40.]), window)
  np.testing.assert_allclose(np.asarray(out), [2.5, 2.5, 7.5, 5.0], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(boxes.to_crop_frame(window, window)), [0, 0, 10, 10])


@pytest.mark.parametrize('xp', [np, jnp])
def test_box_in_its_own_window_is_centered_box(xp):
  b = xp.asarray(random_boxes(np.random.default_rng(2), 16))
  out = boxes.to_crop_frame(b, boxes.context_window(b))
  assert out.shape == (16, 4)
  np.testing.assert_allclose(np.asarray(out), np.broadcast_to([2.5, 2.5, 7.5, 7.5], (16, 4)),
                             atol=1e-4)
  assert boxes.CENTERED_BOX == (2.5, 2.5, 7.5, 7.5)


@pytest.mark.parametrize('xp', [np, jnp])
def test_crop_frame_round_trip_with_random_windows(xp):
  rng = np.random.default_rng(3)
  b = random_boxes(rng, 32)
  windows = random_boxes(rng, 32)
  frame = boxes.to_crop_frame(xp.asarray(b), xp.asarray(windows))
  back = boxes.from_crop_frame(frame, xp.asarray(windows))
  np.testing.assert_allclose(np.asarray(back), b, atol=1e-3)
  # Decoding is x = x_norm / 10 * window_width + window_x1 (reference section 2).
  ww = windows[:, 2] - windows[:, 0]
  np.testing.assert_allclose(np.asarray(back[:, 0]),
                             np.asarray(frame[:, 0]) / 10 * ww + windows[:, 0], atol=1e-3)


def test_crop_frame_broadcasts_one_window_over_boxes():
  window = np.array([0., 0., 100., 50.], np.float32)
  b = np.array([[0., 0., 100., 50.], [50., 25., 60., 30.]], np.float32)
  np.testing.assert_allclose(boxes.to_crop_frame(b, window), [[0, 0, 10, 10], [5, 5, 6, 6]])


def test_converters_are_jittable():
  b = jnp.asarray(random_boxes(np.random.default_rng(4), 5))
  windows = jax.jit(boxes.context_window)(b)
  frame = jax.jit(boxes.to_crop_frame)(b, windows)
  np.testing.assert_allclose(np.asarray(frame), np.broadcast_to(boxes.CENTERED_BOX, (5, 4)),
                             atol=1e-4)
  np.testing.assert_allclose(np.asarray(jax.jit(boxes.from_otb)(boxes.to_otb(b))),
                             np.asarray(b), atol=1e-4)


# ---------------------------------------------------------------------------
# Area and IoU.
# ---------------------------------------------------------------------------


IOU_CASES = [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),              # Identical.
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),            # Disjoint.
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),         # Half of each overlaps.
    ([0, 0, 10, 10], [0, 0, 5, 10], 0.5),               # Half of one, contained.
    ([0, 0, 4, 4], [2, 2, 6, 6], 4 / 28),               # Corner overlap.
    ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),                  # Touching edges: no +1.
    ([0, 0, 1, 1], [1, 1, 2, 2], 0.0),                  # Touching corners.
    ([0.5, 0.5, 1.5, 1.5], [0, 0, 1, 1], 0.25 / 1.75),  # Fractional.
    ([3, 3, 3, 3], [3, 3, 3, 3], 0.0),                  # Two empty boxes.
    ([3, 3, 3, 8], [0, 0, 10, 10], 0.0),                # Zero-width box.
    ([10, 10, 0, 0], [0, 0, 10, 10], 0.0),              # Inverted box.
    ([0, 10, 10, 0], [0, 0, 10, 10], 0.0),              # Inverted in y only.
    ([10, 10, 0, 0], [10, 10, 0, 0], 0.0),              # Two inverted boxes.
]


@pytest.mark.parametrize('xp', [np, jnp])
@pytest.mark.parametrize('a, b, expected', IOU_CASES)
def test_iou_by_hand(xp, a, b, expected):
  a = xp.asarray(a, dtype=xp.float32)
  b = xp.asarray(b, dtype=xp.float32)
  assert float(boxes.iou(a, b)) == pytest.approx(expected, abs=1e-6)
  assert float(boxes.iou(b, a)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize('xp', [np, jnp])
def test_iou_broadcasts(xp):
  a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
  b = np.array([[0, 0, 10, 10], [0, 0, 5, 10]], np.float32)
  expected = np.array([[1, 0.5], [1 / 3, 0], [0, 0]])
  out = boxes.iou(xp.asarray(a)[:, None], xp.asarray(b)[None, :])
  assert out.shape == (3, 2)
  np.testing.assert_allclose(np.asarray(out), expected, atol=1e-6)
  # One box against many.
  np.testing.assert_allclose(np.asarray(boxes.iou(xp.asarray(a), xp.asarray(b[0]))),
                             expected[:, 0], atol=1e-6)


def test_iou_jitted_matches_numpy():
  rng = np.random.default_rng(5)
  a, b = random_boxes(rng, 50), random_boxes(rng, 50)
  b[:25] = a[:25] + rng.uniform(-5, 5, (25, 4)).astype(np.float32)  # Some overlaps.
  from_np = boxes.iou(a, b)
  from_jax = np.asarray(jax.jit(boxes.iou)(jnp.asarray(a), jnp.asarray(b)))
  assert np.any(from_np > 0.1)
  np.testing.assert_allclose(from_jax, from_np, atol=1e-5)
  assert np.all((from_np >= 0) & (from_np <= 1))


@pytest.mark.parametrize('xp', [np, jnp])
def test_area(xp):
  b = xp.asarray([[0, 0, 10, 5], [2, 2, 2, 9], [5, 5, 0, 0], [1, 1, 0, 3]], dtype=xp.float32)
  np.testing.assert_array_equal(np.asarray(boxes.area(b)), [50, 0, 0, 0])


# ---------------------------------------------------------------------------
# validate_box.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('box, values', [
    ([float('nan'), 2.5, 7.25, 9.5], ['nan', '2.5', '7.25', '9.5']),
    ([1.5, 2.5, float('inf'), 9.5], ['1.5', '2.5', 'inf', '9.5']),
    ([1.5, 2.5, -float('inf'), 9.5], ['1.5', '2.5', '-inf', '9.5']),
    ([3.5, 2.5, 3.5, 9.5], ['3.5', '2.5', '9.5']),         # Zero width.
    ([1.5, 9.25, 7.5, 2.75], ['1.5', '9.25', '7.5', '2.75']),  # Negative height.
    ([1.5, 2.5, 7.25], ['1.5', '2.5', '7.25']),            # Three values.
    ([1.5, 2.5, 7.25, 9.5, 4.75], ['1.5', '2.5', '7.25', '9.5', '4.75']),  # Five.
])
def test_validate_box_rejects_with_values_in_message(box, values):
  with pytest.raises(ValueError) as info:
    boxes.validate_box(box, name='init box')
  message = str(info.value)
  assert 'init box' in message
  for v in values:
    assert v in message, (v, message)


@pytest.mark.parametrize('box', [
    [100.5, 5, 120, 20],   # Right of a 80 x 50 (width x height) image.
    [80, 5, 90, 20],       # Starts exactly at the right border.
    [-20, 5, 0, 20],       # Ends exactly at the left border.
    [10, -30.5, 20, -2],   # Above.
    [10, 50, 20, 60.25],   # Below.
])
def test_validate_box_rejects_box_outside_image(box):
  with pytest.raises(ValueError) as info:
    boxes.validate_box(box, image_size=(50, 80))
  message = str(info.value)
  for v in box:
    assert str(float(v)) in message, (v, message)


@pytest.mark.parametrize('box', [
    [-5, -5, 10, 10],      # Over the top-left corner.
    [70, 40, 95, 70],      # Over the bottom-right corner.
    [-10, -10, 90, 60],    # Larger than the image.
    [79.5, 49.5, 80.5, 50.5],  # Overlaps only the last pixel.
])
def test_validate_box_accepts_box_partly_outside(box):
  out = boxes.validate_box(box, image_size=(50, 80))
  assert out.dtype == np.float32 and out.shape == (4,)
  np.testing.assert_array_equal(out, np.asarray(box, np.float32))


def test_validate_box_accepts_any_valid_box_without_image_size():
  out = boxes.validate_box((1000, -1000, 1001.5, -990))
  np.testing.assert_array_equal(out, [1000, -1000, 1001.5, -990])
  assert out.dtype == np.float32


def test_validate_box_rejects_non_numbers():
  with pytest.raises(ValueError, match='abc'):
    boxes.validate_box(['abc', 1, 2, 3])


def test_validate_box_checks_the_float32_values():
  # Finite in float64, infinite in float32 (max 3.4028e38): refused, not returned as inf.
  with pytest.raises(ValueError, match="1e\\+39.*beyond float32's range"):
    boxes.validate_box([0, 0, 1e39, 1e39], image_size=(50, 80))
  # A width of 1e-46 is > 0 in float64 but rounds to 0 in float32 (smallest subnormal 1.4e-45).
  with pytest.raises(ValueError, match='width 0 .*in float32'):
    boxes.validate_box([0, 0, 1e-46, 1])
  np.testing.assert_array_equal(boxes.validate_box([0, 0, 3e38, 3e38]),
                                np.float32([0, 0, 3e38, 3e38]))


def test_validate_boxes_needs_n_by_4():
  out = boxes.validate_boxes([[0, 0, 2, 2], [1, 1, 5, 6]], image_size=(10, 10))
  assert out.shape == (2, 4) and out.dtype == np.float32
  for bad, message in [([0, 0, 2, 2], r'shape \(4,\) \(one box: give \[box\]'),
                       (np.zeros((0, 4)), r'N >= 1, got shape \(0, 4\)'),
                       ([[0, 0, 2]], r'shape \(1, 3\)'),
                       ([[0, 0, 2, 2], [0, 0, 2]], 'must be an'),
                       ([[0, 0, 2, 2], [0, 0, np.nan, 2]], r'starting boxes\[1\].*NaN')]:
    with pytest.raises(ValueError, match=message):
      boxes.validate_boxes(bad, image_size=(10, 10))


# parse_box: the command lines' x1,y1,x2,y2 (or x,y,w,h, --box_format).


def test_parse_box():
  np.testing.assert_array_equal(boxes.parse_box(' 1, 2.5,3,4 '), [1, 2.5, 3, 4])
  assert boxes.parse_box('1,2,3,4').dtype == np.float32
  with pytest.raises(ValueError, match=r"malformed box '1,2,3,x'"):
    boxes.parse_box('1,2,3,x')
  with pytest.raises(ValueError, match=r"malformed box '1,2,3'.*got 3"):
    boxes.parse_box('1,2,3')
  with pytest.raises(ValueError, match=r"box '50,10,10,50' .* has width -40 and height 40"):
    boxes.parse_box('50,10,10,50')
  with pytest.raises(ValueError, match=r"box '1,2,nan,4' .* NaN"):
    boxes.parse_box('1,2,nan,4')


def test_parse_box_formats():
  # x,y,w,h with the top-left corner 0-based (OpenCV's selectROI) or 1-based (an OTB line).
  np.testing.assert_array_equal(boxes.parse_box('10,20,30,40', 'xywh'), [10, 20, 40, 60])
  np.testing.assert_array_equal(boxes.parse_box('10, 20, 30, 40', 'otb'), [9, 19, 39, 59])
  np.testing.assert_array_equal(boxes.parse_box('10,20,30,40', 'otb'),
                                boxes.from_otb(np.array([10, 20, 30, 40], np.float32)))
  np.testing.assert_array_equal(boxes.parse_box('10,20,30,40', 'xyxy'), [10, 20, 30, 40])
  with pytest.raises(ValueError, match=r"malformed box '1,2,3': expected 4 comma-separated "
                     r'numbers x,y,w,h, got 3'):
    boxes.parse_box('1,2,3', 'xywh')
  # An x1,y1,x2,y2 box given as x,y,w,h by mistake is usually still a box; a zero size is not.
  with pytest.raises(ValueError, match=r"box '10,20,0,40' \(x,y,w,h\) has width 0 and height 40"):
    boxes.parse_box('10,20,0,40', 'xywh')
  with pytest.raises(ValueError, match=r"box '10,20,nan,4' \(x,y,w,h\) has width nan"):
    boxes.parse_box('10,20,nan,4', 'otb')
  with pytest.raises(ValueError, match=r"box 'inf,20,5,4' \(xywh x,y,w,h\), as x1,y1,x2,y2 .*"
                     'NaN or infinite'):
    boxes.parse_box('inf,20,5,4', 'xywh')
  with pytest.raises(ValueError, match="unknown box format 'ltwh': one of xyxy, xywh, otb"):
    boxes.parse_box('1,2,3,4', 'ltwh')
