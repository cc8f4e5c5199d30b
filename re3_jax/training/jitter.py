"""Training-time placement of crop windows: box jitter and coverage repair.

Re3 trains on crops placed at the (jittered) ground truth part of the time
(reference section 6). For such a crop at time t the released training code
(``add_noise`` and ``fix_bbox_intersection`` in
``training/unrolled_solver.py`` of ``danielgordon10/re3-tensorflow``):

1. either keeps the previous true box as is (probability 1/8) or jitters the
   CURRENT true box: the centre moves by Laplace(0, 1/5) x (w, h) and w and h
   are scaled independently by clip(Laplace(1, 1/15), 0.6, 1.4), retried up to
   10 times until the new centre lies inside the true box and inside the image
   (the last try is kept if none does);
2. then moves the box towards the current truth, ``box <- 0.9 box + 0.1
   truth``, until the 2x context window of the box covers a minimum fraction of
   the true box's area.

This module reimplements that behaviour as pure JAX functions that work under
``jax.jit`` and ``jax.vmap``, with no data-dependent control flow:

* `jitter_candidates` / `jitter_box`: all ``tries`` candidates are drawn at once
  and the first acceptable one is selected (the last one if none is).
* `cover_truth`: the boxes after k = 0..max_steps moves are evaluated at once
  (closed form ``box_k = a^k box + (1 - a^k) truth`` with ``a = 1 - step``) and
  the first that covers enough is selected; if none does, the truth itself (whose
  window always covers it fully) is returned.
* `place_window`: step 1 then step 2.

Minimum coverage: the paper (reference section 6) says 70%
(`MIN_COVERAGE_PAPER`, the default here); the released code used
``AREA_CUTOFF = 0.25`` (`MIN_COVERAGE_RELEASED`).

Differences from the released code, besides vectorisation:

* The released code draws "keep the previous box" (``REAL_MOTION_PROB``) once
  per sequence, and jitters only in sequences that do not use the network's
  own predictions; here `place_window` draws it per call, and deciding which
  crops are ground-truth-placed is the caller's job.
* The closed form of `cover_truth` differs from the repeated update by float
  rounding only.
* Degenerate inputs are sanitised (see below) instead of producing NaN or a
  division by zero.

Boxes are xyxy float32 in continuous 0-based pixels (`re3_jax.core.boxes`). All
functions accept boxes of any leading shape ``(..., 4)``; one PRNG key drives
the whole batch (noise is drawn with the batch's shape). For one key per box,
``jax.vmap`` the function over keys and boxes. ``image_size`` is
``(height, width)``, may be traced and broadcasts against the leading shape.
The public functions are ``jax.jit``-wrapped (a nested jit inside a jitted
train step is inlined) with the shape-setting ``tries`` and ``max_steps`` as
static arguments; the float hyper-parameters (scales, ``size_range``,
``keep_prob``, ``min_coverage``, ``step``) are traced, so changing them does not
recompile.

Sanitising: NaN coordinates become 0, coordinates are clipped to
+-`COORD_LIMIT`, the corners of an inverted box are swapped, and every box (the
inputs and the output) is given a width and height of at least `MIN_SIZE` about
its centre (and strictly positive in float32 whatever its position). A valid
input box of width and height above `MIN_SIZE` is left unchanged bit for bit.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from re3_jax.core import boxes as boxes_lib

# Centre noise scale (Laplace, times the box's width / height).
CENTER_SCALE = 1.0 / 5
# Size noise scale (Laplace around 1) and the clip range of the size factors.
SIZE_SCALE = 1.0 / 15
SIZE_RANGE = (0.6, 1.4)
# How many jitter candidates are drawn (the released code's retries).
TRIES = 10
# Probability of keeping the previous true box instead of jittering.
KEEP_PROB = 1.0 / 8
# Minimum fraction of the true box's area its crop window must cover.
MIN_COVERAGE_PAPER = 0.7
MIN_COVERAGE_RELEASED = 0.25
# cover_truth's update: box <- (1 - STEP) box + STEP truth, at most MAX_STEPS times.
STEP = 0.1
MAX_STEPS = 64

# Smallest width and height of any box handled or returned here, in pixels.
MIN_SIZE = 1e-3
# Coordinates are clipped to +-COORD_LIMIT pixels so that all arithmetic stays finite.
COORD_LIMIT = 1e6


@jax.jit
def sanitize(box):
  """Makes (..., 4) boxes finite, ordered and of positive size, as float32.

  NaN becomes 0, coordinates are clipped to +-`COORD_LIMIT`, corners are
  ordered (an inverted box is flipped), and a box narrower or lower than
  `MIN_SIZE` is widened to it about its centre. Valid boxes larger than
  `MIN_SIZE` come back unchanged.

  Args:
    box: (..., 4) xyxy boxes (anything `jnp.asarray` accepts).

  Returns:
    (..., 4) float32 boxes with ``x2 > x1`` and ``y2 > y1``.
  """
  box = jnp.nan_to_num(jnp.asarray(box, jnp.float32), nan=0.0)
  box = jnp.clip(box, -COORD_LIMIT, COORD_LIMIT)
  lo = jnp.minimum(box[..., :2], box[..., 2:])
  hi = jnp.maximum(box[..., :2], box[..., 2:])
  return _ensure_min_size(jnp.concatenate([lo, hi], axis=-1))


def _ensure_min_size(box):
  """Widens (..., 4) ordered, finite boxes to at least MIN_SIZE about their centre."""
  lo, hi = box[..., :2], box[..., 2:]
  center = (lo + hi) / 2
  small = hi - lo < MIN_SIZE
  lo = jnp.where(small, center - MIN_SIZE / 2, lo)
  hi = jnp.where(small, center + MIN_SIZE / 2, hi)
  # At large coordinates MIN_SIZE can be below float32 resolution: force hi > lo.
  hi = jnp.maximum(hi, jnp.nextafter(lo, jnp.float32(jnp.inf)))
  return jnp.concatenate([lo, hi], axis=-1)


def _inside(points, box):
  """Whether (..., 2) points lie in the closed (..., 4) boxes (broadcasting)."""
  return jnp.all((points >= box[..., :2]) & (points <= box[..., 2:]), axis=-1)


@functools.partial(jax.jit, static_argnames=('tries',))
def jitter_candidates(key,
                      box,
                      image_size,
                      *,
                      center_scale=CENTER_SCALE,
                      size_scale=SIZE_SCALE,
                      size_range=SIZE_RANGE,
                      tries: int = TRIES):
  """All jitter candidates of boxes and whether each is acceptable.

  Each candidate has centre ``c + Laplace(0, center_scale) * (w, h)`` and size
  ``(w, h) * clip(Laplace(1, size_scale), *size_range)``, with independent draws
  for x and y and for every candidate. A candidate is acceptable when its
  centre lies (inclusively) inside the original box and inside the image
  ``[0, width] x [0, height]``.

  Args:
    key: a PRNG key (typed or raw), for the whole batch.
    box: (..., 4) xyxy boxes (sanitised first, see `sanitize`).
    image_size: (height, width), or (..., 2) broadcasting against the boxes.
    center_scale: Laplace scale of the centre shift, in box widths / heights.
    size_scale: Laplace scale of the size factors.
    size_range: (low, high) clip range of the size factors.
    tries: number of candidates (static).

  Returns:
    ``(candidates, acceptable)``: (..., tries, 4) float32 xyxy boxes with
    positive sizes, and (..., tries) bool.
  """
  box = sanitize(box)
  batch = box.shape[:-1]
  center_key, size_key = jax.random.split(key)
  shape = batch + (tries, 2)
  center_noise = jax.random.laplace(center_key, shape, jnp.float32) * center_scale
  size_factor = jnp.clip(
      1.0 + jax.random.laplace(size_key, shape, jnp.float32) * size_scale,
      size_range[0], size_range[1])
  center = boxes_lib.centers(box)[..., None, :]
  size = boxes_lib.width_height(box)[..., None, :]
  new_center = center + center_noise * size
  candidates = boxes_lib.from_center_size(new_center, size * size_factor)
  candidates = _ensure_min_size(jnp.clip(candidates, -COORD_LIMIT, COORD_LIMIT))
  image_size = jnp.asarray(image_size, jnp.float32)
  image_box = jnp.concatenate(
      [jnp.zeros_like(image_size), image_size[..., ::-1]], axis=-1)  # [0, 0, W, H]
  acceptable = _inside(new_center, box[..., None, :]) & _inside(
      new_center, image_box[..., None, :])
  return candidates, acceptable


@jax.jit
def first_acceptable(candidates, acceptable):
  """The first acceptable of (..., T, 4) candidates, or the last if none is.

  Args:
    candidates: (..., T, 4) boxes.
    acceptable: (..., T) bool.

  Returns:
    (..., 4) the selected boxes.
  """
  tries = acceptable.shape[-1]
  index = jnp.where(jnp.any(acceptable, axis=-1), jnp.argmax(acceptable, axis=-1), tries - 1)
  return jnp.take_along_axis(candidates, index[..., None, None], axis=-2)[..., 0, :]


@functools.partial(jax.jit, static_argnames=('tries',))
def jitter_box(key,
               box,
               image_size,
               *,
               center_scale=CENTER_SCALE,
               size_scale=SIZE_SCALE,
               size_range=SIZE_RANGE,
               tries: int = TRIES):
  """Randomly shifts and rescales boxes, as the released ``add_noise`` does.

  Draws `tries` candidates (see `jitter_candidates`) and returns the first whose
  centre lies inside the original box and inside the image, or the last
  candidate if none does. Does not move the box towards the truth afterwards:
  that is `cover_truth` (`place_window` does both).

  Args:
    key: a PRNG key (typed or raw), for the whole batch.
    box: (..., 4) xyxy boxes.
    image_size: (height, width), or (..., 2) broadcasting against the boxes.
    center_scale: Laplace scale of the centre shift, in box widths / heights.
    size_scale: Laplace scale of the size factors.
    size_range: (low, high) clip range of the size factors.
    tries: number of candidates (static).

  Returns:
    (..., 4) float32 xyxy boxes with positive sizes.
  """
  candidates, acceptable = jitter_candidates(
      key, box, image_size, center_scale=center_scale, size_scale=size_scale,
      size_range=size_range, tries=tries)
  return first_acceptable(candidates, acceptable)


@jax.jit
def coverage(box, truth):
  """Fraction of the truth's area covered by the 2x context window of `box`.

  Args:
    box: (..., 4) xyxy boxes (their windows are `boxes.context_window`).
    truth: (..., 4) xyxy boxes, broadcasting against `box`.

  Returns:
    (...) float32 in [0, 1]; 0 for a truth of zero area. Inputs are not
    sanitised: infinite coordinates give NaN (see `sanitize`).
  """
  window = boxes_lib.context_window(jnp.asarray(box, jnp.float32))
  truth = jnp.asarray(truth, jnp.float32)
  lo = jnp.maximum(window[..., :2], truth[..., :2])
  hi = jnp.minimum(window[..., 2:], truth[..., 2:])
  inter = boxes_lib.area(jnp.concatenate([lo, hi], axis=-1))
  truth_area = boxes_lib.area(truth)
  return jnp.where(truth_area > 0, inter / jnp.where(truth_area > 0, truth_area, 1), 0.0)


@functools.partial(jax.jit, static_argnames=('max_steps',))
def cover_truth(box,
                truth,
                *,
                min_coverage=MIN_COVERAGE_PAPER,
                step=STEP,
                max_steps: int = MAX_STEPS):
  """Moves boxes towards the truth until their crop windows cover enough of it.

  The released ``fix_bbox_intersection``: repeat ``box <- (1 - step) box + step
  truth`` while the 2x context window of `box` covers less than `min_coverage`
  of the truth's area. Here the boxes after k = 0..max_steps updates are
  computed at once in closed form and the first that covers enough is
  returned; if none does, the truth itself is returned (its window always
  covers it fully). A box that already covers enough is returned unchanged.

  Args:
    box: (..., 4) xyxy boxes (sanitised first, see `sanitize`).
    truth: (..., 4) xyxy true boxes, broadcasting against `box` (sanitised).
    min_coverage: required fraction, ``intersection(window, truth) /
      area(truth)``; `MIN_COVERAGE_PAPER` (0.7, default) or
      `MIN_COVERAGE_RELEASED` (0.25). Values above 1 act as 1.
    step: fraction of the way to the truth moved per update, in (0, 1].
    max_steps: the most updates tried before giving the truth (static).

  Returns:
    (..., 4) float32 xyxy boxes with positive sizes.
  """
  box, truth = jnp.broadcast_arrays(sanitize(box), sanitize(truth))
  keep = (1.0 - jnp.asarray(step, jnp.float32)) ** jnp.arange(max_steps + 1, dtype=jnp.float32)
  keep = keep[:, None]  # (K, 1)
  moved = keep * box[..., None, :] + (1.0 - keep) * truth[..., None, :]  # (..., K, 4)
  enough = coverage(moved, truth[..., None, :]) >= jnp.minimum(min_coverage, 1.0)
  index = jnp.argmax(enough, axis=-1)
  chosen = jnp.take_along_axis(moved, index[..., None, None], axis=-2)[..., 0, :]
  out = jnp.where(jnp.any(enough, axis=-1)[..., None], chosen, truth)
  return _ensure_min_size(out)


@functools.partial(jax.jit, static_argnames=('tries', 'max_steps'))
def place_window(key,
                 prev_truth,
                 truth,
                 image_size,
                 *,
                 keep_prob=KEEP_PROB,
                 min_coverage=MIN_COVERAGE_PAPER,
                 center_scale=CENTER_SCALE,
                 size_scale=SIZE_SCALE,
                 size_range=SIZE_RANGE,
                 tries: int = TRIES,
                 step=STEP,
                 max_steps: int = MAX_STEPS):
  """The box whose 2x context window is the crop of a ground-truth-placed step.

  With probability `keep_prob` the previous true box is used as is, otherwise
  the CURRENT true box is jittered (`jitter_box`); either way the result is
  then moved towards the current truth until its window covers `min_coverage`
  of it (`cover_truth`), as the released code does.

  Args:
    key: a PRNG key (typed or raw), for the whole batch.
    prev_truth: (..., 4) xyxy true boxes at time t - 1.
    truth: (..., 4) xyxy true boxes at time t (broadcasting with `prev_truth`).
    image_size: (height, width) of frame t, or (..., 2).
    keep_prob: probability of keeping `prev_truth` instead of jittering.
    min_coverage: see `cover_truth`.
    center_scale: see `jitter_box`.
    size_scale: see `jitter_box`.
    size_range: see `jitter_box`.
    tries: see `jitter_box` (static).
    step: see `cover_truth`.
    max_steps: see `cover_truth` (static).

  Returns:
    (..., 4) float32 xyxy boxes with positive sizes; pass them to
    `boxes.context_window` / the crop function as the crop's box.
  """
  prev_truth, truth = jnp.broadcast_arrays(sanitize(prev_truth), sanitize(truth))
  keep_key, jitter_key = jax.random.split(key)
  keep = jax.random.bernoulli(keep_key, keep_prob, truth.shape[:-1])
  jittered = jitter_box(
      jitter_key, truth, image_size, center_scale=center_scale, size_scale=size_scale,
      size_range=size_range, tries=tries)
  start = jnp.where(keep[..., None], prev_truth, jittered)
  return cover_truth(start, truth, min_coverage=min_coverage, step=step, max_steps=max_steps)
