"""The crop function: one for the tracker and for the jitted train step.

A crop is a window of an image (Re3's: the 2x context window of a box,
`boxes.context_window`, derived once by the caller, who decodes with it), warped to
CROP_SIZE x CROP_SIZE (aspect ratio not preserved), sampled bilinearly with
pixel centres at half-integers, as OpenCV's ``cv2.resize`` does. Samples whose
position falls outside the image's valid region are zero, so padding a frame
with zeros changes no crop (reference section 1). Inside the valid region, at
its border, the edge pixel is replicated (as ``cv2.resize`` of the in-image
patch does).

Differences from the original implementation (``im_util.get_cropped_input``):
the original rounds the window to integer pixels before cutting it and rounds
the resized patch's size, while the window it decodes outputs with is not
rounded; here the window is used exactly, so crop and decoding agree. For a
window inside the image the difference is at most half a source pixel of
shift; where the window crosses the left or top border, the original also
truncates its zero padding to whole output pixels (up to one more output
pixel). `tests/core/test_crops.py` compares with a re-implementation of the
original on OpenCV and states the tolerances.

The output is float32 in [0, 255], not rounded to integers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


CROP_SIZE = 227


def _sample_axis(image, coords, valid, axis):
  """Linear interpolation of `image` along `axis` at continuous `coords`.

  Args:
    image: array whose `axis` has the length of the (possibly padded) image.
    coords: (S,) continuous sample positions (pixel centres at i + 0.5).
    valid: scalar, the number of valid (unpadded) pixels along the axis.
    axis: 0 or 1.

  Returns:
    `image` with `axis` replaced by S samples, float32, zero where a sample
    position is outside [0, valid).
  """
  pos = coords - 0.5
  lo = jnp.floor(pos)
  frac = (pos - lo).astype(jnp.float32)
  lo = lo.astype(jnp.int32)
  last = valid - 1
  i0 = jnp.clip(lo, 0, last)
  i1 = jnp.clip(lo + 1, 0, last)
  inside = (coords >= 0) & (coords < valid)
  a = jnp.take(image, i0, axis=axis).astype(jnp.float32)
  b = jnp.take(image, i1, axis=axis).astype(jnp.float32)
  shape = [1] * image.ndim
  shape[axis] = coords.shape[0]
  w1 = jnp.where(inside, frac, 0.0).reshape(shape)
  w0 = jnp.where(inside, 1.0 - frac, 0.0).reshape(shape)
  return a * w0 + b * w1


def crop(image, window, valid_size=None, *, size: int = CROP_SIZE):
  """Samples one window of one image into a square crop.

  Re3's crop of a box is ``crop(image, boxes.context_window(box))`` (the 2x
  context); the caller keeps that window to decode the network's output
  (``boxes.from_crop_frame(out, window)``) or to build a label
  (``boxes.to_crop_frame(truth, window)``), so the window is derived once.

  Args:
    image: (H, W, C) image, uint8 or float, values 0..255; may be zero-padded
      beyond `valid_size`.
    window: (4,) xyxy region of `image` to sample, in pixels.
    valid_size: optional (2,) int (height, width) of the valid top-left region
      of `image`; defaults to the whole image.
    size: output side length.

  Returns:
    (size, size, C) float32 crop.
  """
  height, width = image.shape[:2]
  if valid_size is None:
    valid_h, valid_w = height, width
  else:
    valid_h, valid_w = valid_size[0], valid_size[1]
  window = jnp.asarray(window, jnp.float32)
  steps = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size
  ys = window[1] + steps * (window[3] - window[1])
  xs = window[0] + steps * (window[2] - window[0])
  rows = _sample_axis(image, ys, valid_h, axis=0)   # (size, W, C)
  return _sample_axis(rows, xs, valid_w, axis=1)    # (size, size, C)


def crop_batch(images, windows, valid_sizes=None, *, size: int = CROP_SIZE):
  """Batched `crop`: one window per image.

  Frames of different sizes share a batch by zero-padding them to a common
  (H, W) and passing each frame's valid size.

  Args:
    images: (B, H, W, C) images, uint8 or float.
    windows: (B, 4) xyxy windows.
    valid_sizes: optional (B, 2) int (height, width) of each image's valid region.
    size: output side length.

  Returns:
    (B, size, size, C) float32 crops.
  """
  if valid_sizes is None:
    return jax.vmap(lambda im, w: crop(im, w, size=size))(images, windows)
  return jax.vmap(lambda im, w, v: crop(im, w, v, size=size))(images, windows, valid_sizes)


def crop_many(image, windows, valid_size=None, *, size: int = CROP_SIZE):
  """Crops of several windows of one image: (H, W, C), (N, 4) -> (N, size, size, C)."""
  return jax.vmap(lambda w: crop(image, w, valid_size, size=size))(windows)
