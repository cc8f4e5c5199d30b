"""Tests of the official-weights import (`re3_jax.model.official_weights`, `tf_weights`,
`torch_weights`) and `python -m re3_jax.convert`, checked against TF and torch.

The references are independent networks built from each framework's own ops
(`re3_references`): a TensorFlow 1 graph with TF's ``LSTMCell(use_peepholes=
True)`` under ``dynamic_rnn`` (the small model's layout), the same graph with
the paper's full-matrix peephole cell in TF ops (the paper layout), and a
PyTorch module with the official port's state_dict keys. Each gets random
weights at reduced widths (official variable names), is saved as a real
checkpoint (``tf.compat.v1.train.Saver`` / ``torch.save``), converted, and run
beside re3_jax on the same crops over several time steps. The PyTorch module
ran once, by hand: its ``torch.save`` file and outputs are committed
(``tests/data/make_torch_fixture.py``), so the import is tested without torch,
as CI runs (`torch_files` reads the file). One test uses the
small model's true shapes. The tracker test drives the TF graph through the
test-time procedure of reference section 7 (crops from `re3_jax.core.crops`,
decoding with `re3_jax.core.boxes`, the reset every 32 frames) on real frames and
compares boxes with `Re3Tracker` restored from the command line's output.
"""

import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

import re3_references as refs
from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops as crops_lib
from re3_jax.datasets import sequences
from re3_jax.model import checkpoints
from re3_jax.model import lstm
from re3_jax.model import official_weights
from re3_jax.model import tf_weights
from re3_jax.model import torch_weights
from re3_jax.tracking import tracker as tracker_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
TOL = 1e-4  # crop-frame coordinates (x10 normalised), and LSTM states
RESET = 32  # reference section 7


# ----------------------------------------------------------------------------
# The variable tables of reference section 5, written out for any widths.

def _reference_tf_shapes(w: refs.Widths, layout: str) -> dict:
  c1, c2, c3, c4, c5 = w.conv
  s1, s2, s5 = w.skips
  h = w.lstm
  shapes = {
      're3/conv1/W_conv': (11, 11, 3, c1), 're3/conv1/b_conv': (c1,),
      're3/conv2/W_conv': (5, 5, c1 // 2, c2), 're3/conv2/b_conv': (c2,),
      're3/conv3/W_conv': (3, 3, c2, c3), 're3/conv3/b_conv': (c3,),
      're3/conv4/W_conv': (3, 3, c3 // 2, c4), 're3/conv4/b_conv': (c4,),
      're3/conv5/W_conv': (3, 3, c4 // 2, c5), 're3/conv5/b_conv': (c5,),
      're3/fc6/W_fc': (2 * refs.features_per_crop(w), w.fc6), 're3/fc6/b_fc': (w.fc6,),
      're3/fc_output/W_fc': (h, 4), 're3/fc_output/b_fc': (4,),
  }
  for name, cin, s in (('conv1_skip', c1, s1), ('conv2_skip', c2, s2), ('conv5_skip', c5, s5)):
    shapes.update({f're3/{name}/W_conv': (1, 1, cin, s), f're3/{name}/b_conv': (s,),
                   f're3/{name}/prelu': (s,)})
  for name, in_dim in (('lstm1', w.fc6), ('lstm2', w.fc6 + h)):
    if layout == 'small':
      scope = f're3/{name}/rnn/lstm_cell'
      shapes.update({f'{scope}/kernel': (in_dim + h, 4 * h), f'{scope}/bias': (4 * h,),
                     f'{scope}/w_f_diag': (h,), f'{scope}/w_i_diag': (h,),
                     f'{scope}/w_o_diag': (h,)})
    else:
      for gate in ('block_input', 'input_gate', 'forget_gate', 'output_gate'):
        rows = in_dim + h if gate == 'block_input' else in_dim + 2 * h
        shapes[f're3/{name}/rnn/LSTM/{gate}/weights'] = (rows, h)
        shapes[f're3/{name}/rnn/LSTM/{gate}/biases'] = (h,)
  return shapes


def _reference_torch_shapes(w: refs.Widths) -> dict:
  c1, c2, c3, c4, c5 = w.conv
  h = w.lstm
  convs = ((c1, 3, 11), (c2, c1 // 2, 5), (c3, c2, 3), (c4, c3 // 2, 3), (c5, c4 // 2, 3))
  shapes = {}
  for i, (cout, cin, k) in enumerate(convs):
    shapes.update({f'conv.{i}.weight': (cout, cin, k, k), f'conv.{i}.bias': (cout,)})
  for i, (cin, s) in enumerate(zip((c1, c2, c5), w.skips)):
    shapes.update({f'conv_skip.{i}.weight': (s, cin, 1, 1), f'conv_skip.{i}.bias': (s,),
                   f'prelu_skip.{i}.weight': (s,)})
  shapes.update({'fc6.weight': (w.fc6, 2 * refs.features_per_crop(w)), 'fc6.bias': (w.fc6,),
                 'fc_output_out.weight': (4, h), 'fc_output_out.bias': (4,)})
  for name, in_dim in (('lstm1', w.fc6), ('lstm2', w.fc6 + h)):
    for gate in ('block_input', 'input_gate', 'forget_gate', 'output_gate'):
      cols = in_dim + h if gate == 'block_input' else in_dim + 2 * h
      shapes.update({f'{name}.{gate}.weight': (h, cols), f'{name}.{gate}.bias': (h,)})
  return shapes


PAPER_WIDTHS = refs.Widths(fc6=2048, lstm=1024)


def test_reference_tables_match_section_5():
  small = _reference_tf_shapes(refs.SMALL, 'small')
  paper = _reference_tf_shapes(PAPER_WIDTHS, 'paper')
  # Spot checks against the printed table.
  assert small['re3/fc6/W_fc'] == (74208, 1024) and paper['re3/fc6/W_fc'] == (74208, 2048)
  assert small['re3/lstm1/rnn/lstm_cell/kernel'] == (1536, 2048)
  assert small['re3/lstm2/rnn/lstm_cell/kernel'] == (2048, 2048)
  assert paper['re3/lstm1/rnn/LSTM/block_input/weights'] == (3072, 1024)
  assert paper['re3/lstm1/rnn/LSTM/input_gate/weights'] == (4096, 1024)
  assert paper['re3/lstm2/rnn/LSTM/block_input/weights'] == (4096, 1024)
  assert paper['re3/lstm2/rnn/LSTM/output_gate/weights'] == (5120, 1024)
  assert paper['re3/conv2/W_conv'] == (5, 5, 48, 256) and small['re3/fc_output/W_fc'] == (512, 4)
  assert _reference_torch_shapes(PAPER_WIDTHS)['conv.1.weight'] == (256, 48, 5, 5)


@pytest.mark.parametrize('name,widths,layout', [('small', refs.SMALL, 'small'),
                                                ('paper', PAPER_WIDTHS, 'paper')])
def test_tf_shapes_and_config_inference(name, widths, layout):
  table = _reference_tf_shapes(widths, layout)
  config = model.get_config(name)
  assert tf_weights.tf_variable_shapes(config) == table
  assert tf_weights.tf_config_from_shapes(table) == config


def test_torch_shapes_and_config_inference():
  table = _reference_torch_shapes(PAPER_WIDTHS)
  assert torch_weights.pytorch_key_shapes(model.get_config('paper')) == table
  assert torch_weights.pytorch_config_from_shapes(table) == model.get_config('paper')


def test_reduced_widths_get_a_custom_config():
  config = tf_weights.tf_config_from_shapes(_reference_tf_shapes(refs.REDUCED, 'small'))
  assert config == model.get_config('small').replace(
      name='small_custom', conv_channels=refs.REDUCED.conv, skip_channels=refs.REDUCED.skips,
      fc6_units=refs.REDUCED.fc6, lstm_units=refs.REDUCED.lstm)
  assert config.forget_bias == 1.0  # TF LSTMCell's run-time forget bias
  paper = tf_weights.tf_config_from_shapes(_reference_tf_shapes(refs.REDUCED, 'paper'))
  assert (paper.name, paper.peepholes, paper.forget_bias) == ('paper_custom', 'full', 0.0)


# ----------------------------------------------------------------------------
# Errors, on variables in memory.

def _variables(layout='small', widths=refs.REDUCED) -> dict:
  rng = np.random.default_rng(0)
  return {n: rng.standard_normal(s).astype(np.float32)
          for n, s in _reference_tf_shapes(widths, layout).items()}


def test_training_state_is_ignored():
  variables = _variables()
  params, config = tf_weights.params_from_tf_variables(variables)
  with_state = dict(variables, global_step=np.int64(12), beta1_power=np.float32(0.9),
                    beta2_power=np.float32(0.99))
  for name, value in variables.items():
    with_state[f'{name}/Adam'] = value + 1
    with_state[f'{name}/Adam_1'] = value + 2
  params2, config2 = tf_weights.params_from_tf_variables(with_state)
  assert config2 == config
  jax.tree_util.tree_map(np.testing.assert_array_equal, params2, params)


@pytest.mark.parametrize('layout', ['small', 'paper'])
def test_missing_variable_is_named(layout):
  variables = _variables(layout)
  del variables['re3/conv2_skip/prelu']
  with pytest.raises(ValueError, match=r'missing re3/conv2_skip/prelu \(expected shape \[4\]\)'):
    tf_weights.params_from_tf_variables(variables)
  variables = _variables(layout)
  del variables['re3/fc6/W_fc']  # a width is read from it (and from re3/fc6/b_fc)
  with pytest.raises(ValueError, match=r'missing re3/fc6/W_fc \(expected shape \[9688, 32\]\)'):
    tf_weights.params_from_tf_variables(variables)
  del variables['re3/fc6/b_fc']
  with pytest.raises(ValueError, match='has none of re3/fc6/b_fc, re3/fc6/W_fc'):
    tf_weights.params_from_tf_variables(variables)


def test_extra_variable_is_named():
  variables = _variables()
  variables['re3/conv6/W_conv'] = np.zeros((3, 3, 16, 16), np.float32)
  with pytest.raises(ValueError, match=r'unexpected re3/conv6/W_conv \(shape \[3, 3, 16, 16\]\)'):
    tf_weights.params_from_tf_variables(variables)


@pytest.mark.parametrize('layout,name,bad,good', [
    ('small', 're3/lstm2/rnn/lstm_cell/w_f_diag', (17,), (16,)),
    ('small', 're3/fc6/W_fc', (9000, 32), (9688, 32)),
    ('paper', 're3/lstm1/rnn/LSTM/forget_gate/weights', (48, 16), (64, 16)),
])
def test_misshaped_variable_names_both_shapes(layout, name, bad, good):
  variables = _variables(layout)
  variables[name] = np.zeros(bad, np.float32)
  expected = f'{name} has shape [{", ".join(map(str, bad))}] but [{", ".join(map(str, good))}]'
  with pytest.raises(ValueError, match=expected.replace('[', r'\[').replace(']', r'\]')):
    tf_weights.params_from_tf_variables(variables)


def test_no_lstm_or_two_layouts():
  variables = {n: v for n, v in _variables().items() if '/lstm' not in n}
  with pytest.raises(ValueError, match='no LSTM variables'):
    tf_weights.params_from_tf_variables(variables)
  both = dict(_variables(), **_variables('paper'))
  with pytest.raises(ValueError, match='both LSTM layouts'):
    tf_weights.params_from_tf_variables(both)


def test_pytorch_errors_name_keys():
  rng = np.random.default_rng(0)
  state = {k: rng.standard_normal(s).astype(np.float32)
           for k, s in _reference_torch_shapes(refs.REDUCED).items()}
  params, config = torch_weights.params_from_pytorch_state_dict(state)
  assert config.name == 'paper_custom'
  transposed = dict(state, **{'fc6.weight': state['fc6.weight'].T})
  with pytest.raises(ValueError, match=r'fc6.weight has shape \[9688, 32\] but \[32, 9688\]'):
    torch_weights.params_from_pytorch_state_dict(transposed)
  missing = {k: v for k, v in state.items() if k != 'lstm2.output_gate.bias'}
  with pytest.raises(ValueError, match=r'missing lstm2.output_gate.bias \(expected shape \[16\]\)'):
    torch_weights.params_from_pytorch_state_dict(missing)
  with pytest.raises(ValueError, match=r'unexpected lrn.0.weight'):
    torch_weights.params_from_pytorch_state_dict(dict(state, **{'lrn.0.weight': np.zeros(3)}))


def test_bad_format_and_sources(tmp_path):
  with pytest.raises(ValueError, match="unknown format 'onnx'"):
    official_weights.convert(tmp_path, 'onnx', tmp_path / 'out')
  with pytest.raises(FileNotFoundError, match='no checkpoint at'):
    tf_weights.from_tf_checkpoint(tmp_path / 'nothing')
  junk = tmp_path / 'junk.ckpt'
  junk.write_bytes(b'not a checkpoint at all')
  pytest.importorskip('tensorflow')
  with pytest.raises(ValueError, match='is not a TensorFlow checkpoint'):
    tf_weights.from_tf_checkpoint(junk)
  with pytest.raises(ValueError, match='is not a TensorFlow checkpoint'):
    tf_weights.from_tf_checkpoint(tmp_path)  # a directory without a "checkpoint" file


def test_missing_frameworks_have_install_hints(tmp_path, monkeypatch):
  """TF checkpoints need TensorFlow (a hint says how to install it); .pt files need no torch."""
  weights = tmp_path / 'weights.pt'
  weights.write_bytes(b'\0')
  monkeypatch.setitem(sys.modules, 'tensorflow', None)
  monkeypatch.setitem(sys.modules, 'torch', None)
  with pytest.raises(ImportError, match=r're3_jax\[convert\]'):
    tf_weights.from_tf_checkpoint(weights)
  with pytest.raises(ValueError, match=r'weights\.pt is not a PyTorch state_dict file'):
    torch_weights.from_pytorch_state_dict(weights)
  params, config = torch_weights.from_pytorch_state_dict(TORCH_FIXTURE)
  assert config.conv_channels == refs.TINY.conv and params['fc6']['w'].shape == (
      2 * refs.features_per_crop(refs.TINY), refs.TINY.fc6)


def test_importable_without_tensorflow_and_torch():
  code = ('import sys; sys.modules.update(tensorflow=None, torch=None, tf_keras=None); '
          'import re3_jax.model.official_weights')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]


# ----------------------------------------------------------------------------
# TensorFlow graphs as references.

@pytest.fixture(scope='module')
def tf():
  return refs.import_tf()


class TFNet:
  """A reference graph with random weights, saved as a TF1 checkpoint, and its open session."""

  def __init__(self, tf, widths, layout, batch, unrolls, directory, *, seed=0, adam=False,
               overrides=None):
    tf1 = tf.compat.v1
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.tensors = refs.build_tf_graph(tf, widths, layout, batch, unrolls)
      if adam:  # a training checkpoint: Adam slots, beta powers, global step
        step = tf1.train.create_global_step()
        tf1.train.AdamOptimizer(1e-5).minimize(tf.reduce_sum(self.tensors['outputs']),
                                               global_step=step)
      self.sess = tf1.Session(graph=self.graph)
      self.sess.run(tf1.global_variables_initializer())
      self.values = refs.randomize(tf, self.sess, np.random.default_rng(seed), overrides)
      directory.mkdir(parents=True, exist_ok=True)
      self.prefix = tf1.train.Saver().save(self.sess, str(directory / 'model.ckpt'),
                                           global_step=7)

  def run(self, crops, state):
    """crops [B, T, 2, 227, 227, 3], state (c1, h1, c2, h2) -> (outputs [B, T, 4], state)."""
    feed = {self.tensors['crops']: np.asarray(crops, np.float32)}
    feed.update(zip(self.tensors['state_in'], state))
    return self.sess.run((self.tensors['outputs'], self.tensors['state_out']), feed)

  def close(self):
    self.sess.close()


def _crops(batch, unrolls, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (batch, unrolls, 2, 227, 227, 3)).astype(np.float32)


def _states(batch, units, seed=1):
  """The zero state and a random one, each (c1, h1, c2, h2)."""
  rng = np.random.default_rng(seed)
  zeros = tuple(np.zeros((batch, units), np.float32) for _ in range(4))
  return zeros, tuple((rng.standard_normal((batch, units)) * 0.5).astype(np.float32)
                      for _ in range(4))


def _assert_same_as_tf(net, params, config, batch, unrolls):
  """re3_jax.model.apply against the TF graph from two initial states; returns TF's outputs."""
  crops = _crops(batch, unrolls)
  for state in _states(batch, config.lstm_units):
    tf_out, tf_state = net.run(crops, state)
    out, jax_state = model.apply(params, crops, lstm.LSTMState(*state), config)
    np.testing.assert_allclose(out, tf_out, rtol=0, atol=TOL)
    for got, want in zip(jax_state, tf_state):
      np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
  # Not a trivial comparison: outputs are O(1) and change from step to step.
  assert np.abs(tf_out).max() > 0.5 and np.ptp(tf_out, axis=1).max() > 0.1
  return crops, tf_out


def test_tf_small_layout_matches_tf_graph(tf, tmp_path):
  net = TFNet(tf, refs.REDUCED, 'small', 2, 4, tmp_path, adam=True)
  try:
    names = tf.train.load_checkpoint(net.prefix).get_variable_to_shape_map()
    assert 're3/lstm1/rnn/lstm_cell/kernel/Adam_1' in names and 'beta2_power' in names
    assert 'global_step' in names
    params, config = tf_weights.from_tf_checkpoint(net.prefix)
    assert (config.name, config.peepholes, config.forget_bias) == ('small_custom', 'diagonal', 1.0)
    np.testing.assert_array_equal(params['lstm1']['bias'],
                                  net.values['re3/lstm1/rnn/lstm_cell/bias'])  # as stored
    crops, tf_out = _assert_same_as_tf(net, params, config, batch=2, unrolls=4)
    # One of the checkpoint's files names it too (its prefix is used).
    assert tf_weights.from_tf_checkpoint(net.prefix + '.index')[1] == config
    # The run-time forget bias matters here: without it the outputs differ.
    zeros = model.initial_state(2, config)
    out, _ = model.apply(params, crops, zeros, config.replace(forget_bias=0.0))
    assert np.abs(out - net.run(crops, _states(2, config.lstm_units)[0])[0]).max() > 10 * TOL
  finally:
    net.close()


def test_tf_small_model_true_shapes(tf, tmp_path):
  net = TFNet(tf, refs.SMALL, 'small', 1, 2, tmp_path, seed=1)
  try:
    tf_out, tf_state = net.run(_crops(1, 2), _states(1, 512)[1])
  finally:
    net.close()
  params, config = tf_weights.from_tf_checkpoint(tmp_path)  # the directory: latest checkpoint
  assert config == model.get_config('small')
  assert model.count_params(params) == 85_699_684
  out, state = model.apply(params, _crops(1, 2), lstm.LSTMState(*_states(1, 512)[1]), config)
  np.testing.assert_allclose(out, tf_out, rtol=0, atol=TOL)
  for got, want in zip(state, tf_state):
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
  assert np.abs(tf_out).max() > 0.5


def test_tf_paper_layout_matches_tf_ops(tf, tmp_path):
  net = TFNet(tf, refs.REDUCED, 'paper', 2, 3, tmp_path, seed=2)
  try:
    params, config = tf_weights.from_tf_checkpoint(net.prefix)
    assert (config.name, config.peepholes, config.forget_bias) == ('paper_custom', 'full', 0.0)
    assert lstm.cell_peepholes(params['lstm2']) == 'full'
    _assert_same_as_tf(net, params, config, batch=2, unrolls=3)
  finally:
    net.close()


# ----------------------------------------------------------------------------
# PyTorch: a state_dict written by real torch (tests/data/make_torch_fixture.py), read without it.

TORCH_FIXTURE = REPO / 'tests' / 'data' / 'torch_paper_tiny.pt'
# float32 against the exact result (the fixture's float64 run of the torch module): a float32
# sum of K products is within K * 2^-24 of the exact sum, relative to the sum of the products'
# magnitudes (Higham's gamma_K). The longest sum is fc6's, K = 2 * features_per_crop(TINY) =
# 3436 products: 2.05e-4. The weights keep activations O(1) (`torch_paper_module`), and the
# layers after fc6 (the LSTM gates' sigmoid and tanh, slopes at most 1; fc_output, K = 3) do
# not enlarge an error, so each float32 result is within TORCH_TOL * max(1, |value|) of the
# exact one, and torch's and re3_jax's within twice that of each other. Measured on x86
# (AVX-512 and AVX2): 6e-8 for the outputs, 2e-7 for the states.
TORCH_TOL = 2 * refs.features_per_crop(refs.TINY) * 2.0**-24


def _assert_close(got, want, tol, what):
  np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, np.abs(want).max()),
                             err_msg=what)


def test_pytorch_paper_model_matches_torch(tmp_path):
  params, config = torch_weights.from_pytorch_state_dict(TORCH_FIXTURE)
  assert (config.name, config.peepholes, config.forget_bias) == ('paper_custom', 'full', 0.0)
  assert (config.conv_channels, config.skip_channels, config.fc6_units, config.lstm_units) == (
      refs.TINY.conv, refs.TINY.skips, refs.TINY.fc6, refs.TINY.lstm)
  ref = np.load(TORCH_FIXTURE.with_suffix('.npz'))
  torch_out, torch_state = ref['outputs'], ref['state_out']
  exact_out, exact_state = ref['outputs_f64'], ref['state_out_f64']
  # The fixture's inputs: hashed crops, 2 sequences of 3 steps, from a random state.
  crops = refs.hashed_crops(*torch_out.shape[:2])
  out, state = model.apply(params, crops, lstm.LSTMState(*ref['state_in']), config)
  state = np.stack(state)  # c1, h1, c2, h2
  _assert_close(out, torch_out, 2 * TORCH_TOL, 'outputs vs torch')
  _assert_close(state, torch_state, 2 * TORCH_TOL, 'states vs torch')
  _assert_close(out, exact_out, TORCH_TOL, 'outputs vs exact')
  _assert_close(state, exact_state, TORCH_TOL, 'states vs exact')
  _assert_close(torch_out, exact_out, TORCH_TOL, 'the fixture: torch vs exact')
  # The outputs depend on the crops, so the conv tower is compared too.
  assert np.abs(torch_out).max() > 0.1 and np.ptp(torch_out, axis=1).max() > 0.01
  # The library entry point writes a checkpoint that restores the same parameters.
  out_dir, _ = official_weights.convert(TORCH_FIXTURE, 'pytorch', tmp_path / 'converted')
  restored, restored_config = checkpoints.load_params(out_dir)
  assert restored_config == config
  jax.tree_util.tree_map(np.testing.assert_array_equal, restored, params)
  with pytest.raises(FileExistsError, match='already holds a checkpoint'):
    official_weights.convert(TORCH_FIXTURE, 'pytorch', out_dir)
  junk = tmp_path / 'junk.pt'
  junk.write_bytes(b'not a zip file')
  with pytest.raises(ValueError, match='is not a PyTorch state_dict file'):
    torch_weights.from_pytorch_state_dict(junk)


def test_cli_converts_pytorch_weights_without_torch(tmp_path):
  out = tmp_path / 'converted'
  code = ('import runpy, sys; sys.modules["torch"] = None; '
          f'sys.argv = ["convert", "--source={TORCH_FIXTURE}", "--format=pytorch", "--out={out}"]; '
          'runpy.run_module("re3_jax.convert", run_name="__main__", alter_sys=True)')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'paper_custom' in result.stdout and str(out) in result.stdout
  params, config = checkpoints.load_params(out)
  expected, expected_config = torch_weights.from_pytorch_state_dict(TORCH_FIXTURE)
  assert config == expected_config
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, expected)


def test_pytorch_reader_matches_live_torch(tmp_path):
  """With torch installed (never in CI): today's torch.save, at REDUCED widths, read back."""
  torch = pytest.importorskip('torch', reason='the committed fixture is the test without torch')
  net = refs.torch_paper_module(refs.REDUCED)
  path = tmp_path / 're3_paper.pt'
  torch.save(net.state_dict(), path)
  params, config = torch_weights.from_pytorch_state_dict(path)
  expected, expected_config = torch_weights.params_from_pytorch_state_dict(
      {k: v.numpy() for k, v in net.state_dict().items()})
  assert config == expected_config
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, expected)


# ----------------------------------------------------------------------------
# The command line, and the tracker on real frames against the TF graph.

@pytest.fixture(scope='module')
def tracking_net(tf, tmp_path_factory):
  """A reduced small-layout TF graph (batch 1, one step) whose head keeps boxes sane.

  The head's weights are small and its bias is the centred box, so predictions
  stay near the window (the tracker's guards never act) while still moving.
  The checkpoint is converted by the command line; yields (net, out_dir, stdout).
  """
  root = tmp_path_factory.mktemp('tracking')
  rng = np.random.default_rng(7)
  overrides = {
      're3/fc_output/W_fc': (rng.standard_normal((refs.REDUCED.lstm, 4)) * 0.05).astype(
          np.float32),
      're3/fc_output/b_fc': np.asarray(boxes_lib.CENTERED_BOX, np.float32)}
  net = TFNet(tf, refs.REDUCED, 'small', 1, 1, root / 'tf', seed=3, overrides=overrides)
  out = root / 'converted'
  command = [sys.executable, '-m', 're3_jax.convert', f'--source={root / "tf"}', '--format=tf',
             f'--out={out}']
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  yield net, out, result.stdout, command, env
  net.close()


def test_cli_writes_a_restorable_checkpoint(tracking_net):
  net, out, stdout, command, env = tracking_net
  assert 'small_custom' in stdout and str(out) in stdout
  params, config = checkpoints.load_params(out)
  expected, expected_config = tf_weights.from_tf_checkpoint(net.prefix)
  assert config == expected_config
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, expected)
  again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
  assert again.returncode != 0 and 'already holds a checkpoint' in again.stderr


def _track_with_tf(net, frames, box, initial=None):
  """Reference section 7 with the TF graph: crops by `core.crops`, decoding by `core.boxes`."""
  crop = jax.jit(lambda image, box: crops_lib.crop(image, boxes_lib.context_window(box)))
  run = lambda prev, cur, state: net.run(np.stack([prev, cur])[None, None], state)
  zeros = tuple(np.zeros((1, refs.REDUCED.lstm), np.float32) for _ in range(4))
  first = np.asarray(crop(frames[0], box))
  _, state = run(first, first, zeros)
  initial = state
  out_boxes = [np.asarray(box, np.float32)]
  for t in range(1, len(frames)):
    window_box = out_boxes[-1]
    out, state = run(np.asarray(crop(frames[t - 1], window_box)),
                     np.asarray(crop(frames[t], window_box)), state)
    new_box = boxes_lib.from_crop_frame(out[0, 0], boxes_lib.context_window(window_box))
    if t % RESET == 0:  # after predicting: one pass at the new box from the initial state
      cur = np.asarray(crop(frames[t], new_box))
      _, state = run(cur, cur, initial)
    out_boxes.append(new_box.astype(np.float32))
  return np.stack(out_boxes)


@pytest.mark.parametrize('name', ['otb_crossing', 'vot15_bag'])
def test_tracker_matches_tf_on_real_frames(tracking_net, sequences_dir, name):
  net, out, _, _, _ = tracking_net
  seq = sequences.load_sequence(sequences_dir / name)
  frames, box = seq.frames[:70], seq.boxes[0]  # 70 frames: two resets (frames 32 and 64)
  tracker = tracker_lib.Re3Tracker.from_checkpoint(out)
  got = np.stack([tracker.track('a', frames[0], box)] +
                 [tracker.track('a', f) for f in frames[1:]])
  want = _track_with_tf(net, frames, box)
  # The tracker's guards never acted: TF's boxes are well formed and inside the image.
  h, w = frames.shape[1:3]
  centres = boxes_lib.centers(want)
  assert np.all(boxes_lib.width_height(want) > 1) and np.all(centres >= 0)
  assert np.all(centres <= [w, h])
  assert np.abs(want - want[0]).max() > 2.0  # the boxes move
  # Compared in the crop frame of each step's window. Each box places the next
  # crop, so differences accumulate over frames: 2 * TOL (measured: 5e-5).
  windows = boxes_lib.context_window(want[:-1])
  np.testing.assert_allclose(boxes_lib.to_crop_frame(got[1:], windows),
                             boxes_lib.to_crop_frame(want[1:], windows), rtol=0, atol=2 * TOL)
