"""Tests of `re3_jax.core.crops`: crop geometry, zeros outside, padding, batching.

The crop of a box is its 2x context window warped to 227 x 227. Output pixel
``u`` (0-based) samples the continuous position ``x1 + (u + 0.5) * ww / 227``
of a window ``[x1, x2]`` of width ``ww``; the image is interpolated bilinearly
with pixel ``i`` centred at ``i + 0.5`` (as ``cv2.resize`` with INTER_LINEAR),
the edge pixel is replicated between the outermost pixel centre and the image
border, and a sample whose position lies outside the image is exactly zero.

The expected values here come from hand formulas on images whose pixel values
encode their own coordinates, and from a re-implementation, on OpenCV, of the
crop of the original Re3 code (``im_util.get_cropped_input`` of
re3-tensorflow), which rounds the window to whole pixels and is therefore only
compared up to stated tolerances.
"""

from __future__ import annotations

import pathlib

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops

OUT = 227
# A real OTB frame (360 x 240), from the sequences that sit beside the checkout.
REAL_FRAME = (pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'sequences' /
              'otb_crossing' / 'img' / '0001.jpg')
# Tolerance for crops of random-noise images computed two ways (eager and
# jitted, or exact and float32 windows): float32 sample positions carry
# rounding errors of a few 1e-5 pixel, and neighbouring noise pixels differ by
# up to 255 levels, so values may move by up to ~0.01.
NOISE_ATOL = 2e-2


# ---------------------------------------------------------------------------
# Helpers: hand formulas, independent of the implementation.
# ---------------------------------------------------------------------------


def box_for_window(window):
  """The box whose 2x context window is `window` (xyxy): same centre, half size."""
  window = np.asarray(window, np.float64)
  centre = (window[:2] + window[2:]) / 2
  half_size = (window[2:] - window[:2]) / 2
  return np.concatenate([centre - half_size / 2, centre + half_size / 2]).astype(np.float32)


def sample_centres(lo, hi, n=OUT):
  """Continuous positions sampled by the n output pixels of a window [lo, hi]."""
  return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def ramp_image(height, width):
  """(H, W, 2) float32 image: channel 0 is the column index, channel 1 the row index."""
  rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
  return np.stack([cols, rows], axis=-1)


def expected_ramp_crop(window, height, width):
  """Hand-computed crop of `ramp_image(height, width)` for a window (xyxy).

  Bilinear interpolation of a linear ramp returns the sampled index itself,
  ``centre - 0.5``, clamped to [0, n - 1] (edge replication) while the sample
  centre is inside [0, n); outside, the value is zero.
  """
  xs = sample_centres(window[0], window[2])
  ys = sample_centres(window[1], window[3])
  x_in = (xs >= 0) & (xs < width)
  y_in = (ys >= 0) & (ys < height)
  inside = y_in[:, None] & x_in[None, :]
  col = np.broadcast_to(np.clip(xs - 0.5, 0, width - 1)[None, :], (OUT, OUT))
  row = np.broadcast_to(np.clip(ys - 0.5, 0, height - 1)[:, None], (OUT, OUT))
  return np.where(inside[..., None], np.stack([col, row], axis=-1), 0.0)


def min_distance_to_border(window, height, width):
  """Smallest distance of any sample centre to an image border (0, W or H)."""
  xs = sample_centres(window[0], window[2])
  ys = sample_centres(window[1], window[3])
  return min(np.abs(xs).min(), np.abs(xs - width).min(), np.abs(ys).min(),
             np.abs(ys - height).min())


def smooth_image(height=240, width=360):
  """A uint8 RGB image of low-frequency sinusoids (periods 37 to 67 pixels).

  Its steepest slope is about 6 intensity levels per pixel along x or y, which
  bounds how much a sub-pixel shift of the sampling grid can change a value.
  """
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  r = 128 + 50 * np.sin(2 * np.pi * x / 53) + 40 * np.cos(2 * np.pi * y / 41 + 0.3)
  g = 128 + 60 * np.sin(2 * np.pi * (x + y) / 67)
  b = 128 + 45 * np.cos(2 * np.pi * x / 37) * np.sin(2 * np.pi * y / 61)
  return np.clip(np.round(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def crop_np(image, box, valid_size=None):
  """Re3's crop of `box`: its 2x context window."""
  window = boxes_lib.context_window(np.asarray(box, np.float32))
  return np.asarray(crops.crop(image, window, valid_size))


# ---------------------------------------------------------------------------
# 1. Geometry against hand formulas.
# ---------------------------------------------------------------------------


def test_crop_size_is_227():
  assert crops.CROP_SIZE == OUT


# Box [56.75, 56.75, 170.25, 170.25] (113.5 wide) has the window [0, 0, 227, 227]:
# output pixel u samples the centre u + 0.5 of image pixel u.
IDENTITY_BOX = np.array([56.75, 56.75, 170.25, 170.25], np.float32)


def test_window_equal_to_image_is_identity_on_ramp():
  np.testing.assert_array_equal(box_for_window([0, 0, OUT, OUT]), IDENTITY_BOX)
  image = ramp_image(OUT, OUT)
  out = crop_np(image, IDENTITY_BOX)
  assert out.dtype == np.float32 and out.shape == (OUT, OUT, 2)
  np.testing.assert_allclose(out, image, atol=1e-4)


@pytest.mark.parametrize('dtype', [np.float32, np.uint8])
def test_window_equal_to_image_is_identity_on_noise(dtype):
  # Neighbouring pixels of this image differ by up to 255 levels, so float32
  # rounding of the sample positions (a few 1e-5 pixel near 227) shows as up
  # to ~0.01 (measured 0.0076): NOISE_ATOL. A blur or a shift would be far off.
  image = np.random.default_rng(0).uniform(0, 255, (OUT, OUT, 3)).astype(dtype)
  out = crop_np(image, IDENTITY_BOX)
  assert out.dtype == np.float32 and out.shape == (OUT, OUT, 3)
  np.testing.assert_allclose(out, image.astype(np.float32), atol=NOISE_ATOL)


def test_two_by_two_image_by_hand():
  # Window [0, 0, 2, 2] over a 2x2 image [[0, 100], [200, 300]]: output pixel u
  # samples index p = (u + 0.5) * 2 / 227 - 0.5, clamped to [0, 1], and the
  # image is 100 * p_x + 200 * p_y there.
  image = np.array([[0, 100], [200, 300]], np.float32)[..., None]
  out = crop_np(image, box_for_window([0, 0, 2, 2]))[..., 0]
  # Spot values: corners replicate the corner pixels; the centre pixel (113)
  # samples exactly between the pixel centres.
  assert out[0, 0] == pytest.approx(0, abs=1e-4)
  assert out[-1, -1] == pytest.approx(300, abs=1e-4)
  assert out[113, 113] == pytest.approx(150, abs=1e-3)
  assert out[0, 113] == pytest.approx(50, abs=1e-3)
  assert out[113, 0] == pytest.approx(100, abs=1e-3)
  p = np.clip((np.arange(OUT) + 0.5) * 2 / OUT - 0.5, 0, 1)
  np.testing.assert_allclose(out, 100 * p[None, :] + 200 * p[:, None], atol=1e-3)


def test_double_scale_window_samples_every_other_pixel():
  # A 454 x 454 window starting at (x0, y0) = (3.3, 7): output pixel u samples
  # index x0 + (u + 0.5) * 2 - 0.5 = x0 + 2u + 0.5, all inside the image.
  x0, y0 = 3.3, 7.0
  image = ramp_image(470, 470)
  out = crop_np(image, box_for_window([x0, y0, x0 + 454, y0 + 454]))
  u = np.arange(OUT)
  np.testing.assert_allclose(out[..., 0], np.broadcast_to(x0 + 2 * u + 0.5, (OUT, OUT)),
                             atol=1e-3)
  np.testing.assert_allclose(out[..., 1], np.broadcast_to((y0 + 2 * u + 0.5)[:, None],
                                                          (OUT, OUT)), atol=1e-3)


@pytest.mark.parametrize('height, width, window', [
    (470, 470, (3.3, 7.0, 457.3, 461.0)),      # 2x downscale, inside.
    (37, 53, (5.25, 2.5, 30.75, 20.0)),        # Upscale, non-square (warped).
    (37, 53, (-10.5, -4.25, 60.75, 30.0)),     # Over the left and top borders.
    (37, 53, (20.2, 15.1, 70.6, 50.3)),        # Over the right and bottom borders.
    (37, 53, (-100.4, -60.3, 130.1, 90.7)),    # Much larger than the image.
])
def test_ramp_image_matches_hand_formula(height, width, window):
  # No sample centre sits (within float32 noise) on a border, where the
  # in/out decision would be ill-conditioned.
  assert min_distance_to_border(window, height, width) > 1e-2
  out = crop_np(ramp_image(height, width), box_for_window(window))
  np.testing.assert_allclose(out, expected_ramp_crop(window, height, width), atol=1e-3)


# ---------------------------------------------------------------------------
# 2. Exact zeros outside the image.
# ---------------------------------------------------------------------------


def test_zero_exactly_where_sample_centre_is_outside():
  # A 227 x 227 window at (-22.7, -10.6) over a 50 x 60 image of 200s: output
  # column u samples x = u + 0.5 - 22.7, inside [0, 60) for u = 23..82; output
  # row v samples y = v + 0.5 - 10.6, inside [0, 50) for v = 11..60.
  image = np.full((50, 60, 3), 200, np.uint8)
  out = crop_np(image, box_for_window([-22.7, -10.6, -22.7 + OUT, -10.6 + OUT]))
  inside = np.zeros((OUT, OUT), bool)
  inside[11:61, 23:83] = True
  np.testing.assert_allclose(out[inside], 200, atol=1e-3)
  assert np.all(out[~inside] == 0)


@pytest.mark.parametrize('window', [
    (-80, 10, -1, 40),       # Left of the image.
    (61, 10, 120, 40),       # Right of it.
    (10, -50, 40, -0.2),     # Above.
    (10, 50, 40, 90),        # Below (starts exactly at the bottom border).
    (-300, -200, -100, -5),  # Diagonally outside.
])
def test_window_fully_outside_is_all_zero(window):
  image = np.full((50, 60, 3), 200, np.uint8)
  out = crop_np(image, box_for_window(window))
  assert out.shape == (OUT, OUT, 3)
  assert np.all(out == 0)


# ---------------------------------------------------------------------------
# 3. Zero padding with a valid size changes no crop.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('box_a, box_b', [
    ([10.3, 8.2, 30.9, 25.5], [20.1, 5.4, 44.2, 22.8]),       # Inside.
    ([35.2, 30.1, 52.7, 43.3], [55.6, 20.2, 75.1, 33.7]),     # Over right/bottom.
    ([-20.5, -15.2, 70.3, 60.8], [-30.2, -10.1, 95.5, 45.3]),  # Larger than the frame.
])
def test_zero_padding_with_valid_size_changes_no_crop(box_a, box_b):
  rng = np.random.default_rng(1)
  frame_a = rng.integers(1, 256, (40, 50, 3), dtype=np.uint8)
  frame_b = rng.integers(1, 256, (30, 70, 3), dtype=np.uint8)
  padded = np.zeros((2, 48, 80, 3), np.uint8)
  padded[0, :40, :50] = frame_a
  padded[1, :30, :70] = frame_b
  boxes = np.array([box_a, box_b], np.float32)
  valid = np.array([[40, 50], [30, 70]], np.int32)
  out = np.asarray(crops.crop_batch(padded, boxes_lib.context_window(boxes), valid))
  np.testing.assert_allclose(out[0], crop_np(frame_a, box_a), atol=1e-4)
  np.testing.assert_allclose(out[1], crop_np(frame_b, box_b), atol=1e-4)
  if box_b[2] > 70:
    # The padding is sampled by this window: without the valid size, the
    # padded frame's crop differs (so the valid size is what made them equal).
    assert not np.allclose(crop_np(padded[1], box_b), crop_np(frame_b, box_b), atol=1e-4)


# ---------------------------------------------------------------------------
# 4. Comparison with the original Re3 crop.
# ---------------------------------------------------------------------------


def original_crop(image, bbox, pad_scale=2, out=OUT):
  """`im_util.get_cropped_input` of the original re3-tensorflow, on OpenCV.

  The window is rounded to whole pixels, the part inside the image is cut out
  and resized (``cv2.resize`` takes (width, height)) to its rounded share of
  the output, and the rest is zero padding (truncated to whole output pixels).
  """
  bbox = np.asarray(bbox, np.float64)
  w = bbox[2] - bbox[0]
  h = bbox[3] - bbox[1]
  xc = (bbox[0] + bbox[2]) / 2
  yc = (bbox[1] + bbox[3]) / 2
  box_on = np.array([xc - pad_scale * w / 2, yc - pad_scale * h / 2,
                     xc + pad_scale * w / 2, yc + pad_scale * h / 2])
  box_on = np.round(box_on).astype(int)
  box_wh = np.array([box_on[2] - box_on[0], box_on[3] - box_on[1]])
  height, width = image.shape[:2]
  patch = image[max(box_on[1], 0):min(box_on[3], height),
                max(box_on[0], 0):min(box_on[2], width)]
  bounded = np.clip(box_on, 0, [width, height, width, height])
  bounded_wh = np.array([bounded[2] - bounded[0], bounded[3] - bounded[1]])
  if patch.shape[0] == 0 or patch.shape[1] == 0:
    return np.zeros((out, out, 3))
  patch = cv2.resize(patch, (max(1, int(np.round(out * bounded_wh[0] / box_wh[0]))),
                             max(1, int(np.round(out * bounded_wh[1] / box_wh[1])))))
  pad = np.zeros(4, int)
  pad[:2] = np.maximum(0, -box_on[:2] * out / box_wh)
  pad[2:] = out - (pad[:2] + np.array(patch.shape[1::-1]))
  if np.any(pad < 0):
    return np.zeros((out, out, 3))
  return np.pad(patch, ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)))


def inside_masks(box, height, width, band=3):
  """Output pixels well inside and well outside the image, for re3_jax's window.

  Returns (interior, exterior): pixels whose sample centre is inside (outside)
  the image and at least `band` output pixels away from the in/out boundary;
  the interior also keeps `band` pixels away from the crop's edges, where the
  original replicates the cut patch's edge pixel while re3_jax interpolates
  with the image pixel next to it (up to ceil(0.5 * 227 / 60) = 2 output pixels
  for the smallest window side, 60 pixels, of the integer-aligned cases).
  The in/out boundary is that of re3_jax's exact window, which the original's
  rounding may move by an output pixel.
  """
  b = np.asarray(box, np.float64)
  centre, size = (b[:2] + b[2:]) / 2, b[2:] - b[:2]
  x1, y1 = centre - size
  x2, y2 = centre + size
  xs, ys = sample_centres(x1, x2), sample_centres(y1, y2)
  inside = ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None, :]
  kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
  interior = cv2.erode(inside.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT,
                       borderValue=0).astype(bool)
  exterior = cv2.erode((~inside).astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT,
                       borderValue=1).astype(bool)
  return interior, exterior


H, W = 240, 360  # The size of both test images (the real frame is 360 x 240).

# name: (box, {image: (bound on the mean abs diff over the whole crop,
#                       bound on the max abs diff over the interior)}).
#
# Integer-aligned windows: the original cuts exactly the same window, so the
# only differences are OpenCV's fixed-point interpolation and rounding to uint8
# (measured interior max 0.76, mean 0.37 with the crop edges) -> max 1.5.
#
# Fractional windows (smooth image): the original rounds the window, shifting
# the sampling grid by up to 0.5 source pixel per axis; at the smooth image's
# slope of about 6 levels/pixel per axis that is up to about 6 levels, plus 1
# for rounding -> interior max 8 (measured up to 6.7 for the worst case, a
# window on half pixels). Whole-crop means measured 1.2..2.6 -> bound 3.5.
#
# Partially outside: the same 0.5-pixel shift inside (interior max measured 3.0
# and 4.9 -> 8), and the in/out boundary may move by one output pixel, where
# the difference is a whole intensity, hence the band; means measured 0.98 and
# 0.91 -> 2.
#
# Huge window (1120 x 800 pixels over a 360 x 240 image): the original also
# truncates the zero padding to whole output pixels, up to 1 output pixel =
# 3.5 source pixels here (e.g. 79.45 -> 79 rows), so larger shifts: interior
# max measured 12.3 (smooth) -> 18; mean 0.72 -> 1.5.
#
# Real frame: sharp edges make sub-pixel shifts visible, so except for the
# integer-aligned windows only the mean is bounded (None: no max bound).
# Measured means: fractional 9.5 and 5.4, partial 2.0 and 0.3, tiny 3.1,
# huge 0.9.
COMPARISON_CASES = {
    'integer_upscale': ([160, 105, 200, 135], {'smooth': (0.5, 1.5), 'real': (0.5, 1.5)}),
    'integer_downscale': ([105, 70, 255, 170], {'smooth': (0.5, 1.5), 'real': (0.5, 1.5)}),
    'fractional': ([141.3, 89.7, 183.9, 126.2], {'smooth': (3.5, 8), 'real': (12, None)}),
    'half_pixel': ([50.5, 40.5, 70.5, 60.5], {'smooth': (3.5, 8), 'real': (8, None)}),
    'over_left_top': ([-10.3, -5.6, 30.2, 40.9], {'smooth': (2, 8), 'real': (3, None)}),
    'over_right_bottom': ([W - 30.4, H - 25.2, W + 12.1, H + 9.7],
                          {'smooth': (2, 8), 'real': (1, None)}),
    'tiny_3x4': ([160.2, 100.1, 163.2, 104.1], {'smooth': (3.5, 8), 'real': (4.5, None)}),
    'huge': ([-100, -80, W + 100, H + 80], {'smooth': (1.5, 18), 'real': (1.5, None)}),
}
FULLY_OUTSIDE = {
    'outside_right_bottom': [W + 50, H + 20, W + 90, H + 60],
    'outside_left_top': [-100, -100, -60, -50],
}


@pytest.fixture(scope='module', params=['smooth', 'real'])
def test_image(request):
  """(name, uint8 RGB image of H x W) for the comparison with the original."""
  if request.param == 'smooth':
    return 'smooth', smooth_image(H, W)
  if not REAL_FRAME.exists():
    pytest.skip(f'real frame {REAL_FRAME} not present')
  image = cv2.cvtColor(cv2.imread(str(REAL_FRAME)), cv2.COLOR_BGR2RGB)
  assert image.shape == (H, W, 3)
  return 'real', image


@pytest.mark.parametrize('case', sorted(COMPARISON_CASES))
def test_matches_original_crop(test_image, case):
  name, image = test_image
  box, bounds = COMPARISON_CASES[case]
  mean_bound, max_bound = bounds[name]
  expected = original_crop(image, box).astype(np.float64)
  out = crop_np(image, box)
  diff = np.abs(out - expected)
  interior, exterior = inside_masks(box, H, W)
  assert interior.sum() > 1000  # Enough pixels for the comparison to mean something.
  assert diff.mean() < mean_bound, f'mean abs diff {diff.mean():.3f}'
  if max_bound is not None:
    assert diff[interior].max() < max_bound, f'interior max abs diff {diff[interior].max():.3f}'
  # Well outside the image both are exactly zero.
  assert np.all(out[exterior] == 0) and np.all(expected[exterior] == 0)


@pytest.mark.parametrize('case', ['fractional', 'half_pixel', 'tiny_3x4'])
def test_matches_original_crop_on_its_rounded_window(test_image, case):
  # The differences above for fractional windows come only from the original's
  # rounding of the window: given the rounded window, re3_jax agrees with it as
  # tightly as for integer-aligned windows (interior max measured 0.76, mean
  # 0.27, on both images -> 1.5 and 0.5). The excluded edge band is where the
  # original replicates the cut patch's edge pixel, 0.5 source pixel, i.e.
  # ceil(0.5 * 227 / side) output pixels (20 for the 6-pixel side of the tiny
  # box's window).
  _, image = test_image
  box = np.asarray(COMPARISON_CASES[case][0], np.float64)
  centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
  window = np.round(np.concatenate([centre - size, centre + size]))
  band = int(np.ceil(0.5 * OUT / (window[2:] - window[:2]).min())) + 1
  rounded_box = box_for_window(window)
  diff = np.abs(crop_np(image, rounded_box) - original_crop(image, box).astype(np.float64))
  interior, _ = inside_masks(rounded_box, H, W, band)
  assert interior.sum() > 1000
  assert diff[interior].mean() < 0.5, f'interior mean abs diff {diff[interior].mean():.3f}'
  assert diff[interior].max() < 1.5, f'interior max abs diff {diff[interior].max():.3f}'


@pytest.mark.parametrize('case', sorted(FULLY_OUTSIDE))
def test_fully_outside_matches_original_crop(test_image, case):
  _, image = test_image
  box = FULLY_OUTSIDE[case]
  assert np.all(original_crop(image, box) == 0)
  assert np.all(crop_np(image, box) == 0)


# ---------------------------------------------------------------------------
# 5. jit and batching.
# ---------------------------------------------------------------------------


BATCH_BOXES = np.array([
    [10.3, 8.2, 30.9, 25.5],
    [-5.5, 20.1, 15.2, 45.0],
    [30.0, 25.0, 60.0, 52.0],
], np.float32)
BATCH_WINDOWS = np.asarray(boxes_lib.context_window(BATCH_BOXES))


def test_jitted_crop_batch_matches_per_image_crop():
  images = np.random.default_rng(2).integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
  out = jax.jit(crops.crop_batch)(images, BATCH_WINDOWS)
  assert out.shape == (3, OUT, OUT, 3) and out.dtype == jnp.float32
  for i in range(3):
    np.testing.assert_allclose(np.asarray(out[i]), crop_np(images[i], BATCH_BOXES[i]),
                               atol=NOISE_ATOL)


def test_jitted_crop_batch_with_valid_sizes_matches_per_image_crop():
  images = np.random.default_rng(3).integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
  valid = np.array([[40, 50], [30, 45], [35, 20]], np.int32)
  for i, (vh, vw) in enumerate(valid):
    images[i, vh:] = 0
    images[i, :, vw:] = 0
  out = np.asarray(jax.jit(crops.crop_batch)(images, BATCH_WINDOWS, valid))
  for i, (vh, vw) in enumerate(valid):
    np.testing.assert_allclose(out[i], crop_np(images[i, :vh, :vw], BATCH_BOXES[i]),
                               atol=NOISE_ATOL)


def test_crop_many_matches_looped_crop():
  image = np.random.default_rng(4).integers(0, 256, (40, 50, 3), dtype=np.uint8)
  out = crops.crop_many(image, BATCH_WINDOWS)
  assert out.shape == (3, OUT, OUT, 3) and out.dtype == jnp.float32
  for i, box in enumerate(BATCH_BOXES):
    np.testing.assert_allclose(np.asarray(out[i]), crop_np(image, box), atol=1e-4)


def test_uint8_and_float32_inputs_agree():
  image = np.random.default_rng(5).integers(0, 256, (40, 50, 3), dtype=np.uint8)
  for box in BATCH_BOXES:
    from_uint8 = crop_np(image, box)
    from_float = crop_np(image.astype(np.float32), box)
    assert from_uint8.dtype == from_float.dtype == np.float32
    np.testing.assert_allclose(from_uint8, from_float, atol=1e-4)
  batched = crops.crop_batch(image[None].astype(np.float32), BATCH_WINDOWS[:1])
  assert batched.dtype == jnp.float32
