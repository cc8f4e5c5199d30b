"""Frames to network outputs as training runs them: crop windows placed, crops cut, the network.

`unroll` is the train step's forward computation in two passes:
`place_windows` (no gradient) places every step's crop window, from the
jittered truth or, in self-training sequences, at the network's previous
prediction (a forward pass step by step, only when a sequence self-trains);
then every crop pair of the batch goes through the conv tower and fc6 at once
(`tower`) and only the LSTMs run in a scan over time. `unroll_stepwise` is
the same computation with the tower inside the scan (the original code's
structure): the tests' reference, and the faster one for the tiny model on
CPUs. ``optim`` is a `train_step.OptimConfig` (``keep_prob``,
``min_coverage``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops
from re3_jax.input import batch as batch_lib
from re3_jax.training import jitter


def _draws(batch: batch_lib.Batch, key: jax.Array, self_train_prob, optim):
  """The step's random choices, the same for both formulations of the unroll.

  Returns:
    ``(use_own, placed)``: bool (B,) sequences that self-train, and float32
    (B, T, 4) the ground-truth-placed box of every step (`jitter.place_window`
    with step ``t``'s key; step 0 at its true box).
  """
  b, t = batch.boxes.shape[:2]
  seq_key, time_key = jax.random.split(key)
  use_own = jax.random.bernoulli(seq_key, self_train_prob, (b,))
  true = batch.boxes.astype(jnp.float32)
  prev_true = jnp.concatenate([true[:, :1], true[:, :-1]], axis=1)
  place = functools.partial(jitter.place_window, keep_prob=optim.keep_prob,
                            min_coverage=optim.min_coverage)
  placed = jax.vmap(place, in_axes=(0, 1, 1, 1), out_axes=1)(
      jax.random.split(time_key, t), prev_true, true, batch.valid_sizes.astype(jnp.float32))
  return use_own, placed.at[:, 0].set(true[:, 0])


def _scan_steps(params, batch: batch_lib.Batch, use_own, placed, *,
                model_config: model.ModelConfig, optim,
                scan_unroll: int | bool | None):
  """The network step by step: each step crops at a window that may need the last prediction.

  Returns ``(outputs, labels, predictions, boxes)`` as `unroll`.
  """
  b, t = batch.boxes.shape[:2]
  time_major = lambda x: jnp.swapaxes(x, 0, 1)
  xs = (time_major(batch.frames), time_major(batch.valid_sizes),
        time_major(batch.boxes).astype(jnp.float32), time_major(placed), jnp.arange(t))
  first_box = batch.boxes[:, 0].astype(jnp.float32)
  carry = (model.initial_state(b, model_config), batch.frames[:, 0], batch.valid_sizes[:, 0],
           first_box)
  template = None
  if model_config.first_template:  # the first frame's target, as `unroll` takes it
    first_crop = crops.crop_batch(batch.frames[:, 0], boxes_lib.context_window(first_box),
                                  batch.valid_sizes[:, 0], size=model_config.crop_size)
    template = model.template(params, first_crop, model_config)

  def body(carry, x):
    state, prev_frame, prev_valid, prev_pred = carry
    frame, valid, true, from_truth, index = x
    from_own = jitter.cover_truth(lax.stop_gradient(prev_pred), true,
                                  min_coverage=optim.min_coverage)
    box = jnp.where(use_own[:, None], from_own, from_truth)
    box = jnp.where(index == 0, true, box)
    window = boxes_lib.context_window(box)
    size = model_config.crop_size
    pair = jnp.stack([crops.crop_batch(prev_frame, window, prev_valid, size=size),
                      crops.crop_batch(frame, window, valid, size=size)], axis=1)
    out, state = model.apply(params, pair[:, None], state, model_config, template)
    out = out[:, 0]
    label = boxes_lib.to_crop_frame(true, window)
    pred = boxes_lib.from_crop_frame(lax.stop_gradient(out), window)
    return (state, frame, valid, pred), (out, label, pred, box)

  if scan_unroll is None:
    param_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(params))
    scan_unroll = default_scan_unroll(t, param_bytes)
  _, (outputs, labels, preds, boxes) = lax.scan(body, carry, xs, unroll=scan_unroll)
  return tuple(jnp.swapaxes(x, 0, 1) for x in (outputs, labels, preds, boxes))


def unroll_stepwise(params, batch: batch_lib.Batch, key: jax.Array, self_train_prob, *,
                    model_config: model.ModelConfig, optim,
                    scan_unroll: int | bool | None = 1):
  """`unroll` as the original code structures it: crops and tower inside the scan over time.

  Each step cuts its ``B`` crop pairs and runs the whole network on them, so
  the tower runs ``T`` times on ``B`` pairs, forward and backward, inside the
  loop. The same computation as `unroll` (same draws, windows, outputs);
  kept as its reference and for the benchmark's ratio.
  """
  use_own, placed = _draws(batch, key, self_train_prob, optim)
  return _scan_steps(params, batch, use_own, placed, model_config=model_config, optim=optim,
                     scan_unroll=scan_unroll)


def place_windows(params, batch: batch_lib.Batch, key: jax.Array, self_train_prob, *,
                  model_config: model.ModelConfig, optim,
                  scan_unroll: int | bool | None = 1):
  """The box of every step's crop window, (B, T, 4), without gradient.

  Ground-truth-placed steps need no network. When a sequence self-trains, a
  forward pass of the network over the batch, step by step (`unroll_stepwise`
  with the parameters under ``stop_gradient``), predicts each step's box and
  places the next window at it, exactly as the learning pass would; when no
  sequence of the batch self-trains (``lax.cond``), that pass is skipped.
  """
  use_own, placed = _draws(batch, key, self_train_prob, optim)

  def own():
    return _scan_steps(lax.stop_gradient(params), batch, use_own, placed,
                       model_config=model_config, optim=optim,
                       scan_unroll=1 if scan_unroll is None else scan_unroll)[3]
  return lax.stop_gradient(lax.cond(jnp.any(use_own), own, lambda: placed))


def default_tower_chunk(backend: str | None = None) -> int | None:
  """Crop pairs per tower call by default: 8 on CPUs, all of the batch elsewhere.

  XLA's CPU convolutions cost more per crop in larger batches (tower forward
  and backward on this project's 2-core CPU, ms a crop at 8 / 64 / 256 crops:
  tiny 2.6 / 4.8 / 4.9, small 46 / 48 / 66; WORKSPACE.md), so CPUs run the
  tower on 8 pairs (16 crops) at a time; an accelerator wants every crop of
  the batch in one call.
  """
  return 8 if (backend or jax.default_backend()) == 'cpu' else None


def tower(params, pairs, model_config: model.ModelConfig, *, chunk: int | None = None,
          remat: bool = False, steps: int = 1):
  """`model.pair_features` of (N, 2, S, S, 3) crop pairs, the conv tower in chunks of pairs.

  Under ``model_config.first_template`` the pairs are N / `steps` sequences of `steps`
  time steps (sequence-major), and each sequence's template is the first pair's current
  crop (step 0: frame 0 at its true box), taken from the features already computed.

  Args:
    params: model parameters.
    pairs: the crop pairs.
    model_config: the model.
    chunk: pairs per call of the conv tower (a Python loop: each chunk is its
      own piece of the program); None: `default_tower_chunk`; 0 or >= N: one
      call. fc6 runs once over all pairs (its weights read once).
    remat: `jax.checkpoint` each chunk's tower: the backward pass recomputes
      its activations from its crops instead of keeping them (memory of one
      chunk's activations instead of all; one more tower forward).

  Returns:
    fc6 (N, fc6_units).
  """
  n = pairs.shape[0]
  chunk = default_tower_chunk() if chunk is None else chunk
  flat = pairs.reshape((n * 2,) + pairs.shape[2:])
  features = functools.partial(model.conv_features, config=model_config)
  if remat:
    features = jax.checkpoint(features)
  if not chunk or chunk >= n:
    feats = features(params, flat)
  else:
    feats = jnp.concatenate([features(params, flat[i:i + 2 * chunk])
                             for i in range(0, 2 * n, 2 * chunk)])
  template = None
  if model_config.first_template:
    first = feats.reshape((n // steps, steps, 2) + feats.shape[1:])[:, 0, 1]
    template = jnp.repeat(model.template_from_features(first, model_config), steps, axis=0)
  return model.fc6_layer(params, feats.reshape(n, -1), model_config, template)


def unroll(params, batch: batch_lib.Batch, key: jax.Array, self_train_prob, *,
           model_config: model.ModelConfig, optim,
           scan_unroll: int | bool | None = 1, tower_chunk: int | None = None,
           remat: bool = False):
  """Runs the network over the batch as training does, placing every crop window.

  Two passes: `place_windows` (no gradient; a step-by-step forward pass only
  when a sequence self-trains), then every crop pair of the batch, ``B x T x
  2`` crops, through the conv tower and fc6 in one batched call; only the
  LSTMs run in a scan over time (`model.apply`).

  Args:
    params: model parameters.
    batch: frames, valid sizes and true boxes, ``B`` sequences of ``T``.
    key: this step's PRNG key.
    self_train_prob: scalar probability that a sequence places its windows at
      the network's own previous predictions.
    model_config: the model.
    optim: window placement settings (``min_coverage``, ``keep_prob``).
    scan_unroll: `lax.scan`'s ``unroll`` of the window-placing pass
      (``True``: fully unrolled; None: rolled, see `place_windows`). The
      same computation either way.
    tower_chunk: crop pairs per tower call (`tower`); None: `default_tower_chunk`.
    remat: recompute each chunk's tower activations in the backward pass
      instead of keeping them (`tower`).

  Returns:
    ``(outputs, labels, predictions, boxes)``, each (B, T, 4): network outputs
    and labels in the crop frame, the predictions decoded to image pixels
    (no gradient), and the box each step's window was placed at.
  """
  b, t = batch.boxes.shape[:2]
  boxes = place_windows(params, batch, key, self_train_prob, model_config=model_config,
                        optim=optim, scan_unroll=scan_unroll)
  windows = boxes_lib.context_window(boxes)
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  size = model_config.crop_size
  current = crops.crop_batch(flat(batch.frames), flat(windows), flat(batch.valid_sizes),
                             size=size)
  current = current.reshape((b, t) + current.shape[1:])
  # The previous frame at each step's window; step 0 pairs frame 0 with itself.
  previous = crops.crop_batch(flat(batch.frames[:, :-1]), flat(windows[:, 1:]),
                              flat(batch.valid_sizes[:, :-1]), size=size)
  previous = jnp.concatenate([current[:, :1], previous.reshape((b, t - 1) + current.shape[2:])],
                             axis=1)
  pairs = jnp.stack([previous, current], axis=2).reshape((b * t, 2) + current.shape[2:])
  fc6 = tower(params, pairs, model_config, chunk=tower_chunk, remat=remat, steps=t)
  outputs, _ = model.recurrent(params, fc6.reshape(b, t, -1), model.initial_state(b, model_config),
                               model_config)
  labels = boxes_lib.to_crop_frame(batch.boxes.astype(jnp.float32), windows)
  preds = boxes_lib.from_crop_frame(lax.stop_gradient(outputs), windows)
  return outputs, labels, preds, boxes


def default_scan_unroll(unrolls: int, param_bytes: int, backend: str | None = None,
                        budget_bytes: int = 2 << 30) -> int | bool:
  """How far `unroll_stepwise` unrolls its scan over time by default.

  (The batched step, `unroll`, keeps its window-placing scan rolled: it has no
  backward pass inside the loop; see `place_windows`.) XLA's CPU backend runs
  the conv tower's backward pass inside a rolled loop about 20x slower than
  unrolled (small model, 8 sequences x 2 unrolls, this project's 2-core CPU:
  20.7 s against 1.0 s a step; WORKSPACE.md). Unrolled,
  though, each step's weight gradient is a separate buffer (the small model at
  32 unrolls asked for 26 GB). So on CPUs: fully unrolled while ``unrolls x
  param_bytes`` stays within `budget_bytes`, else unrolled by as many steps as
  fit. Elsewhere the loop stays rolled: its compile time does not grow with
  the number of unrolls.

  Args:
    unrolls: the sequence length T.
    param_bytes: the size of the parameters.
    backend: the JAX backend (default: the default backend).
    budget_bytes: memory allowed for the unrolled steps' weight gradients.

  Returns:
    `lax.scan`'s ``unroll`` argument.
  """
  if (backend or jax.default_backend()) != 'cpu':
    return 1
  if unrolls * param_bytes <= budget_bytes:
    return True
  return max(1, budget_bytes // max(param_bytes, 1))
