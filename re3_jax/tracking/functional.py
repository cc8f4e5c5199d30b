"""The tracker as pure functions: `TrackState`, the jitted `init` and `step`, `track_video`
(a whole clip in one `lax.scan`), `advance_slots` (the pass `tracker.Re3Tracker` runs per
call) and `prepare_params` (the parameters' inference layout). The stateful API over them is
`re3_jax.tracking.tracker.Re3Tracker`.

The test-time procedure of the original (reference section 7):

* Start: one pass on (crop(image), crop(image)) at the given box from the zero
  LSTM state; its state is kept as the track's initial state, its output is
  discarded and the given box returned.
* Each next frame: the window is the previous box; crops of the previous and
  the current image at that window; the output decoded to image coordinates.
* After predicting a frame whose pass count (passes since the start, counting
  the starting pass) is a positive multiple of 32: one extra pass on
  (crop(current), crop(current)) at the new box from the initial state, whose
  LSTM state replaces the current one. With the start at frame 0 this happens
  at frames 32, 64, ...

The crop of the previous image at the new box is cut at the end of each step and
its conv tower features kept in the state, so a step needs only the current image,
state is independent of the frame size, and the same features score the new box
(`confidence`: each box's score is in ``TrackState.score``).

Guards (not in the original, no-ops for sane predictions): a non-finite
prediction keeps the previous box; corners are ordered; width and height are
kept within [1 pixel, 2x the image's]; the centre is kept inside the image.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops as crops_lib
from re3_jax.core import images as images_lib
from re3_jax.model import lstm as lstm_lib
from re3_jax.model import matmul
from re3_jax.tracking import confidence
from re3_jax.tracking import recovery as recovery_lib
from re3_jax.tracking.tracker_config import RESET_INTERVAL, check_reset_interval

MIN_BOX_SIZE = 1.0  # the guards' smallest width and height of a box, pixels


class TrackState(NamedTuple):
  """State of N tracks; every leaf has leading axis N.

  Attributes:
    box: (N, 4) float32 xyxy, the last box of each track.
    lstm: LSTM state after the last pass.
    initial_lstm: LSTM state after the starting pass (used by the reset).
    prev_features: (N, F) float32 (F: the model's ``features_per_crop``), the conv tower's
      features of the last image cropped at `box`: the next step's previous crop.
    frame_count: (N,) int32 passes made since the start, the start included.
    template: (N, K, K, C) float32, each track's first-frame template
      (`model.template_from_features` of its starting crop) where the model's features
      carry the tower's last activation (``correlation``); (N, 0) without.
    score: (N,) float32, the confidence of `box` (`confidence.appearance`; 1 at the start,
      NaN for a model without a score).
    low: (N,) int32 consecutive frames scored below the recovery's threshold, up to and
      including the last (0 without recovery; `recovery`).
    anchor: (N, 4) float32 the box of the last frame scored at or above the recovery's
      threshold (the start's without recovery): where a lost track is searched for.
  """
  box: jax.Array
  lstm: lstm_lib.LSTMState
  initial_lstm: lstm_lib.LSTMState
  prev_features: jax.Array
  frame_count: jax.Array
  template: jax.Array
  score: jax.Array
  low: jax.Array
  anchor: jax.Array


def _sanitize(pred, prev, image_hw):
  finite = jnp.all(jnp.isfinite(pred), axis=-1, keepdims=True)
  pred = jnp.where(finite, pred, prev)
  lo = jnp.minimum(pred[..., :2], pred[..., 2:])
  hi = jnp.maximum(pred[..., :2], pred[..., 2:])
  wh = jnp.asarray(image_hw[::-1], jnp.float32)
  center = jnp.clip((lo + hi) / 2, 0.0, wh)
  size = jnp.clip(hi - lo, MIN_BOX_SIZE, 2 * wh)
  return boxes_lib.from_center_size(center, size)


def _where_rows(mask, a, b):
  """Per-row select between two pytrees with leading axis N."""
  return jax.tree_util.tree_map(
      lambda x, y: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)), x, y), a, b)


def _features(params, image, windows, config):
  """The conv tower's (N, F) float32 features of `image` cropped at (N, 4) `windows`."""
  crops = crops_lib.crop_many(image, windows, size=config.crop_size)
  return model.conv_features(params, crops, config).astype(jnp.float32)


def _lstm_pass(params, prev_feats, cur_feats, lstm_in, config, template):
  """fc6 on (N, F) previous and current crop features, then one LSTM step: ((N, 4) outputs
  in the crop frame, the LSTM state); `model.apply` on the crops, split where the tracker
  keeps the tower's features."""
  fc6 = model.fc6_layer(params, jnp.concatenate([prev_feats, cur_feats], axis=-1), config,
                        template if config.first_template else None)
  outputs, lstm_out = model.recurrent(params, fc6[:, None], lstm_in, config)
  return outputs[:, 0], lstm_out


def _advance(params, state: TrackState, image, config, reset_interval, start_boxes=None,
             start_mask=None, recovery: recovery_lib.Recovery | None = None):
  """One pass for N tracks on one image; tracks in `start_mask` start at `start_boxes`.

  `start_mask=None` with `start_boxes` given starts every track. The tower runs twice per
  track: on the current image at the window of the previous box, and on it at the window
  of the new box (kept as the next step's previous crop and scored, `confidence`). With a
  `recovery` (static), tracks lost for its patience search again (`recovery`), under a
  `lax.cond` that costs nothing while none is.
  """
  hw = image.shape[:2]
  n = state.box.shape[0]
  if start_boxes is None:
    start_mask = jnp.zeros((n,), bool)
    window_box = state.box
  else:
    if start_mask is None:
      start_mask = jnp.ones((n,), bool)
    window_box = jnp.where(start_mask[:, None], start_boxes, state.box)
  windows = boxes_lib.context_window(window_box)
  cur_feats = _features(params, image, windows, config)
  prev_feats = _where_rows(start_mask, cur_feats, state.prev_features)
  template = state.template
  if confidence.available(config) and start_boxes is not None:
    template = _where_rows(start_mask, model.template_from_features(cur_feats, config),
                           state.template)
  zeros = model.initial_state(n, config)
  lstm_in = _where_rows(start_mask, zeros, state.lstm)
  outputs, lstm_out = _lstm_pass(params, prev_feats, cur_feats, lstm_in, config, template)
  pred = _sanitize(boxes_lib.from_crop_frame(outputs, windows), window_box, hw)
  box = pred if start_boxes is None else jnp.where(start_mask[:, None], start_boxes, pred)
  initial = _where_rows(start_mask, lstm_out, state.initial_lstm)
  count = jnp.where(start_mask, 0, state.frame_count)
  next_feats = _features(params, image, boxes_lib.context_window(box), config)
  reset = (count > 0) & (count % reset_interval == 0)

  def do_reset(current):
    _, fresh = _lstm_pass(params, next_feats, next_feats, initial, config, template)
    return _where_rows(reset, fresh, current)

  lstm_new = lax.cond(jnp.any(reset), do_reset, lambda s: s, lstm_out)
  if confidence.available(config):
    score = confidence.appearance(template, next_feats, config)
  else:
    score = jnp.full((n,), confidence.NO_SCORE, jnp.float32)
  anchor = state.anchor if start_boxes is None else jnp.where(
      start_mask[:, None], start_boxes, state.anchor)
  low = jnp.where(start_mask, 0, state.low)
  new = TrackState(box, lstm_new, initial, next_feats, count + 1, template, score, low, anchor)
  if recovery is not None:
    new = _recover(params, new, image, config, recovery)
  return new.box, new


def _recover(params, state: TrackState, image, config, recovery):
  """The recovery after a step (`recovery`): the low-frame count and anchor updated, and
  tracks lost for the patience searched, restarted where found."""
  low = jnp.where(state.score < recovery.threshold, state.low + 1, 0)
  lost = low >= recovery.patience

  def search(state):
    found_box, sim = recovery_lib.search(params, image, state.template, state.anchor,
                                         low - recovery.patience + 1, config, recovery)
    resume = lost & (sim >= recovery.resume)
    feats = _features(params, image, boxes_lib.context_window(found_box), config)
    score = confidence.appearance(state.template, feats, config)
    found = state._replace(box=found_box, lstm=state.initial_lstm, prev_features=feats,
                           score=score)
    return _where_rows(resume, found, state)

  state = lax.cond(jnp.any(lost), search, lambda s: s, state._replace(low=low))
  low = jnp.where(state.score < recovery.threshold, state.low, 0)
  anchor = jnp.where((state.score >= recovery.threshold)[:, None], state.box, state.anchor)
  return state._replace(low=low, anchor=anchor)


def empty_state(n: int, config: model.ModelConfig) -> TrackState:
  """A state of n unstarted tracks (placeholders for `init` and `Re3Tracker`)."""
  return TrackState(jnp.zeros((n, 4), jnp.float32), model.initial_state(n, config),
                    model.initial_state(n, config),
                    jnp.zeros((n, config.features_per_crop), jnp.float32),
                    jnp.zeros((n,), jnp.int32),
                    jnp.zeros((n,) + config.template_shape, jnp.float32),
                    jnp.zeros((n,), jnp.float32), jnp.zeros((n,), jnp.int32),
                    jnp.zeros((n, 4), jnp.float32))


def _init(params, image, boxes, *, config: model.ModelConfig) -> TrackState:
  """The body of `init`, for use inside other jitted functions."""
  boxes = jnp.asarray(boxes, jnp.float32)
  _, state = _advance(params, empty_state(boxes.shape[0], config), image, config,
                      RESET_INTERVAL, start_boxes=boxes)
  return state


def _concrete(x) -> bool:
  """Whether `x` holds values the host can check (not a tracer inside a transformation)."""
  return not isinstance(x, jax.core.Tracer)


def _checked_boxes(boxes, hw) -> jax.Array:
  """(N, 4) starting boxes: shapes always checked, values when concrete (`validate_boxes`)."""
  if not _concrete(boxes):
    boxes_lib.check_boxes_shape(boxes.shape)
    return boxes.astype(jnp.float32)
  return jnp.asarray(boxes_lib.validate_boxes(np.asarray(boxes), hw))


_init_jit = jax.jit(_init, static_argnames=('config',))
_step_jit = jax.jit(_advance, static_argnames=('config', 'reset_interval', 'recovery'))


def init(params, image, boxes, *, config: model.ModelConfig) -> TrackState:
  """Starts N tracks on one image (jitted once per image size and N).

  The inputs are checked on the host first, as `Re3Tracker` checks them: a
  ValueError names a bad image (dtype, shape) or box (shape, NaN, empty,
  outside the image). Inside another transformation (traced inputs) only
  shapes and dtypes can be checked.

  Args:
    params: network parameters (`prepare_params` for the CPU's fast layout).
    image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 (see `images.to_rgb`).
    boxes: (N, 4) starting boxes, xyxy pixels, N >= 1 (one box: ``[box]``).
    config: the model config (static).

  Returns:
    The `TrackState` of the N tracks.
  """
  image = images_lib.to_rgb(image)
  return _init_jit(params, image, _checked_boxes(boxes, image.shape[:2]), config=config)


def step(params, state: TrackState, image, *, config: model.ModelConfig,
         reset_interval: int = RESET_INTERVAL, recovery='auto'):
  """Tracks N objects into the next image: returns ((N, 4) float32 boxes, new state).

  `image` is checked as in `init`; the boxes are finite (a non-finite
  prediction keeps the previous box, see the module docstring). `recovery` (static): 'auto'
  (`recovery.DEFAULT` where the model has a confidence, else off), None or False (off), True
  (`recovery.DEFAULT`) or a `recovery.Recovery`: lost tracks search again (`recovery`). The
  state `init` returns serves either way.
  """
  if not isinstance(state, TrackState):
    raise ValueError(f'state must be the TrackState that init or step returned, got '
                     f'{type(state).__name__}')
  return _step_jit(params, state, images_lib.to_rgb(image), config=config,
                   reset_interval=check_reset_interval(reset_interval),
                   recovery=recovery_lib.resolve(recovery, config))


@functools.partial(jax.jit, static_argnames=('config', 'reset_interval', 'recovery'))
def _track_video(params, frames, boxes, *, config, reset_interval, recovery=None):
  state = _init(params, frames[0], boxes, config=config)

  def body(state, frame):
    box, state = _advance(params, state, frame, config, reset_interval, recovery=recovery)
    return state, (box, state.score)

  start_score = state.score
  _, (out, scores) = lax.scan(body, state, frames[1:])
  return (jnp.concatenate([boxes[None], out], axis=0),
          jnp.concatenate([start_score[None], scores], axis=0))


def track_video(params, frames, boxes, *, config: model.ModelConfig,
                reset_interval: int = RESET_INTERVAL, with_scores: bool = False,
                recovery='auto'):
  """Tracks objects through a whole clip on the device in one `lax.scan`.

  Args:
    params: network parameters.
    frames: (T, H, W, C) uint8 frames, T >= 1, C in 1, 3, 4 (see `images`;
      one frame: ``frame[None]``).
    boxes: (4,) or (N, 4) starting boxes in frame 0, xyxy pixels.
    config: the model config.
    reset_interval: passes between LSTM resets (32 in the original).
    with_scores: also return each box's confidence (`TrackState.score`, as
      `Re3Tracker.track` with ``with_score``: 1 at the start, lower when the box holds
      something else; NaN for a model without a score).
    recovery: lost tracks search again (as `step`'s).

  Returns:
    (T, 4) or (T, N, 4) float32 boxes; row 0 is the starting box. With `with_scores`,
    (boxes, scores): scores (T,) or (T, N) float32, row 0 the start's (1).
  """
  reset_interval = check_reset_interval(reset_interval)
  frames = images_lib.to_rgb(frames, 'frames', frame_axes=1)
  hw = frames.shape[1:3]
  single = np.ndim(boxes) < 2
  if single:
    boxes_np = boxes_lib.validate_box(boxes, hw, 'starting box')[None]
  else:
    boxes_np = boxes_lib.validate_boxes(boxes, hw)
  out, scores = _track_video(params, frames, jnp.asarray(boxes_np), config=config,
                             reset_interval=reset_interval,
                             recovery=recovery_lib.resolve(recovery, config))
  if single:
    out, scores = out[:, 0], scores[:, 0]
  return (out, scores) if with_scores else out


@functools.partial(jax.jit, static_argnames=('config', 'reset_interval', 'recovery'),
                   donate_argnums=(1,))
def advance_slots(params, state: TrackState, slots, image, start_boxes, start_mask, *, config,
                  reset_interval, recovery):
  """One pass for the tracks at `slots` of a larger `state` (gathered, advanced, scattered
  back): ((S, 4) boxes, (S,) scores, the new state). Slots equal to the state's size are
  padding: their rows are computed and dropped. Jitted, `state` donated: what
  `tracker.Re3Tracker` runs per call."""
  sub = jax.tree_util.tree_map(lambda x: jnp.take(x, slots, axis=0, mode='clip'), state)
  box, sub = _advance(params, sub, image, config, reset_interval, start_boxes, start_mask,
                      recovery)
  state = jax.tree_util.tree_map(lambda x, y: x.at[slots].set(y, mode='drop'), state, sub)
  return box, sub.score, state


def prepare_params(params, config: model.ModelConfig, pack: str | bool = 'auto'):
  """Puts parameters in the tracker's inference layout.

  Weights are cast to `config.param_dtype`. With packing (for CPUs), matrices
  of at least `matmul.PACK_MIN_SIZE` entries (fc6) are stored as packed
  bfloat16 and the other bfloat16 weights widened back to float32 (the same
  values: XLA's CPU backend multiplies float32 faster than it converts
  bfloat16), see `matmul`.

  Args:
    params: parameters (any float dtypes).
    config: the model config.
    pack: True, False, or 'auto' (pack when `param_dtype` is bfloat16 and JAX's
      default backend is the CPU).

  Returns:
    A parameter pytree on the default device.
  """
  params = model.cast_params(params, jnp.dtype(config.param_dtype))
  if pack == 'auto':
    pack = config.param_dtype == 'bfloat16' and jax.default_backend() == 'cpu'
  if pack:
    params = matmul.pack_params(params)
    params = jax.tree_util.tree_map(
        lambda w: w.astype(jnp.float32) if w.dtype == jnp.bfloat16 else w, params)
  return jax.device_put(params)

