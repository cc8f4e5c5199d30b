"""Online tracking: pure jitted `init`/`step`, `track_video`, and `Re3Tracker`.

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
import os
from typing import Hashable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import compilation_cache as compilation_cache_lib
from re3_jax.core import crops as crops_lib
from re3_jax.core import images as images_lib
from re3_jax.model import lstm as lstm_lib
from re3_jax.model import matmul
from re3_jax.model import weight_shapes
from re3_jax.tracking import confidence
from re3_jax.tracking import recovery as recovery_lib
# The models shipped inside the package, re-exported (`shipped` holds them).
from re3_jax.tracking.shipped import (  # noqa: F401
    PRETRAINED, PRETRAINED_DESCRIPTION, PRETRAINED_DIR, SHIPPED, WEIGHTS_DIR, pretrained_dir,
    resolve_checkpoint)
from re3_jax.tracking.tracker_config import RESET_INTERVAL, check_reset_interval  # noqa: F401
MIN_BOX_SIZE = 1.0

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


def _advance_slots(params, state, slots, image, start_boxes, start_mask, *, config,
                   reset_interval, recovery):
  sub = jax.tree_util.tree_map(lambda x: jnp.take(x, slots, axis=0, mode='clip'), state)
  box, sub = _advance(params, sub, image, config, reset_interval, start_boxes, start_mask,
                      recovery)
  state = jax.tree_util.tree_map(lambda x, y: x.at[slots].set(y, mode='drop'), state, sub)
  return box, sub.score, state


_advance_slots_jit = jax.jit(_advance_slots,
                             static_argnames=('config', 'reset_interval', 'recovery'),
                             donate_argnums=(1,))


def _bucket(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


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


class Re3Tracker:
  """Tracks objects by id through a stream of images, like the original API.

  All objects given to one `multi_track` call go through the network in one
  batched pass, new tracks included. Per-call work is one jitted function,
  compiled once per (number of objects rounded up to a power of two, capacity,
  image size). Making a tracker turns JAX's persistent compilation cache on
  (`compilation_cache.enable`: the folder ``compilation_cache``, else
  ``~/.cache/re3_jax/xla`` unless JAX has a folder already; ``compilation_cache='off'``
  or ``RE3_JAX_COMPILATION_CACHE=off`` leaves it off), so the next process tracking
  with the same model skips most of the compiling. ``recovery`` (default 'auto': on for
  models with a confidence, as the shipped one; False: off; or a `recovery.Recovery`) makes
  tracks whose confidence stays low search for their first-frame target again and resume
  where it is found (`recovery`).

  Example::

    tracker = Re3Tracker.from_checkpoint('/path/to/ckpt')
    box = tracker.track('car', frame0, [x1, y1, x2, y2])
    for frame in frames:
      box = tracker.track('car', frame)
  """

  def __init__(self, params, config: model.ModelConfig, *, pack: str | bool = 'auto',
               reset_interval: int = RESET_INTERVAL, compilation_cache: str | None = None,
               recovery='auto'):
    # Before anything compiles: a second process starts fast.
    compilation_cache_lib.enable(compilation_cache)
    self.config = config
    self.reset_interval = check_reset_interval(reset_interval)
    # 'auto' (on where the model has a confidence), None/False (off), True (the default
    # layout) or a `recovery.Recovery`: see `recovery`.
    self.recovery = recovery_lib.resolve(recovery, config)
    # Parameters of another config: a ValueError naming the leaf, not an error of XLA's.
    weight_shapes.check_params(params, config, 'the parameters given to Re3Tracker')
    self.params = prepare_params(params, config, pack)
    self._slots: dict[Hashable, int] = {}
    self._free: list[int] = []
    self._state: TrackState | None = None

  @classmethod
  def from_checkpoint(cls, directory: str | os.PathLike, **kwargs) -> 'Re3Tracker':
    """Restores parameters and config saved by `checkpoints.save_params`."""
    from re3_jax.model import checkpoints  # orbax is only needed here.
    params, config = checkpoints.load_params(directory)
    return cls(params, config, **kwargs)

  @classmethod
  def pretrained(cls, name: str | None = None, **kwargs) -> 'Re3Tracker':
    """A model shipped with the package: the default (`PRETRAINED_DESCRIPTION`), a tracker
    for real video, or another of `SHIPPED` by name (``pretrained('re3_squeeze')``).

    Raises:
      FileNotFoundError: the package was installed without its weights.
    """
    return cls.from_checkpoint(pretrained_dir(name), **kwargs)

  @property
  def track_ids(self) -> list[Hashable]:
    return list(self._slots)

  def remove(self, track_id: Hashable) -> None:
    """Stops tracking `track_id` (KeyError if unknown)."""
    self._free.append(self._slots.pop(track_id))

  def _capacity(self) -> int:
    return 0 if self._state is None else self._state.box.shape[0]

  def _allocate(self, track_id) -> int:
    if not self._free:
      old = self._capacity()
      new = max(1, 2 * old)
      # On the parameters' device, committed as the step's outputs are: the step's first
      # call (new state) and second (its own output) then compile once, not twice.
      device = next(iter(jax.tree_util.tree_leaves(self.params)[0].devices()))
      extra = jax.device_put(empty_state(new - old, self.config), device)
      self._state = extra if self._state is None else jax.tree_util.tree_map(
          lambda a, b: jnp.concatenate([a, b]), self._state, extra)
      self._free = list(range(new - 1, old - 1, -1))
    slot = self._free.pop()
    self._slots[track_id] = slot
    return slot

  def track(self, track_id: Hashable, image, box=None, *, with_score: bool = False):
    """Tracks one object into `image`; pass `box` (xyxy) to start or restart it.

    Returns:
      (4,) float32 xyxy box (the given box when starting); with `with_score`, (box, score):
      the box's confidence (`confidence`: 1 at the start, lower when the box holds
      something other than the starting target; NaN for a model without a score).
    """
    out = self.multi_track([track_id], image, None if box is None else {track_id: box},
                           with_scores=with_score)
    return (out[0][0], float(out[1][0])) if with_score else out[0]

  def score(self, track_id: Hashable) -> float:
    """The confidence of `track_id`'s last box (see `track`; KeyError if unknown)."""
    return float(self._state.score[self._slots[track_id]])

  def multi_track(self, track_ids: Sequence[Hashable], image, boxes=None, *,
                  with_scores: bool = False):
    """Tracks several objects into one image in one batched pass.

    Args:
      track_ids: ids of the objects to advance or start, no repeats.
      image: the next image, uint8 RGB (see `images`).
      boxes: starting boxes of new (or restarted) tracks: a dict {id: xyxy}, or
        a sequence aligned with `track_ids` holding None for running tracks.

      with_scores: also return the boxes' confidences.

    Returns:
      (N, 4) float32 boxes in the order of `track_ids`; with `with_scores`, (boxes, (N,)
      float32 scores) (see `track`).
    """
    if isinstance(track_ids, (str, bytes)):  # iterated, it would be one id per character
      raise ValueError(f'track_ids must be a sequence of ids, not the {type(track_ids).__name__} '
                       f'{track_ids!r}: give [{track_ids!r}] for one track (or use track)')
    track_ids = list(track_ids)
    if not track_ids:
      raise ValueError('multi_track needs at least one track id')
    if len(set(track_ids)) != len(track_ids):
      raise ValueError(f'track ids repeat: {track_ids}')
    image = images_lib.to_rgb(image)
    hw = image.shape[:2]
    if boxes is None:
      starts = {}
    elif isinstance(boxes, dict):
      unknown = set(boxes) - set(track_ids)
      if unknown:
        raise ValueError(f'starting boxes given for ids not in track_ids: {sorted(map(str, unknown))}')
      starts = dict(boxes)
    else:
      boxes = list(boxes)
      if len(boxes) != len(track_ids):
        raise ValueError(f'{len(boxes)} boxes for {len(track_ids)} track ids')
      starts = {i: b for i, b in zip(track_ids, boxes) if b is not None}
    starts = {i: boxes_lib.validate_box(b, hw, f'starting box of track {i!r}')
              for i, b in starts.items()}
    for i in track_ids:
      if i not in starts and i not in self._slots:
        raise ValueError(f'track {i!r} is not being tracked: give it a starting box')
    for i in track_ids:
      if i not in self._slots:
        self._allocate(i)
    n = len(track_ids)
    bucket = _bucket(n)
    slots = np.full((bucket,), self._capacity(), np.int32)  # padding: dropped on write
    slots[:n] = [self._slots[i] for i in track_ids]
    start_mask = np.zeros((bucket,), bool)
    start_boxes = np.zeros((bucket, 4), np.float32)
    for k, i in enumerate(track_ids):
      if i in starts:
        start_mask[k] = True
        start_boxes[k] = starts[i]
    out, scores, self._state = _advance_slots_jit(
        self.params, self._state, slots, image, start_boxes, start_mask,
        config=self.config, reset_interval=self.reset_interval, recovery=self.recovery)
    if with_scores:
      return np.asarray(out)[:n], np.asarray(scores)[:n]
    return np.asarray(out)[:n]


def load_tracker(checkpoint: str | os.PathLike | None = None, config: str | None = None, *,
                 precision: str | None = None, seed: int = 0) -> Re3Tracker:
  """`tracker_config.build_tracker` of a checkpoint (or a shipped model's name; None: the
  shipped model) or random weights of the model config `config` (with `seed`), in
  `precision` (None: the checkpoint's): see `tracker_config.TrackerConfig`.

  Raises:
    ValueError: both `checkpoint` and `config` given.
    FileNotFoundError: no checkpoint at `checkpoint`.
  """
  from re3_jax.tracking import tracker_config  # pylint: disable=g-import-not-at-top
  return tracker_config.build_tracker(tracker_config.TrackerConfig(
      checkpoint=None if checkpoint is None else os.fspath(checkpoint), random_model=config,
      seed=seed, precision=precision))
