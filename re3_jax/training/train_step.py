"""The train step: an unroll with self-training, the L1 loss, Adam; data parallel.

One jitted pure function trains on a `re3_jax.input.batch.Batch` of ``B`` sequences of
``T`` frames (reference section 6):

* Time step 0 crops frame 0 twice at its true box (its label is the centred
  box ``[2.5, 2.5, 7.5, 7.5]``, as at test-time initialisation).
* At each later step ``t`` the crop window of both crops (frame ``t-1`` and
  frame ``t``) is the 2x context of a box placed either from the ground truth
  (`jitter.place_window`: the previous true box with probability 1/8, else the
  jittered current one) or, in sequences drawn with the stage's
  self-training probability, at the network's own prediction at ``t-1``
  (under ``stop_gradient``; no second network, no host round trip). Either
  way the box is then moved towards the truth until its window covers
  ``min_coverage`` of the true box (`jitter.cover_truth`), as the released code
  does.
* Crops are cut by the core's crop function (`crops.crop_batch`) from frames
  zero-padded to a common size, with each frame's valid size.
* The label is the true box in the window's crop frame; the loss is the L1
  distance summed over the 4 numbers and averaged over batch and time, plus
  ``weight_decay * sum(v^2) / 2`` over all parameters; Adam (optax), optional
  global-norm clipping.
* A step whose loss or gradients are not finite leaves the parameters and the
  optimiser state unchanged and records its step number in
  ``TrainState.nonfinite_step`` for the host to stop on.

Randomness: the step's key is ``fold_in(state.key, state.step)``; with JAX's
partitionable threefry the draws do not depend on how the batch is sharded.

Data parallel: `make_train_step` jits the step over a 1-D device mesh with
axis ``'data'``: the state is replicated, the batch is sharded along its first
axis, and XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import optax

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops
from re3_jax.input import batch as batch_lib
from re3_jax.training import jitter

DATA_AXIS = 'data'


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  """Loss and optimiser settings (reference section 6: Adam 1e-5, decay 5e-4).

  Attributes:
    learning_rate: Adam's learning rate.
    weight_decay: factor of ``sum(v^2) / 2`` over all parameters in the loss.
    grad_clip_norm: clip gradients to this global norm; 0 turns clipping off.
    min_coverage: the crop window must cover this fraction of the true box
      (reference: 0.7; the released code: 0.25).
    keep_prob: probability that a ground-truth-placed window keeps the
      previous true box instead of jittering the current one.
  """
  learning_rate: float = 1e-5
  weight_decay: float = 5e-4
  grad_clip_norm: float = 0.0
  min_coverage: float = jitter.MIN_COVERAGE_PAPER
  keep_prob: float = jitter.KEEP_PROB

  def __post_init__(self):
    for name in ('learning_rate', 'weight_decay', 'grad_clip_norm'):
      value = getattr(self, name)
      if not (np.isfinite(value) and value >= 0):
        raise ValueError(f'OptimConfig.{name} must be finite and >= 0, got {value}')
    for name in ('min_coverage', 'keep_prob'):
      value = getattr(self, name)
      if not 0 <= value <= 1:
        raise ValueError(f'OptimConfig.{name} must be in [0, 1], got {value}')


class TrainState(NamedTuple):
  """Everything a train step updates; a pytree.

  Attributes:
    params: the model parameters.
    opt_state: the optimiser state.
    step: int32 scalar, steps taken.
    key: the run's base PRNG key (each step uses ``fold_in(key, step)``).
    nonfinite_step: int32 scalar: the first step whose loss or gradients were
      not finite (its update was skipped), or -1.
  """
  params: Any
  opt_state: Any
  step: jax.Array
  key: jax.Array
  nonfinite_step: jax.Array


def make_optimizer(config: OptimConfig) -> optax.GradientTransformation:
  """Adam at the configured rate, after optional global-norm clipping."""
  parts = []
  if config.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
  parts.append(optax.adam(config.learning_rate))
  return optax.chain(*parts)


def init_state(key: jax.Array, model_config: model.ModelConfig,
               optimizer: optax.GradientTransformation, params=None) -> TrainState:
  """A fresh state: `model.init` parameters (or `params`), optimiser state, step 0."""
  init_key, train_key = jax.random.split(key)
  if params is None:
    params = model.init(init_key, model_config)
  return TrainState(params=params, opt_state=optimizer.init(params),
                    step=jnp.zeros((), jnp.int32), key=train_key,
                    nonfinite_step=jnp.full((), -1, jnp.int32))


def _draws(batch: batch_lib.Batch, key: jax.Array, self_train_prob, optim: OptimConfig):
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
                model_config: model.ModelConfig, optim: OptimConfig,
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

  def body(carry, x):
    state, prev_frame, prev_valid, prev_pred = carry
    frame, valid, true, from_truth, index = x
    from_own = jitter.cover_truth(lax.stop_gradient(prev_pred), true,
                                  min_coverage=optim.min_coverage)
    box = jnp.where(use_own[:, None], from_own, from_truth)
    box = jnp.where(index == 0, true, box)
    window = boxes_lib.context_window(box)
    pair = jnp.stack([crops.crop_batch(prev_frame, window, prev_valid),
                      crops.crop_batch(frame, window, valid)], axis=1)
    out, state = model.apply(params, pair[:, None], state, model_config)
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
                    model_config: model.ModelConfig, optim: OptimConfig,
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
                  model_config: model.ModelConfig, optim: OptimConfig,
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
          remat: bool = False):
  """`model.pair_features` of (N, 2, S, S, 3) crop pairs, the conv tower in chunks of pairs.

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
  return model.fc6_layer(params, feats.reshape(n, -1), model_config)


def unroll(params, batch: batch_lib.Batch, key: jax.Array, self_train_prob, *,
           model_config: model.ModelConfig, optim: OptimConfig,
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
  current = crops.crop_batch(flat(batch.frames), flat(windows), flat(batch.valid_sizes))
  current = current.reshape((b, t) + current.shape[1:])
  # The previous frame at each step's window; step 0 pairs frame 0 with itself.
  previous = crops.crop_batch(flat(batch.frames[:, :-1]), flat(windows[:, 1:]),
                              flat(batch.valid_sizes[:, :-1]))
  previous = jnp.concatenate([current[:, :1], previous.reshape((b, t - 1) + current.shape[2:])],
                             axis=1)
  pairs = jnp.stack([previous, current], axis=2).reshape((b * t, 2) + current.shape[2:])
  fc6 = tower(params, pairs, model_config, chunk=tower_chunk, remat=remat)
  outputs, _ = model.recurrent(params, fc6.reshape(b, t, -1), model.initial_state(b, model_config),
                               model_config)
  labels = boxes_lib.to_crop_frame(batch.boxes.astype(jnp.float32), windows)
  preds = boxes_lib.from_crop_frame(lax.stop_gradient(outputs), windows)
  return outputs, labels, preds, boxes


def loss_fn(params, batch: batch_lib.Batch, key, self_train_prob, *, model_config, optim,
            scan_unroll: int | bool | None = 1, stepwise: bool = False,
            tower_chunk: int | None = None, remat: bool = False):
  """The training loss and its metrics (see the module docstring).

  ``stepwise`` selects `unroll_stepwise` (the tower inside the time loop)
  instead of `unroll` (the tower batched over the whole unroll, in chunks of
  ``tower_chunk`` pairs, rematerialised with ``remat``).
  """
  if stepwise:
    unrolled = unroll_stepwise(params, batch, key, self_train_prob, model_config=model_config,
                               optim=optim, scan_unroll=scan_unroll)
  else:
    unrolled = unroll(params, batch, key, self_train_prob, model_config=model_config,
                      optim=optim, scan_unroll=scan_unroll, tower_chunk=tower_chunk, remat=remat)
  outputs, labels, preds, _ = unrolled
  l1 = jnp.abs(outputs.astype(jnp.float32) - labels).sum(-1).mean()
  sq = sum(jnp.sum(jnp.square(p.astype(jnp.float32))) for p in jax.tree.leaves(params))
  loss = l1 + optim.weight_decay * 0.5 * sq
  # Step 0 predicts the given box; the IoU that matters is that of later steps.
  later = slice(1, None) if preds.shape[1] > 1 else slice(None)
  iou = boxes_lib.iou(preds[:, later], batch.boxes[:, later].astype(jnp.float32))
  return loss, {'loss': loss, 'l1': l1, 'mean_iou': jnp.mean(iou)}


def train_step(state: TrainState, batch: batch_lib.Batch, self_train_prob, *,
               model_config: model.ModelConfig, optim: OptimConfig,
               optimizer: optax.GradientTransformation,
               scan_unroll: int | bool | None = 1, stepwise: bool = False,
               tower_chunk: int | None = None, remat: bool = False):
  """One update (pure). Returns ``(state, metrics)``; metrics are device scalars.

  The keyword arguments after ``optimizer`` choose how the step runs, not what
  it computes (`loss_fn`).
  """
  key = jax.random.fold_in(state.key, state.step)
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  (loss, metrics), grads = grad_fn(state.params, batch, key, self_train_prob,
                                   model_config=model_config, optim=optim,
                                   scan_unroll=scan_unroll, stepwise=stepwise,
                                   tower_chunk=tower_chunk, remat=remat)
  grad_norm = optax.tree.norm(grads)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  nonfinite_step = jnp.where((state.nonfinite_step < 0) & ~finite, state.step,
                             state.nonfinite_step)
  new_state = TrainState(params=keep(params, state.params),
                         opt_state=keep(opt_state, state.opt_state),
                         step=state.step + 1, key=state.key, nonfinite_step=nonfinite_step)
  metrics = dict(metrics, grad_norm=grad_norm, self_train_prob=jnp.asarray(self_train_prob))
  return new_state, metrics


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh over all (or the given) devices with the axis ``'data'``."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return jax.sharding.Mesh(devices.reshape(-1), (DATA_AXIS,))


def batch_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(DATA_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


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


def make_train_step(mesh: jax.sharding.Mesh, *, model_config: model.ModelConfig,
                    optim: OptimConfig, optimizer: optax.GradientTransformation,
                    scan_unroll: int | bool | None = None, stepwise: bool = False,
                    tower_chunk: int | None = None, remat: bool = False):
  """`train_step` jitted over `mesh`: state replicated and donated, batch sharded.

  Args:
    mesh: the device mesh (`make_mesh`).
    model_config: the model.
    optim: loss and window settings.
    optimizer: from `make_optimizer`.
    scan_unroll: `lax.scan`'s ``unroll`` over time; None: `default_scan_unroll`.
    stepwise: the tower inside the time loop (`unroll_stepwise`), for
      comparison; default: batched over the whole unroll (`unroll`).
    tower_chunk: crop pairs per tower call (`tower`); None: `default_tower_chunk`.
    remat: rematerialise the tower's activations per chunk (`tower`).

  Returns:
    ``step(state, batch, self_train_prob) -> (state, metrics)``. Compiles once
    per batch shape (once per curriculum stage).
  """
  fn = functools.partial(train_step, model_config=model_config, optim=optim,
                         optimizer=optimizer, scan_unroll=scan_unroll, stepwise=stepwise,
                         tower_chunk=tower_chunk, remat=remat)
  rep, data = replicated(mesh), batch_sharding(mesh)
  return jax.jit(fn, in_shardings=(rep, batch_lib.Batch(data, data, data), rep),
                 out_shardings=(rep, rep), donate_argnums=(0,))


def shard_batch(mesh: jax.sharding.Mesh, host_batch) -> batch_lib.Batch:
  """Global device arrays of a `batch_lib.Batch` from this host's part (``source`` dropped).

  Each host passes its own ``B / process_count`` sequences; the global batch
  size must divide by the number of devices.

  Raises:
    ValueError: the global batch does not divide by the number of devices.
  """
  sharding = batch_sharding(mesh)
  local = batch_lib.Batch(np.asarray(host_batch.frames), np.asarray(host_batch.valid_sizes),
                          np.asarray(host_batch.boxes, np.float32))  # source: not used
  global_b = local.boxes.shape[0] * jax.process_count()
  if global_b % mesh.size:
    raise ValueError(f'the global batch size {global_b} does not divide by the number of '
                     f'devices ({mesh.size}): choose a batch size that is a multiple of it')
  return batch_lib.Batch(*(jax.make_array_from_process_local_data(sharding, x)
                           for x in local[:3]))
