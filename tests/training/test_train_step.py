"""Tests of the train step: batched against stepwise, loss, Adam, NaN guard, sharding, bfloat16."""

import functools
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.input import batch as batch_lib
from re3_jax.training import train_step
from re3_jax.training import unroll as unroll_lib

TINY = model.get_config('tiny')
OPTIM = train_step.OptimConfig(learning_rate=1e-3)
REPO = pathlib.Path(__file__).resolve().parents[2]


def test_loss_decreases_with_adam(params, batch):
  # Windows at the previous true boxes (no jitter): the same crops every step.
  optim = train_step.OptimConfig(learning_rate=3e-3, keep_prob=1.0)
  optimizer = train_step.make_optimizer(optim)
  state = train_step.init_state(jax.random.key(1), TINY, optimizer, params=params)
  step = jax.jit(lambda s, b: train_step.train_step(s, b, 0.0, model_config=TINY, optim=optim,
                                                    optimizer=optimizer))
  losses = []
  for _ in range(20):
    state, metrics = step(state, batch)
    losses.append(float(metrics['l1']))
  # Adam moves each weight by at most ~lr a step; from a zero head (L1 ~20) the loss
  # falls steadily (measured: 19.8 -> 17.9 in 20 steps).
  assert losses[-1] < losses[0] - 1.0 and losses[-1] == min(losses[-5:]), losses
  assert int(state.step) == 20 and int(state.nonfinite_step) == -1
  assert 0 <= float(metrics['mean_iou']) <= 1


def test_same_seed_same_numbers(params, batch):
  optimizer = train_step.make_optimizer(OPTIM)
  step = jax.jit(lambda s, b: train_step.train_step(s, b, 0.5, model_config=TINY, optim=OPTIM,
                                                    optimizer=optimizer))
  runs = []
  for _ in range(2):
    state = train_step.init_state(jax.random.key(2), TINY, optimizer, params=params)
    for _ in range(2):
      state, metrics = step(state, batch)
    runs.append((float(metrics['loss']), state.params['fc6']['w']))
  assert runs[0][0] == runs[1][0]
  np.testing.assert_array_equal(runs[0][1], runs[1][1])



def _compare_steps(result, reference, use_own):
  """Asserts two runs of one step agree to what float rounding can change (derived below)."""
  loss, grads, windows = result
  loss0, grads0, windows0 = reference
  # Ground-truth windows are a function of the key and the truth alone: the same to
  # rounding of the jitter arithmetic (4 ulp at 160 px is 6e-5 px). Self-training windows
  # follow predictions, which differ by the rounding of the network's sums (measured: at
  # most 4e-6 px, AVX-512 and AVX2); 1e-3 px is far below anything a crop resolves.
  np.testing.assert_allclose(windows[~use_own], windows0[~use_own], rtol=0, atol=1e-4)
  np.testing.assert_allclose(windows[use_own], windows0[use_own], rtol=0, atol=1e-3)
  # The loss is a mean of |output - label| over 32 numbers of size ~1-10: outputs agree
  # to ~1e-6 (a few ulp), so the loss to well within 1e-5 relative (measured: 1.5e-7 across
  # unrolls, 1e-7 batched against stepwise).
  np.testing.assert_allclose(loss, loss0, rtol=1e-5)
  # A gradient entry sums up to ~1.6e4 products (fc6's input; a conv weight's sums over
  # every crop position); float32 summation in another order (per step, or over all the
  # batch's crops at once) can differ by K * eps ~ 1e-3 of the terms' size, bounded here by
  # the leaf's largest entry (measured: at most 3.6e-5 of it across unrolls, 1.7e-5 batched
  # against stepwise, AVX-512 and AVX2).
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    g0 = functools.reduce(lambda tree, k: tree[k.key], path, grads0)
    scale = float(np.max(np.abs(g0)))
    assert scale > 0, jax.tree_util.keystr(path)
    np.testing.assert_allclose(g, g0, rtol=0, atol=1e-3 * scale,
                               err_msg=jax.tree_util.keystr(path))


def _loss_grads_windows(params, batch, key, prob, *, stepwise, unroll, tower_chunk=None,
                        remat=False):
  loss = functools.partial(train_step.loss_fn, model_config=TINY, optim=OPTIM,
                           scan_unroll=unroll, stepwise=stepwise, tower_chunk=tower_chunk,
                           remat=remat)
  (value, _), grads = jax.value_and_grad(loss, has_aux=True)(params, batch, key, prob)
  unroll_fn = unroll_lib.unroll_stepwise if stepwise else unroll_lib.unroll
  _, _, _, windows = unroll_fn(params, batch, key, prob, model_config=TINY, optim=OPTIM,
                               scan_unroll=unroll)
  return value, grads, windows


@pytest.mark.slow
@pytest.mark.parametrize('prob', [0.0, 0.5])
def test_batched_tower_is_the_stepwise_step_at_any_unroll(params, batch, prob):
  # The batched step (tower over all B x T x 2 crops at once) against the step that runs the
  # tower inside the time loop, and the scan unrolled or not: how XLA runs the step, not what
  # it computes. Compared is what does not depend on how rounding falls on this CPU's
  # instruction set (the parameters after an Adam step do: an element whose gradient is ~0
  # moves by up to +-lr depending on its sign, so AVX2 and AVX-512 runs once differed by 2 lr).
  key = jax.random.key(0)  # its per-sequence draw at 0.5: one sequence of each kind
  use_own = np.asarray(jax.random.bernoulli(jax.random.split(key)[0], prob, (2,)))
  assert use_own.any() == (prob > 0) and not use_own.all()
  run = lambda **kw: jax.jit(functools.partial(_loss_grads_windows, **kw))(
      params, batch, key, prob)
  reference = run(stepwise=True, unroll=1)
  # Batched, its window-placing scan rolled, unrolled by 3 (a remainder step, as T = 4) and
  # fully unrolled, the tower in one call or in chunks of 3 pairs (a remainder chunk, as
  # B x T = 8) rematerialised; and the stepwise step fully unrolled.
  for kw in (dict(stepwise=False, unroll=1, tower_chunk=0),
             dict(stepwise=False, unroll=3, tower_chunk=3, remat=True),
             dict(stepwise=False, unroll=True), dict(stepwise=True, unroll=True)):
    _compare_steps(run(**kw), reference, use_own)


def test_nonfinite_loss_skips_the_update_and_records_the_step(params, batch):
  optimizer = train_step.make_optimizer(OPTIM)
  state = train_step.init_state(jax.random.key(1), TINY, optimizer, params=params)
  step = jax.jit(lambda s, b: train_step.train_step(s, b, 0.0, model_config=TINY, optim=OPTIM,
                                                    optimizer=optimizer))
  state, _ = step(state, batch)
  bad = batch._replace(boxes=batch.boxes.at[0, 2, 0].set(jnp.nan))
  before = jax.tree.map(np.asarray, (state.params, state.opt_state))
  state, metrics = step(state, bad)
  assert not np.isfinite(float(metrics['loss']))
  assert int(state.nonfinite_step) == 1 and int(state.step) == 2
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves((state.params, state.opt_state))):
    np.testing.assert_array_equal(a, b)
  state, _ = step(state, batch)  # a later good step updates again; the first bad step stays
  assert int(state.nonfinite_step) == 1
  assert not np.array_equal(before[0]['fc6']['w'], state.params['fc6']['w'])


def test_optim_config_rejects_bad_values():
  with pytest.raises(ValueError, match='learning_rate'):
    train_step.OptimConfig(learning_rate=-1.0)
  with pytest.raises(ValueError, match='min_coverage'):
    train_step.OptimConfig(min_coverage=1.5)


def test_learning_rate_decay():
  """Constant to `decay_start`, then lr * (1 + cos(pi * k / decay_steps)) / 2, then 0; with a
  constant gradient Adam's bias-corrected step is lr_t * g / (|g| + eps), so each update moves a
  weight by that step's rate. Tolerances: the schedule computes in float32 (1e-7 relative);
  Adam's bias correction 1 - 0.999^k in float32 cancels ~10 bits, 2^-24 / 1e-3 = 6e-5 relative
  (measured 6.6e-6); eps = 1e-8 against g = 1 is 1e-8."""
  optim = train_step.OptimConfig(learning_rate=1e-3, decay_start=3, decay_steps=4)
  expected = [1e-3] * 3 + [1e-3 * (1 + np.cos(np.pi * k / 4)) / 2 for k in range(5)] + [0.0]
  assert [optim.rate_at(i) for i in range(9)] == pytest.approx(expected, rel=1e-6, abs=1e-12)
  optimizer = train_step.make_optimizer(optim)
  params = {'w': jnp.zeros(3)}
  opt_state = optimizer.init(params)
  for i, rate in enumerate(expected):
    updates, opt_state = optimizer.update({'w': jnp.ones(3)}, opt_state, params)
    np.testing.assert_allclose(-np.asarray(updates['w']), rate, rtol=1e-4, atol=1e-12,
                               err_msg=f'update {i}')
  assert train_step.OptimConfig(learning_rate=1e-3).rate_at(10**6) == 1e-3
  with pytest.raises(ValueError, match='decay_steps'):
    train_step.OptimConfig(decay_steps=-1)


def test_batch_not_dividing_the_devices_is_refused():
  mesh = train_step.make_mesh()
  b = batch_lib.Batch(np.zeros((3, 2, 8, 8, 3), np.uint8), np.full((3, 2, 2), 8, np.int32),
                     np.zeros((3, 2, 4), np.float32))
  if mesh.size == 1:
    train_step.shard_batch(mesh, b)  # anything divides by one device
  else:
    with pytest.raises(ValueError, match='does not divide'):
      train_step.shard_batch(mesh, b)


_SHARDED = textwrap.dedent('''
    import jax, numpy as np, optax
    from re3_jax import model
    from re3_jax.input import pipeline
    from re3_jax.training import train_step
    assert jax.device_count() == 8, jax.devices()
    config = model.get_config('tiny')
    data = pipeline.PipelineConfig(frame_size=(120, 160), sim_size=(96, 128), num_distractors=4,
                                   num_threads=1)
    with pipeline.Pipeline(data, seq_len=3, batch_size=8, seed=0, process_index=0,
                           process_count=1) as inputs:
      host = next(inputs)
    lr = 1e-3
    optim = train_step.OptimConfig(learning_rate=lr)
    # Plain SGD: a parameter's change is -lr x its gradient, so the comparison below is one
    # of gradients. (Adam's first step is ~lr x sign(gradient): where a gradient is ~0, its
    # sign is rounding, and 1- and 8-device runs on an AVX2 CPU once differed by 2 lr there.)
    optimizer = optax.sgd(lr)
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
      mesh = train_step.make_mesh(devices)
      step = train_step.make_train_step(mesh, model_config=config, optim=optim, optimizer=optimizer)
      state = jax.device_put(train_step.init_state(jax.random.key(0), config, optimizer),
                             train_step.replicated(mesh))
      start = jax.tree.map(np.asarray, state.params)
      # Step 1 places windows from the ground truth: its update is compared. Step 2 places
      # every window at the network's own predictions after the sharded update: its loss is.
      state, m1 = step(state, train_step.shard_batch(mesh, host), 0.0)
      after = jax.tree.map(np.asarray, state.params)
      state, m2 = step(state, train_step.shard_batch(mesh, host), 1.0)
      results.append(([float(m1['loss']), float(m2['loss'])], start, after))
    (l1, start, p1), (l8, _, p8) = results
    print('losses', l1, l8)
    # The 8-device step sums the gradient in another order (per-device partial sums, then
    # an all-reduce): the outputs and so the loss move by float32 rounding, ~1e-7 relative
    # (measured: at most 4e-7, AVX-512 and AVX2); 1e-5 relative bounds it with margin.
    np.testing.assert_allclose(l8, l1, rtol=1e-5)
    # Each parameter moved by -lr x its gradient. A gradient entry is a sum of up to ~1.6e4
    # terms (fc6's inputs; a bias sums over every position) that cancel, so its rounding is
    # bounded by the terms' size, not its own: 1e-2 of the leaf's largest move (measured: at
    # most 3.5e-4 of it), plus 8 ulp of the parameter for the update's own rounding.
    worst = 0.0
    for (path, a), b, s in zip(jax.tree_util.tree_leaves_with_path(p1), jax.tree.leaves(p8),
                               jax.tree.leaves(start)):
      move = float(np.max(np.abs(a - s)))
      assert move > 0, jax.tree_util.keystr(path)
      bound = 1e-2 * move + 8 * np.spacing(np.abs(s).astype(np.float32))
      worst = max(worst, float(np.max(np.abs(a - b) / bound)))
    print('worst parameter difference / its bound', worst)
    assert worst <= 1, worst
    print('OK')
''')


@pytest.mark.slow
def test_sharded_step_equals_one_device(cpu_devices_env):
  # 8 CPU devices need XLA_FLAGS before JAX starts: run in a fresh process.
  result = subprocess.run([sys.executable, '-c', _SHARDED], cwd=REPO, env=cpu_devices_env(8),
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0 and 'OK' in result.stdout, result.stdout + result.stderr[-3000:]


def test_mixed_bfloat16_trains_float32_weights_at_a_close_loss(params, batch):
  mixed = model.with_precision(TINY, 'mixed_bfloat16')
  key = jax.random.key(0)
  loss = lambda config: jax.jit(functools.partial(
      train_step.loss_fn, model_config=config, optim=OPTIM))(params, batch, key, 0.0)[0]
  # bfloat16 keeps 8 bits of mantissa: each product and activation is rounded by up to
  # 2^-9 relative; through ~10 layers (tower, fc6, the LSTMs, the head) that compounds to at
  # most ~10 x 2^-9 = 2e-2 of the outputs' size, and the L1 loss moves by at most as much
  # relative (measured: 1.5e-5 here, AVX-512 and AVX2; the loss is ~19).
  np.testing.assert_allclose(loss(mixed), loss(TINY), rtol=2e-2)
  optimizer = train_step.make_optimizer(OPTIM)
  state = train_step.init_state(jax.random.key(1), mixed, optimizer, params=params)
  step = jax.jit(lambda s, b: train_step.train_step(s, b, 0.5, model_config=mixed, optim=OPTIM,
                                                    optimizer=optimizer))
  new, metrics = step(state, batch)
  assert np.isfinite(float(metrics['loss'])) and int(new.nonfinite_step) == -1
  # Weights stay float32 and move by Adam's ~lr: updates bfloat16 weights could not hold.
  for old, now in zip(jax.tree.leaves(params), jax.tree.leaves(new.params)):
    assert now.dtype == jnp.float32
  moved = np.abs(np.asarray(new.params['fc6']['w']) - np.asarray(params['fc6']['w']))
  assert 0 < np.median(moved[moved > 0]) <= 1.01 * OPTIM.learning_rate


MINI_SQUEEZE = model.get_config('squeeze', crop_size=63, skip_channels=(2, 2, 2), fc6_units=16,
                                lstm_units=8)


@pytest.mark.parametrize('scale', [0.0, 0.1])
def test_tower_learning_rate_scale(batch, scale):
  """Adam's first update moves every weight with a gradient by lr * g / (|g| + eps), i.e. by
  almost exactly its learning rate: the tower's by scale * lr, the rest's by lr; at scale 0
  the tower does not move and keeps no Adam moments."""
  optim = train_step.OptimConfig(learning_rate=1e-3, tower_lr_scale=scale, weight_decay=0.0)
  optimizer = train_step.make_optimizer(optim, MINI_SQUEEZE.tower_keys)
  params = model.init(jax.random.key(0), MINI_SQUEEZE)
  state = train_step.init_state(jax.random.key(1), MINI_SQUEEZE, optimizer, params=params)
  new, _ = jax.jit(lambda s, b: train_step.train_step(
      s, b, 0.0, model_config=MINI_SQUEEZE, optim=optim, optimizer=optimizer))(state, batch)
  moved = lambda key: max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(
      jax.tree.leaves(new.params[key]), jax.tree.leaves(params[key])))
  assert moved('fc6') == pytest.approx(1e-3, rel=1e-3)
  if scale == 0:
    assert moved('squeezenet') == 0.0
    moments = sum(x.size for x in jax.tree.leaves(new.opt_state))
    tower = sum(x.size for x in jax.tree.leaves(params['squeezenet']))
    total = sum(x.size for x in jax.tree.leaves(params))
    assert moments == 2 * (total - tower) + 1  # Adam's mu and nu of the rest, and its count
  else:
    assert moved('squeezenet') == pytest.approx(scale * 1e-3, rel=1e-3)


def test_frozen_tower_has_no_gradient(batch):
  optim = train_step.OptimConfig(tower_lr_scale=0.0)
  params = model.init(jax.random.key(0), MINI_SQUEEZE)
  grads, _ = jax.grad(train_step.loss_fn, has_aux=True)(
      params, batch, jax.random.key(0), 0.0, model_config=MINI_SQUEEZE, optim=optim)
  assert all(float(jnp.max(jnp.abs(g))) == 0 for g in jax.tree.leaves(grads['squeezenet']))
  assert float(jnp.max(jnp.abs(grads['early_skip']['w']))) > 0
