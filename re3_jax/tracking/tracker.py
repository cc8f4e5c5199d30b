"""`Re3Tracker`: the tracker's stateful API, objects tracked by id through a stream of
images (the original's), and `load_tracker`, the one a `TrackerConfig` describes in short.

Each call is one jitted pass of the pure functions of `re3_jax.tracking.functional`
(`functional.advance_slots` over the tracks' `functional.TrackState`), where the
test-time procedure and the guards are described.
"""

from __future__ import annotations

import os
from typing import Hashable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import compilation_cache as compilation_cache_lib
from re3_jax.core import images as images_lib
from re3_jax.model import weight_shapes
from re3_jax.tracking import functional
from re3_jax.tracking import recovery as recovery_lib
from re3_jax.tracking import shipped
from re3_jax.tracking import tracker_config


def _bucket(n: int) -> int:
  return 1 << max(0, (n - 1).bit_length())


class Re3Tracker:
  """Tracks objects by id through a stream of images, like the original API.

  All objects given to one `multi_track` call go through the network in one
  batched pass, new tracks included. Per-call work is one jitted function
  (`functional.advance_slots`), compiled once per (number of objects rounded up to a power
  of two, capacity, image size). ``recovery`` (default 'auto': on for models with a
  confidence, as the shipped one; False: off; or a `recovery.Recovery`) makes tracks whose
  confidence stays low search for their first-frame target again and resume where it is
  found (`recovery`).

  Example::

    tracker = Re3Tracker.from_checkpoint('/path/to/ckpt')
    box = tracker.track('car', frame0, [x1, y1, x2, y2])
    for frame in frames:
      box = tracker.track('car', frame)
  """

  def __init__(self, params, config: model.ModelConfig, *, pack: str | bool = 'auto',
               reset_interval: int = tracker_config.RESET_INTERVAL,
               compilation_cache: str | os.PathLike | None = None, recovery='auto'):
    """A tracker of `config`'s network with `params`.

    Args:
      params: the network's parameters (any float dtypes; `functional.prepare_params` puts
        them in the inference layout).
      config: the model config they are of (a ValueError names a leaf of another).
      pack: as `functional.prepare_params`'s.
      reset_interval: passes between LSTM resets (the original's 32).
      compilation_cache: JAX's persistent compilation cache, a setting of the whole
        process that the constructor changes before anything compiles, so that the next
        process tracking with the same model skips most of the compiling
        (`compilation_cache.enable`; its turning on is logged once, at INFO). None (the
        default, as the command lines): on, in ``$RE3_JAX_COMPILATION_CACHE``, else
        ``~/.cache/re3_jax/xla``; a folder: on, there; ``'off'``: JAX's settings are left
        as they are. A folder JAX already has (the user's) wins over each.
      recovery: 'auto' (on where the model has a confidence), None or False (off), True
        (`recovery.DEFAULT`) or a `recovery.Recovery`: see `recovery`.
    """
    compilation_cache_lib.enable(compilation_cache)
    self.config = config
    self.reset_interval = tracker_config.check_reset_interval(reset_interval)
    self.recovery = recovery_lib.resolve(recovery, config)
    # Parameters of another config: a ValueError naming the leaf, not an error of XLA's.
    weight_shapes.check_params(params, config, 'the parameters given to Re3Tracker')
    self.params = functional.prepare_params(params, config, pack)
    self._slots: dict[Hashable, int] = {}
    self._free: list[int] = []
    self._state: functional.TrackState | None = None

  @classmethod
  def from_checkpoint(cls, directory: str | os.PathLike, **kwargs) -> 'Re3Tracker':
    """Restores parameters and config saved by `checkpoints.save_params`."""
    from re3_jax.model import checkpoints  # orbax is only needed here.
    params, config = checkpoints.load_params(directory)
    return cls(params, config, **kwargs)

  @classmethod
  def pretrained(cls, name: str | None = None, **kwargs) -> 'Re3Tracker':
    """A model shipped with the package: the default (`shipped.PRETRAINED_DESCRIPTION`), a tracker
    for real video, or another of `shipped.SHIPPED` by name (``pretrained('re3_squeeze')``).

    Raises:
      FileNotFoundError: the package was installed without its weights.
    """
    return cls.from_checkpoint(shipped.pretrained_dir(name), **kwargs)

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
      extra = jax.device_put(functional.empty_state(new - old, self.config), device)
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
    out, scores, self._state = functional.advance_slots(
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
  return tracker_config.build_tracker(tracker_config.TrackerConfig(
      checkpoint=None if checkpoint is None else os.fspath(checkpoint), random_model=config,
      seed=seed, precision=precision))
