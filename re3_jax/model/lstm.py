"""Peephole LSTM cells of Re3, as pure functions on plain parameter dicts (the arithmetic of
the Flax cell `modules.PeepholeLSTMCell`).

Both cells share one layout: a fused ``kernel`` [in + H, 4H] applied to
``concat(x, h_prev)`` with gate blocks in TensorFlow's order (i, j, f, o), where
j is the block input (z in the paper's notation), a ``bias`` [4H], and
peepholes that differ:

* ``'full'`` (the paper's cell, reference section 3): full matrices
  ``w_i_peep``, ``w_f_peep``, ``w_o_peep`` [H, H]. The input and forget gates
  look at c_prev, the output gate at the NEW c. The paper's four matrices
  ``W_z [in+H, H]``, ``W_{i,f,o} [in+2H, H]`` map to this layout with
  `full_cell_from_gates`.
* ``'diagonal'`` (TF ``LSTMCell(use_peepholes=True)``, the small model,
  reference section 4): vectors ``w_i_diag``, ``w_f_diag``, ``w_o_diag`` [H],
  and a forget bias added at run time (``forget_bias``, 1.0 in TF).

In both cells::

  i = sigmoid(g_i + peep(c_prev, w_i))
  f = sigmoid(g_f + forget_bias + peep(c_prev, w_f))
  c = i * tanh(g_j) + f * c_prev
  o = sigmoid(g_o + peep(c, w_o))
  h = o * tanh(c)

with ``g = concat(x, h_prev) @ kernel + bias``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from re3_jax.model import matmul

PEEPHOLES = ('full', 'diagonal')


class LSTMState(NamedTuple):
  """State of Re3's two stacked LSTMs, each (B, H).

  The order (c1, h1, c2, h2) is the original TensorFlow tracker's.
  """
  c1: jax.Array
  h1: jax.Array
  c2: jax.Array
  h2: jax.Array

  @classmethod
  def zeros(cls, batch: int, units: int, dtype=jnp.float32) -> 'LSTMState':
    return cls(*(jnp.zeros((batch, units), dtype) for _ in range(4)))


def init_cell(key, in_dim: int, units: int, peepholes: str, *,
              forget_bias_init: float = 0.0, dtype=jnp.float32) -> dict:
  """Initialises one cell (reference section 6: He/MSRA weights, zero biases).

  Each gate's weights are He-normal with that gate's fan-in (in + H for the
  block input; in + 2H for the gates of the full cell, which also read c;
  in + H for the diagonal cell). The forget-gate block of the bias is
  `forget_bias_init` (1 for the paper's cell; 0 for TF's cell, which adds its
  forget bias at run time).
  """
  if peepholes not in PEEPHOLES:
    raise ValueError(f'peepholes must be one of {PEEPHOLES}, got {peepholes!r}')
  k_kernel, k_peep = jax.random.split(key)
  fan_j = in_dim + units
  fan_gate = in_dim + 2 * units if peepholes == 'full' else in_dim + units
  stds = jnp.array([fan_gate, fan_j, fan_gate, fan_gate], jnp.float32)
  stds = jnp.repeat(jnp.sqrt(2.0 / stds), units)
  kernel = jax.random.normal(k_kernel, (in_dim + units, 4 * units), jnp.float32) * stds
  bias = jnp.zeros((4 * units,), jnp.float32).at[2 * units:3 * units].set(forget_bias_init)
  params = {'kernel': kernel.astype(dtype), 'bias': bias}
  keys = jax.random.split(k_peep, 3)
  std = np.sqrt(2.0 / fan_gate)
  for k, gate in zip(keys, 'ifo'):
    if peepholes == 'full':
      params[f'w_{gate}_peep'] = (jax.random.normal(k, (units, units)) * std).astype(dtype)
    else:
      params[f'w_{gate}_diag'] = jax.random.normal(k, (units,)) * std
  return params


def cell_peepholes(params: dict) -> str:
  """'full' or 'diagonal', read from a cell's parameters."""
  return 'full' if 'w_i_peep' in params else 'diagonal'


def _peep(c, params, gate, dtype):
  if f'w_{gate}_peep' in params:
    return matmul.dense(c.astype(dtype), params[f'w_{gate}_peep']).astype(jnp.float32)
  return c * params[f'w_{gate}_diag'].astype(jnp.float32)


def cell_step(params: dict, x, c, h, *, forget_bias: float = 0.0, dtype=jnp.float32):
  """One step of one cell: (B, in), (B, H), (B, H) -> (c, h), each (B, H) float32.

  Products run in `dtype` (the compute dtype); gates and states are float32.
  """
  units = c.shape[-1]
  a = jnp.concatenate([x.astype(dtype), h.astype(dtype)], axis=-1)
  g = matmul.dense(a, params['kernel']).astype(jnp.float32) + params['bias']
  g_i, g_j, g_f, g_o = (g[..., k * units:(k + 1) * units] for k in range(4))
  i = jax.nn.sigmoid(g_i + _peep(c, params, 'i', dtype))
  f = jax.nn.sigmoid(g_f + forget_bias + _peep(c, params, 'f', dtype))
  c_new = i * jnp.tanh(g_j) + f * c
  o = jax.nn.sigmoid(g_o + _peep(c_new, params, 'o', dtype))
  return c_new, o * jnp.tanh(c_new)


def full_cell_from_gates(w_z, b_z, w_i, b_i, w_f, b_f, w_o, b_o) -> dict:
  """The paper's four gate matrices -> this module's 'full' cell layout.

  Args:
    w_z: [in + H, H] block input weights (on concat(x, h_prev)); b_z: [H].
    w_i, w_f: [in + 2H, H] on concat(x, h_prev, c_prev); b_i, b_f: [H].
    w_o: [in + 2H, H] on concat(x, h_prev, c_new); b_o: [H].

  Returns:
    A 'full' cell parameter dict (NumPy arrays).
  """
  w_z, w_i, w_f, w_o = (np.asarray(w) for w in (w_z, w_i, w_f, w_o))
  rows, units = w_z.shape
  for name, w in (('input_gate', w_i), ('forget_gate', w_f), ('output_gate', w_o)):
    if w.shape != (rows + units, units):
      raise ValueError(f'{name} weights have shape {w.shape}; expected {(rows + units, units)} '
                       f'for a block input of shape {w_z.shape}')
  kernel = np.concatenate([w_i[:rows], w_z, w_f[:rows], w_o[:rows]], axis=1)
  bias = np.concatenate([np.asarray(b) for b in (b_i, b_z, b_f, b_o)])
  return {'kernel': kernel, 'bias': bias, 'w_i_peep': w_i[rows:], 'w_f_peep': w_f[rows:],
          'w_o_peep': w_o[rows:]}
