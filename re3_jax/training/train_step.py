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
  zero-padded to a common size, with each frame's valid size. This forward
  computation (windows, crops, network) is `re3_jax.training.unroll`: windows
  placed without gradient, then the tower batched over the whole unroll.
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
import numpy as np
import optax

from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.input import batch as batch_lib
from re3_jax.training import jitter
from re3_jax.training import unroll as unroll_lib

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
    tower_lr_scale: the conv tower's learning rate as a fraction of
      ``learning_rate`` (fine-tuning a pretrained tower slowly); 0 freezes it,
      and its backward pass is then not computed at all.
    decay_start: the step at which the learning rate starts its cosine decay.
    decay_steps: the decay's length in steps, after which the rate stays at 0;
      0 keeps the rate constant.
  """
  learning_rate: float = 1e-5
  weight_decay: float = 5e-4
  grad_clip_norm: float = 0.0
  min_coverage: float = jitter.MIN_COVERAGE_PAPER
  keep_prob: float = jitter.KEEP_PROB
  tower_lr_scale: float = 1.0
  decay_start: int = 0
  decay_steps: int = 0

  def __post_init__(self):
    for name in ('learning_rate', 'weight_decay', 'grad_clip_norm', 'tower_lr_scale'):
      value = getattr(self, name)
      if not (np.isfinite(value) and value >= 0):
        raise ValueError(f'OptimConfig.{name} must be finite and >= 0, got {value}')
    for name in ('decay_start', 'decay_steps'):
      if getattr(self, name) < 0:
        raise ValueError(f'OptimConfig.{name} must be >= 0, got {getattr(self, name)}')
    for name in ('min_coverage', 'keep_prob'):
      value = getattr(self, name)
      if not 0 <= value <= 1:
        raise ValueError(f'OptimConfig.{name} must be in [0, 1], got {value}')

  def rate_schedule(self, scale: float = 1.0) -> optax.ScalarOrSchedule:
    """``learning_rate * scale``, constant or decaying from `decay_start` (an optax schedule)."""
    rate = self.learning_rate * scale
    if not self.decay_steps:
      return rate
    return optax.join_schedules([optax.constant_schedule(rate),
                                 optax.cosine_decay_schedule(rate, self.decay_steps)],
                                [self.decay_start])

  def rate_at(self, step: int) -> float:
    """The main learning rate of update number `step` (0-based; the tower's is scaled)."""
    rate = self.rate_schedule()
    return float(rate(step)) if callable(rate) else rate


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


def make_optimizer(config: OptimConfig,
                   tower_keys: tuple[str, ...] = ()) -> optax.GradientTransformation:
  """Adam at the configured rate (`OptimConfig.rate_schedule`), after optional
  global-norm clipping.

  The top-level parameter entries named in `tower_keys` (`model.ModelConfig.tower_keys`)
  move at ``tower_lr_scale`` times the rate; at 0 they keep no Adam state.
  """
  parts = []
  if config.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if tower_keys and config.tower_lr_scale != 1:
    tower = (optax.set_to_zero() if config.tower_lr_scale == 0
             else optax.adam(config.rate_schedule(config.tower_lr_scale)))
    labels = lambda params: {k: jax.tree.map(lambda _: 'tower' if k in tower_keys else 'rest', v)
                             for k, v in params.items()}
    parts.append(optax.multi_transform({'tower': tower,
                                        'rest': optax.adam(config.rate_schedule())},
                                       labels))
  else:
    parts.append(optax.adam(config.rate_schedule()))
  return optax.chain(*parts)


def frozen_keys(model_config: model.ModelConfig, optim: OptimConfig) -> tuple[str, ...]:
  """The top-level parameter entries that do not train: the tower when ``tower_lr_scale`` is 0."""
  return model_config.tower_keys if optim.tower_lr_scale == 0 else ()


def init_state(key: jax.Array, model_config: model.ModelConfig,
               optimizer: optax.GradientTransformation, params=None) -> TrainState:
  """A fresh state: `model.init` parameters (or `params`), optimiser state, step 0."""
  init_key, train_key = jax.random.split(key)
  if params is None:
    params = model.init(init_key, model_config)
  return TrainState(params=params, opt_state=optimizer.init(params),
                    step=jnp.zeros((), jnp.int32), key=train_key,
                    nonfinite_step=jnp.full((), -1, jnp.int32))


def loss_fn(params, batch: batch_lib.Batch, key, self_train_prob, *, model_config, optim,
            scan_unroll: int | bool | None = 1, stepwise: bool = False,
            tower_chunk: int | None = None, remat: bool = False):
  """The training loss and its metrics (see the module docstring).

  ``stepwise`` selects `unroll.unroll_stepwise` (the tower inside the time loop)
  instead of `unroll.unroll` (the tower batched over the whole unroll, in chunks of
  ``tower_chunk`` pairs, rematerialised with ``remat``).
  """
  # Frozen entries under stop_gradient: XLA then computes no backward pass through them.
  frozen = frozen_keys(model_config, optim)
  params = {k: jax.lax.stop_gradient(v) if k in frozen else v for k, v in params.items()}
  if stepwise:
    unrolled = unroll_lib.unroll_stepwise(params, batch, key, self_train_prob,
                                          model_config=model_config, optim=optim,
                                          scan_unroll=scan_unroll)
  else:
    unrolled = unroll_lib.unroll(params, batch, key, self_train_prob, model_config=model_config,
                                 optim=optim, scan_unroll=scan_unroll, tower_chunk=tower_chunk,
                                 remat=remat)
  outputs, labels, preds, _ = unrolled
  l1 = jnp.abs(outputs.astype(jnp.float32) - labels).sum(-1).mean()
  # Weight decay on what trains: a frozen tower's constant would only offset the logged loss.
  decayed = [v for k, v in params.items() if k not in frozen]
  sq = sum(jnp.sum(jnp.square(p.astype(jnp.float32))) for p in jax.tree.leaves(decayed))
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
    scan_unroll: `lax.scan`'s ``unroll`` over time; None: the formulation's
      default (`unroll.place_windows`: rolled; `unroll.default_scan_unroll`).
    stepwise: the tower inside the time loop (`unroll.unroll_stepwise`);
      default: batched over the whole unroll (`unroll.unroll`).
    tower_chunk: crop pairs per tower call (`unroll.tower`); None:
      `unroll.default_tower_chunk`.
    remat: rematerialise the tower's activations per chunk (`unroll.tower`).

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
  """Global device arrays of a `batch_lib.Batch` from this host's part.

  Each host passes its own ``B / process_count`` sequences; the global batch
  size must divide by the number of devices.

  Raises:
    ValueError: the global batch does not divide by the number of devices.
  """
  sharding = batch_sharding(mesh)
  local = batch_lib.Batch(np.asarray(host_batch.frames), np.asarray(host_batch.valid_sizes),
                          np.asarray(host_batch.boxes, np.float32))
  global_b = local.boxes.shape[0] * jax.process_count()
  if global_b % mesh.size:
    raise ValueError(f'the global batch size {global_b} does not divide by the number of '
                     f'devices ({mesh.size}): choose a batch size that is a multiple of it')
  return batch_lib.Batch(*(jax.make_array_from_process_local_data(sharding, x)
                           for x in local))
