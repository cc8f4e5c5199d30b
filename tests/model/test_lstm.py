"""Tests of `re3_jax.model.lstm`: the paper's full-peephole cell and TF's diagonal cell.

The 'full' cell is checked against a plain NumPy transcription of the paper's
equations (reference section 3), written with the paper's four separate gate
matrices and mapped to the package layout by `lstm.full_cell_from_gates`, and
against one step computed by hand. The 'diagonal' cell is checked against a
NumPy transcription of TF's ``LSTMCell(use_peepholes=True)`` (reference
section 4). Initialisation follows reference section 6 (He weights, zero
biases, forget-gate bias).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax.model import lstm


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _paper_step(gates, x, h_prev, c_prev):
  """One step of the paper's cell, exactly as written in reference section 3."""
  w_z, b_z, w_i, b_i, w_f, b_f, w_o, b_o = gates
  a = np.concatenate([x, h_prev], axis=-1)
  z = np.tanh(a @ w_z + b_z)
  i = _sigmoid(np.concatenate([a, c_prev], axis=-1) @ w_i + b_i)
  f = _sigmoid(np.concatenate([a, c_prev], axis=-1) @ w_f + b_f)
  c = i * z + f * c_prev
  o = _sigmoid(np.concatenate([a, c], axis=-1) @ w_o + b_o)
  h = o * np.tanh(c)
  return c, h


def _tf_peephole_step(params, x, h_prev, c_prev, forget_bias=1.0):
  """TF LSTMCell(use_peepholes=True), as in reference section 4."""
  units = c_prev.shape[-1]
  g = np.concatenate([x, h_prev], axis=-1) @ params['kernel'] + params['bias']
  i, j, f, o = (g[..., k * units:(k + 1) * units] for k in range(4))
  c = (_sigmoid(f + forget_bias + params['w_f_diag'] * c_prev) * c_prev
       + _sigmoid(i + params['w_i_diag'] * c_prev) * np.tanh(j))
  h = _sigmoid(o + params['w_o_diag'] * c) * np.tanh(c)
  return c, h


def _random_gates(rng, in_dim, units):
  rows = in_dim + units
  return (rng.normal(size=(rows, units)), rng.normal(size=units),
          rng.normal(size=(rows + units, units)), rng.normal(size=units),
          rng.normal(size=(rows + units, units)), rng.normal(size=units),
          rng.normal(size=(rows + units, units)), rng.normal(size=units))


def _run_cell(params, xs, c, h, **kwargs):
  """Runs `lstm.cell_step` over xs (T, B, in); returns the per-step (c, h)."""
  params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
  out = []
  for x in xs:
    c, h = lstm.cell_step(params, jnp.asarray(x, jnp.float32), c, h, **kwargs)
    out.append((np.asarray(c), np.asarray(h)))
  return out


# ----------------------------------------------------------------------------
# The paper's full-peephole cell.

def test_full_cell_matches_paper_equations_over_several_steps():
  rng = np.random.default_rng(0)
  in_dim, units, batch, steps = 3, 2, 4, 5
  gates = _random_gates(rng, in_dim, units)
  params = lstm.full_cell_from_gates(*gates)
  xs = rng.normal(size=(steps, batch, in_dim))
  c0 = rng.normal(size=(batch, units))
  h0 = rng.normal(size=(batch, units))

  got = _run_cell(params, xs, jnp.asarray(c0, jnp.float32), jnp.asarray(h0, jnp.float32))
  c, h = c0, h0
  for step, x in enumerate(xs):
    c, h = _paper_step(gates, x, h, c)
    np.testing.assert_allclose(got[step][0], c, atol=1e-5, err_msg=f'c at step {step}')
    np.testing.assert_allclose(got[step][1], h, atol=1e-5, err_msg=f'h at step {step}')


def test_full_cell_output_gate_reads_new_cell_state():
  # Reading c_prev instead of the new c in the output gate must change h, so
  # the comparison above can tell the two apart.
  rng = np.random.default_rng(1)
  gates = _random_gates(rng, 3, 2)
  *_, w_o, b_o = gates
  x, h0, c0 = rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), rng.normal(size=(1, 2))
  c_new, h_expected = _paper_step(gates, x, h0, c0)
  o_wrong = _sigmoid(np.concatenate([x, h0, c0], axis=-1) @ w_o + b_o)
  assert not np.allclose(o_wrong * np.tanh(c_new), h_expected, atol=1e-3)

  (_, h), = _run_cell(lstm.full_cell_from_gates(*gates), x[None],
                      jnp.asarray(c0, jnp.float32), jnp.asarray(h0, jnp.float32))
  np.testing.assert_allclose(h, h_expected, atol=1e-5)


def test_full_cell_one_step_by_hand():
  # in = 1, H = 1: every matrix is a column of numbers.
  x, h_prev, c_prev = 0.5, -0.3, 0.2
  wz_x, wz_h, bz = 0.4, -0.7, 0.1
  wi_x, wi_h, wi_c, bi = 0.3, 0.2, -0.5, 0.05
  wf_x, wf_h, wf_c, bf = -0.6, 0.1, 0.8, 1.0
  wo_x, wo_h, wo_c, bo = 0.9, -0.4, 0.7, -0.2

  def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))

  z = math.tanh(wz_x * x + wz_h * h_prev + bz)
  i = sigmoid(wi_x * x + wi_h * h_prev + wi_c * c_prev + bi)
  f = sigmoid(wf_x * x + wf_h * h_prev + wf_c * c_prev + bf)
  c_expected = i * z + f * c_prev
  o = sigmoid(wo_x * x + wo_h * h_prev + wo_c * c_expected + bo)
  h_expected = o * math.tanh(c_expected)

  params = lstm.full_cell_from_gates(
      [[wz_x], [wz_h]], [bz],
      [[wi_x], [wi_h], [wi_c]], [bi],
      [[wf_x], [wf_h], [wf_c]], [bf],
      [[wo_x], [wo_h], [wo_c]], [bo])
  (c, h), = _run_cell(params, [[[x]]], jnp.full((1, 1), c_prev), jnp.full((1, 1), h_prev))
  assert c[0, 0] == pytest.approx(c_expected, abs=1e-6)
  assert h[0, 0] == pytest.approx(h_expected, abs=1e-6)


def test_full_cell_from_gates_layout():
  rng = np.random.default_rng(2)
  in_dim, units = 3, 2
  gates = _random_gates(rng, in_dim, units)
  w_z, b_z, w_i, b_i, w_f, b_f, w_o, b_o = gates
  params = lstm.full_cell_from_gates(*gates)
  assert lstm.cell_peepholes(params) == 'full'
  assert params['kernel'].shape == (in_dim + units, 4 * units)
  assert params['bias'].shape == (4 * units,)
  # TF gate order (i, j, f, o), j being the paper's block input z.
  rows = in_dim + units
  np.testing.assert_array_equal(params['kernel'][:, :units], w_i[:rows])
  np.testing.assert_array_equal(params['kernel'][:, units:2 * units], w_z)
  np.testing.assert_array_equal(params['kernel'][:, 2 * units:3 * units], w_f[:rows])
  np.testing.assert_array_equal(params['kernel'][:, 3 * units:], w_o[:rows])
  np.testing.assert_array_equal(params['bias'], np.concatenate([b_i, b_z, b_f, b_o]))
  np.testing.assert_array_equal(params['w_i_peep'], w_i[rows:])
  np.testing.assert_array_equal(params['w_f_peep'], w_f[rows:])
  np.testing.assert_array_equal(params['w_o_peep'], w_o[rows:])


@pytest.mark.parametrize('gate_index, name', [(2, 'input_gate'), (4, 'forget_gate'),
                                              (6, 'output_gate')])
def test_full_cell_from_gates_rejects_misshaped_gate(gate_index, name):
  gates = list(_random_gates(np.random.default_rng(3), 3, 2))
  gates[gate_index] = np.zeros((5, 2))  # [in + H, H] instead of [in + 2H, H]
  with pytest.raises(ValueError, match=name):
    lstm.full_cell_from_gates(*gates)


# ----------------------------------------------------------------------------
# TF's diagonal-peephole cell.

@pytest.mark.parametrize('forget_bias', [1.0, 0.0])
def test_diagonal_cell_matches_tf_lstm_cell(forget_bias):
  rng = np.random.default_rng(4)
  in_dim, units, batch, steps = 3, 2, 4, 5
  params = {
      'kernel': rng.normal(size=(in_dim + units, 4 * units)),
      'bias': rng.normal(size=4 * units),
      'w_i_diag': rng.normal(size=units),
      'w_f_diag': rng.normal(size=units),
      'w_o_diag': rng.normal(size=units),
  }
  assert lstm.cell_peepholes(params) == 'diagonal'
  xs = rng.normal(size=(steps, batch, in_dim))
  c0 = rng.normal(size=(batch, units))
  h0 = rng.normal(size=(batch, units))

  got = _run_cell(params, xs, jnp.asarray(c0, jnp.float32), jnp.asarray(h0, jnp.float32),
                  forget_bias=forget_bias)
  c, h = c0, h0
  for step, x in enumerate(xs):
    c, h = _tf_peephole_step(params, x, h, c, forget_bias=forget_bias)
    np.testing.assert_allclose(got[step][0], c, atol=1e-5, err_msg=f'c at step {step}')
    np.testing.assert_allclose(got[step][1], h, atol=1e-5, err_msg=f'h at step {step}')


def test_forget_bias_is_added_to_forget_gate_only():
  rng = np.random.default_rng(5)
  params = {
      'kernel': jnp.asarray(rng.normal(size=(5, 8)), jnp.float32),
      'bias': jnp.asarray(rng.normal(size=8), jnp.float32),
      'w_i_diag': jnp.zeros(2), 'w_f_diag': jnp.zeros(2), 'w_o_diag': jnp.zeros(2),
  }
  shifted = dict(params, bias=params['bias'].at[4:6].add(1.0))
  x = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)
  c = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
  h = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
  got = lstm.cell_step(params, x, c, h, forget_bias=1.0)
  want = lstm.cell_step(shifted, x, c, h, forget_bias=0.0)
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert not np.allclose(got, lstm.cell_step(params, x, c, h), atol=1e-3)


# ----------------------------------------------------------------------------
# Initialisation.

@pytest.mark.parametrize('peepholes', lstm.PEEPHOLES)
def test_init_cell_shapes_and_bias(peepholes):
  in_dim, units = 6, 4
  params = lstm.init_cell(jax.random.key(0), in_dim, units, peepholes, forget_bias_init=1.5)
  assert lstm.cell_peepholes(params) == peepholes
  assert params['kernel'].shape == (in_dim + units, 4 * units)
  assert params['bias'].shape == (4 * units,)
  peep_shape = (units, units) if peepholes == 'full' else (units,)
  suffix = 'peep' if peepholes == 'full' else 'diag'
  expected_keys = {'kernel', 'bias'} | {f'w_{g}_{suffix}' for g in 'ifo'}
  assert set(params) == expected_keys
  for gate in 'ifo':
    assert params[f'w_{gate}_{suffix}'].shape == peep_shape
  bias = np.asarray(params['bias'])
  np.testing.assert_array_equal(bias[2 * units:3 * units], 1.5)  # forget gate block
  np.testing.assert_array_equal(bias[:2 * units], 0.0)
  np.testing.assert_array_equal(bias[3 * units:], 0.0)


def test_init_cell_default_forget_bias_is_zero():
  params = lstm.init_cell(jax.random.key(0), 3, 2, 'diagonal')
  np.testing.assert_array_equal(params['bias'], 0.0)


@pytest.mark.parametrize('peepholes', lstm.PEEPHOLES)
def test_init_cell_he_std(peepholes):
  in_dim, units = 256, 128
  params = lstm.init_cell(jax.random.key(1), in_dim, units, peepholes)
  fan_j = in_dim + units
  fan_gate = in_dim + 2 * units if peepholes == 'full' else in_dim + units
  kernel = np.asarray(params['kernel'])
  for k, fan in enumerate([fan_gate, fan_j, fan_gate, fan_gate]):  # (i, j, f, o)
    block = kernel[:, k * units:(k + 1) * units]
    assert block.std() == pytest.approx(math.sqrt(2.0 / fan), rel=0.05), f'gate block {k}'
    assert abs(block.mean()) < 0.1 * math.sqrt(2.0 / fan)
  suffix = 'peep' if peepholes == 'full' else 'diag'
  # A diagonal peephole has only 128 values: a looser tolerance.
  rel = 0.05 if peepholes == 'full' else 0.2
  for gate in 'ifo':
    peep = np.asarray(params[f'w_{gate}_{suffix}'])
    assert peep.std() == pytest.approx(math.sqrt(2.0 / fan_gate), rel=rel), gate


def test_init_cell_keys_give_distinct_weights():
  a = lstm.init_cell(jax.random.key(0), 4, 3, 'full')
  b = lstm.init_cell(jax.random.key(0), 4, 3, 'full')
  c = lstm.init_cell(jax.random.key(1), 4, 3, 'full')
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
  assert not np.allclose(a['kernel'], c['kernel'])
  # The peephole matrices are drawn independently of each other.
  assert not np.allclose(a['w_i_peep'], a['w_f_peep'])


def test_init_cell_rejects_unknown_peepholes():
  with pytest.raises(ValueError, match='peepholes'):
    lstm.init_cell(jax.random.key(0), 3, 2, 'none')


def test_init_cell_param_dtype():
  params = lstm.init_cell(jax.random.key(0), 3, 2, 'full', dtype=jnp.bfloat16)
  assert params['kernel'].dtype == jnp.bfloat16
  assert params['w_o_peep'].dtype == jnp.bfloat16
  assert params['bias'].dtype == jnp.float32


def test_lstm_state_zeros():
  state = lstm.LSTMState.zeros(3, 5)
  assert state._fields == ('c1', 'h1', 'c2', 'h2')
  for leaf in state:
    assert leaf.shape == (3, 5) and leaf.dtype == jnp.float32
    np.testing.assert_array_equal(leaf, 0.0)


# ----------------------------------------------------------------------------
# Compute dtype.

@pytest.mark.parametrize('peepholes', lstm.PEEPHOLES)
def test_bfloat16_compute_close_to_float32(peepholes):
  in_dim, units, batch = 24, 16, 3
  params = lstm.init_cell(jax.random.key(2), in_dim, units, peepholes, forget_bias_init=1.0)
  rng = np.random.default_rng(6)
  x = jnp.asarray(rng.normal(size=(batch, in_dim)), jnp.float32)
  c = jnp.asarray(rng.normal(size=(batch, units)), jnp.float32)
  h = jnp.asarray(rng.normal(size=(batch, units)), jnp.float32)
  c32, h32 = lstm.cell_step(params, x, c, h)
  c16, h16 = lstm.cell_step(params, x, c, h, dtype=jnp.bfloat16)
  assert c16.dtype == jnp.float32 and h16.dtype == jnp.float32
  assert c32.shape == c16.shape == h16.shape == (batch, units)
  np.testing.assert_allclose(c16, c32, atol=5e-2)
  np.testing.assert_allclose(h16, h32, atol=5e-2)
  # bfloat16 products do round: the two results are not bit-identical.
  assert not np.array_equal(np.asarray(c16), np.asarray(c32))
