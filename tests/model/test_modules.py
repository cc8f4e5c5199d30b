"""The Flax modules (`model.modules`): the README's snippet, the shipped model against
`network.apply`, `nn.RNN` over the peephole cell against stepping `lstm.cell_step`, and the
parameter tree of `Re3.init` against `network.init` for every config."""

import pathlib
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax import model
from re3_jax.model import checkpoints, lstm, matmul, modules
from re3_jax.tracking import shipped

README = pathlib.Path(__file__).resolve().parents[2] / 're3_jax/model/README.md'


def _readme_snippet() -> str:
  text = README.read_text()
  section = text[text.index('## Using the network from Flax'):]
  return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_readme_snippet_runs():
  scope = {}
  exec(compile(_readme_snippet(), 're3_jax/model/README.md', 'exec'), scope)  # noqa: S102
  assert scope['y'].shape == (2, 5, 4)
  assert scope['outputs'].shape == (1, 3, 4)
  assert np.all(np.isfinite(np.asarray(scope['outputs'])))
  assert set(scope['variables']['params']['PeepholeLSTMCell_0']) == {
      'kernel', 'bias', 'w_i_diag', 'w_f_diag', 'w_o_diag'}


def test_shipped_model_equals_network_apply():
  params, config = checkpoints.load_params(shipped.pretrained_dir())
  s = config.crop_size
  crops = jax.random.randint(jax.random.key(0), (2, 3, 2, s, s, 3), 0, 256).astype(jnp.uint8)
  state = lstm.LSTMState(*(jax.random.normal(k, (2, config.lstm_units))
                           for k in jax.random.split(jax.random.key(1), 4)))
  # The shipped nano_template model takes each sequence's first-frame template.
  template = model.template(params, crops[:, 0, 0], config) if config.first_template else None
  want = jax.jit(lambda p, c, st: model.apply(p, c, st, config, template))(params, crops, state)
  got = jax.jit(lambda p, c, st: modules.Re3(config).apply({'params': p}, c, st, template))(
      params, crops, state)
  for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
  # The tracker's CPU layout (fc6 packed bfloat16) through the same module.
  packed = matmul.pack_params(params, min_size=1)
  assert matmul.is_packed(packed['fc6']['w'])
  out, _ = modules.Re3(config).apply({'params': packed}, crops, state, template)
  # The shipped weights are bfloat16, so packing is exact; the packed product sums fc6 in
  # chunks (another order): 9.5e-7 apart on outputs up to 8.7 here.
  np.testing.assert_allclose(np.asarray(out), np.asarray(want[0]), atol=1e-4)


@pytest.mark.parametrize('peepholes', lstm.PEEPHOLES)
def test_rnn_over_cell_equals_stepping(peepholes):
  cell = modules.PeepholeLSTMCell(features=8, peepholes=peepholes, forget_bias=1.0,
                                  forget_bias_init=0.5)
  x = jax.random.normal(jax.random.key(0), (3, 6, 5))
  rnn = nn.RNN(cell, return_carry=True)
  variables = rnn.init(jax.random.key(1), x)
  (c_last, h_last), hs = rnn.apply(variables, x)
  p = variables['params']['cell']
  assert lstm.cell_peepholes(p) == peepholes
  assert p['kernel'].shape == (5 + 8, 32)
  np.testing.assert_array_equal(np.asarray(p['bias'][16:24]), 0.5)
  c = h = jnp.zeros((3, 8))
  for t in range(x.shape[1]):
    c, h = lstm.cell_step(p, x[:, t], c, h, forget_bias=1.0)
    np.testing.assert_allclose(np.asarray(hs[:, t]), np.asarray(h), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(np.asarray(c_last), np.asarray(c), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(np.asarray(h_last), np.asarray(h), rtol=1e-6, atol=1e-6)


def test_recurrent_equals_lstm_step_by_hand():
  config = model.CONFIGS['tiny']
  params = model.init(jax.random.key(0), config)
  fc6 = jax.random.uniform(jax.random.key(1), (2, 4, config.fc6_units))
  state = model.initial_state(2, config)
  outputs, final = modules.Re3(config).apply({'params': params}, fc6, state,
                                             method=modules.Re3.recurrent)
  for t in range(fc6.shape[1]):
    out, state = model.lstm_step(params, state, fc6[:, t], config)
    np.testing.assert_allclose(np.asarray(outputs[:, t]), np.asarray(out), rtol=1e-5, atol=1e-6)
  for a, b in zip(final, state):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def _configs():
  for name, config in model.CONFIGS.items():
    for correlation in (False, True):
      for precision in ('float32', 'bf16_weights'):
        yield pytest.param(model.with_precision(config, precision).replace(
            correlation=correlation, first_template=config.first_template and correlation),
            id=f'{name}-{precision}-corr{int(correlation)}')


@pytest.mark.parametrize('config', list(_configs()))
def test_init_tree_is_network_init_tree(config):
  def shapes(tree):
    return jax.tree.map(lambda x: (x.shape, jnp.dtype(x.dtype)), tree)
  want = shapes(model.abstract_params(config))
  got = shapes(jax.eval_shape(lambda: modules.Re3(config).init(
      jax.random.key(0), *modules.init_inputs(config))['params']))
  assert jax.tree.structure(got) == jax.tree.structure(want)
  assert jax.tree.leaves(got) == jax.tree.leaves(want)


def test_init_values_follow_the_schemes():
  config = model.CONFIGS['tiny']
  params = modules.Re3(config).init(jax.random.key(0), *modules.init_inputs(config))['params']
  np.testing.assert_array_equal(np.asarray(params['conv1_skip']['prelu']), 0.25)
  np.testing.assert_array_equal(np.asarray(params['fc6']['b']), 0.0)
  bias = np.asarray(params['lstm1']['bias'])
  units = config.lstm_units
  np.testing.assert_array_equal(bias[2 * units:3 * units], config.forget_bias_init)
  limit = np.sqrt(6.0 / (config.fc6_inputs + config.fc6_units))
  w = np.asarray(params['fc6']['w'])
  assert np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
