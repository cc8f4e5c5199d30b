"""Independent Re3 networks for `test_official_weights.py`: TF1 graphs and a PyTorch module.

Written from the reference (sections 3-5) with each framework's own ops, not
from re3_jax: the conv tower as the original ``tf_util.conv`` builds it
(grouped convs by splitting input and kernels), ``tf.nn.max_pool``,
``tf.nn.local_response_normalization``, PReLU skips flattened channel-major,
fc6, and either TF's own ``LSTMCell(use_peepholes=True)`` under
``dynamic_rnn`` (the small model's layout) or the paper's full-matrix
peephole cell written in TF ops (the paper layout). Variable names are the
official ones; only the widths may be reduced.

The PyTorch module has the official port's state_dict keys and its paper cell
written in torch ops from the reference equations.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import pytest

CROP = 227
MEAN_RGB = (123.151630838, 115.902882574, 103.062623801)


@dataclasses.dataclass(frozen=True)
class Widths:
  """Layer widths of a Re3 network (the official ones by default: the small model)."""
  conv: tuple[int, ...] = (96, 256, 384, 384, 256)
  skips: tuple[int, ...] = (16, 32, 64)
  fc6: int = 1024
  lstm: int = 512


SMALL = Widths()
REDUCED = Widths(conv=(8, 16, 16, 16, 16), skips=(4, 4, 4), fc6=32, lstm=16)
# The committed torch fixture's widths (tests/data/torch_paper_tiny.pt, 98 KB): all distinct
# where the layout allows, so a transposed or swapped weight changes the outputs.
TINY = Widths(conv=(6, 8, 10, 6, 4), skips=(1, 3, 2), fc6=5, lstm=3)


def features_per_crop(w: Widths) -> int:
  return w.skips[0] * 27 * 27 + w.skips[1] * 13 * 13 + w.skips[2] * 13 * 13 + w.conv[4] * 36


def hashed_crops(batch: int, unrolls: int) -> np.ndarray:
  """Crop pairs [batch, unrolls, 2, 227, 227, 3] of pixel values 0..255 from a fixed hash.

  A pure function of the index (no random generator, whose stream may change
  between NumPy versions), so a fixture's inputs need not be stored.
  """
  index = np.arange(batch * unrolls * 2 * CROP * CROP * 3, dtype=np.uint64)
  hashed = (index * np.uint64(2654435761)) % np.uint64(2**32) >> np.uint64(13)
  return (hashed % np.uint64(256)).astype(np.float32).reshape(batch, unrolls, 2, CROP, CROP, 3)


# ----------------------------------------------------------------------------
# TensorFlow.

def import_tf():
  """TensorFlow whose ``tf.compat.v1.nn.rnn_cell`` is tf_keras's legacy cells.

  TF 2.16+ resolves ``rnn_cell`` lazily, reading TF_USE_LEGACY_KERAS on first
  use; the variable is set only around that first use, so the rest of a test
  process keeps its own Keras.
  """
  tf = pytest.importorskip('tensorflow', reason='TensorFlow is the reference here')
  pytest.importorskip('tf_keras', reason='TF 2.x builds LSTMCell through tf_keras '
                      '(pip install tf_keras)')
  old = os.environ.get('TF_USE_LEGACY_KERAS')
  os.environ['TF_USE_LEGACY_KERAS'] = '1'
  try:
    cell = tf.compat.v1.nn.rnn_cell.LSTMCell
  finally:
    if old is None:
      del os.environ['TF_USE_LEGACY_KERAS']
    else:
      os.environ['TF_USE_LEGACY_KERAS'] = old
  if not cell.__module__.startswith('tf_keras'):
    raise RuntimeError(f'tf.compat.v1.nn.rnn_cell resolved to {cell.__module__}, not tf_keras: '
                       'something used it before TF_USE_LEGACY_KERAS was set')
  return tf


def _conv(tf, x, name, cout, k, stride=1, padding='SAME', groups=1, relu=True):
  """tf_util.conv_layer of the original: W_conv [k, k, cin/groups, cout], b_conv."""
  tf1 = tf.compat.v1
  with tf1.variable_scope(name):
    cin = x.shape[-1]
    w = tf1.get_variable('W_conv', [k, k, cin // groups, cout])
    b = tf1.get_variable('b_conv', [cout])
    conv = lambda i, kk: tf.nn.conv2d(i, kk, [1, stride, stride, 1], padding=padding)
    if groups == 1:
      y = conv(x, w)
    else:
      y = tf.concat([conv(i, kk) for i, kk in zip(tf.split(x, groups, 3), tf.split(w, groups, 3))],
                    3)
    y = tf.nn.bias_add(y, b)
    return tf.nn.relu(y) if relu else y


def _pool_lrn(tf, x):
  x = tf.nn.max_pool(x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding='VALID')
  return tf.nn.local_response_normalization(x, depth_radius=2, alpha=2e-5, beta=0.75, bias=1.0)


def _skip(tf, x, name, cout):
  """1x1 conv + PReLU (relu(x) - a * relu(-x)), flattened channel-major."""
  tf1 = tf.compat.v1
  with tf1.variable_scope(name):
    a = tf1.get_variable('prelu', [cout])
  y = _conv(tf, x, name, cout, 1, relu=False)
  y = tf.nn.relu(y) - a * tf.nn.relu(-y)
  return _flatten_chw(tf, y)


def _flatten_chw(tf, x):
  x = tf.transpose(x, [0, 3, 1, 2])
  return tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])


def _dense(tf, x, name, units):
  tf1 = tf.compat.v1
  with tf1.variable_scope(name):
    w = tf1.get_variable('W_fc', [x.shape[-1], units])
    b = tf1.get_variable('b_fc', [units])
  return tf.matmul(x, w) + b


def _paper_lstm(tf, inputs, c, h, units):
  """The paper's full-peephole cell (reference section 3), statically unrolled over time."""
  tf1 = tf.compat.v1
  in_dim = int(inputs.shape[-1])
  with tf1.variable_scope('rnn/LSTM'):
    var = {}
    for gate in ('block_input', 'input_gate', 'forget_gate', 'output_gate'):
      rows = in_dim + units if gate == 'block_input' else in_dim + 2 * units
      with tf1.variable_scope(gate):
        var[gate] = (tf1.get_variable('weights', [rows, units]),
                     tf1.get_variable('biases', [units]))
  lin = lambda x, gate: tf.matmul(x, var[gate][0]) + var[gate][1]
  outputs = []
  for t in range(inputs.shape[1]):
    a = tf.concat([inputs[:, t], h], 1)
    z = tf.tanh(lin(a, 'block_input'))
    i = tf.sigmoid(lin(tf.concat([a, c], 1), 'input_gate'))
    f = tf.sigmoid(lin(tf.concat([a, c], 1), 'forget_gate'))
    c = i * z + f * c
    o = tf.sigmoid(lin(tf.concat([a, c], 1), 'output_gate'))
    h = o * tf.tanh(c)
    outputs.append(h)
  return tf.stack(outputs, 1), (c, h)


def _tf_lstm(tf, inputs, c, h, units):
  """TF's own LSTMCell with diagonal peepholes under dynamic_rnn (the small model)."""
  tf1 = tf.compat.v1
  with warnings.catch_warnings():  # "LSTMCell is deprecated": it is the reference on purpose
    warnings.simplefilter('ignore', UserWarning)
    cell = tf1.nn.rnn_cell.LSTMCell(units, use_peepholes=True)
  state = tf1.nn.rnn_cell.LSTMStateTuple(c, h)
  outputs, state = tf1.nn.dynamic_rnn(cell, inputs, initial_state=state)
  return outputs, (state.c, state.h)


def build_tf_graph(tf, widths: Widths, layout: str, batch: int, unrolls: int) -> dict:
  """The Re3 network as a TF1 graph in the current default graph, under scope 're3'.

  Args:
    tf: the TensorFlow module (see `import_tf`).
    widths: layer widths.
    layout: 'small' (TF LSTMCell) or 'paper' (full-matrix peepholes in TF ops).
    batch, unrolls: the static batch size and number of time steps.

  Returns:
    A dict of tensors: 'crops' (placeholder, float32 [batch, unrolls, 2, 227,
    227, 3], values 0..255), 'state_in' (4 placeholders c1, h1, c2, h2, each
    [batch, lstm]), 'outputs' [batch, unrolls, 4], 'state_out' (c1, h1, c2, h2).
  """
  tf1 = tf.compat.v1
  crops = tf1.placeholder(tf.float32, [batch, unrolls, 2, CROP, CROP, 3], name='crops')
  state_in = tuple(tf1.placeholder(tf.float32, [batch, widths.lstm], name=n)
                   for n in ('c1', 'h1', 'c2', 'h2'))
  c1, c2, c3, c4, c5 = widths.conv
  with tf1.variable_scope('re3'):
    x = tf.reshape(crops, [-1, CROP, CROP, 3]) - tf.constant(MEAN_RGB, tf.float32)
    norm1 = _pool_lrn(tf, _conv(tf, x, 'conv1', c1, 11, stride=4, padding='VALID'))
    skip1 = _skip(tf, norm1, 'conv1_skip', widths.skips[0])
    norm2 = _pool_lrn(tf, _conv(tf, norm1, 'conv2', c2, 5, groups=2))
    skip2 = _skip(tf, norm2, 'conv2_skip', widths.skips[1])
    conv3 = _conv(tf, norm2, 'conv3', c3, 3)
    conv4 = _conv(tf, conv3, 'conv4', c4, 3, groups=2)
    conv5 = _conv(tf, conv4, 'conv5', c5, 3, groups=2)
    pool5 = tf.nn.max_pool(conv5, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding='VALID')
    skip5 = _skip(tf, conv5, 'conv5_skip', widths.skips[2])
    feats = tf.concat([skip1, skip2, skip5, _flatten_chw(tf, pool5)], 1)
    # [(B T 2), F] -> [(B T), 2F]: previous crop's features, then the current one's.
    pairs = tf.reshape(feats, [batch * unrolls, 2 * features_per_crop(widths)])
    fc6 = tf.reshape(tf.nn.relu(_dense(tf, pairs, 'fc6', widths.fc6)),
                     [batch, unrolls, widths.fc6])
    lstm = _tf_lstm if layout == 'small' else _paper_lstm
    with tf1.variable_scope('lstm1'):
      out1, s1 = lstm(tf, fc6, state_in[0], state_in[1], widths.lstm)
    with tf1.variable_scope('lstm2'):
      out2, s2 = lstm(tf, tf.concat([fc6, out1], 2), state_in[2], state_in[3], widths.lstm)
    out = _dense(tf, tf.reshape(out2, [batch * unrolls, widths.lstm]), 'fc_output', 4)
  return {'crops': crops, 'state_in': state_in, 'outputs': tf.reshape(out, [batch, unrolls, 4]),
          'state_out': s1 + s2}


def random_value(name: str, shape, rng: np.random.Generator) -> np.ndarray:
  """A random value for a Re3 variable, scaled to keep activations and gates near O(1).

  Biases, PReLU slopes and peepholes are random too (nonzero), so a mis-mapped
  one changes the outputs.
  """
  shape = tuple(shape)
  base = name.rsplit('/', 1)[-1]
  if base in ('W_conv', 'W_fc', 'weights', 'kernel'):
    fan_in = int(np.prod(shape[:-1]))
    scale = 1.0 / np.sqrt(fan_in)
    if '/conv1/' in name:
      scale /= 50.0  # inputs are pixel values (about +-128 after the mean)
    if '/fc6/' in name:
      scale *= 2.0
    return (rng.standard_normal(shape, np.float32) * scale).astype(np.float32)
  if base == 'prelu':
    return rng.uniform(0.05, 0.5, shape).astype(np.float32)
  if base.startswith('w_') or base in ('bias', 'biases'):
    return (rng.standard_normal(shape, np.float32) * 0.5).astype(np.float32)
  if base in ('b_conv', 'b_fc'):
    return (rng.standard_normal(shape, np.float32) * (1.0 if '/fc_output/' in name else 0.1)
            ).astype(np.float32)
  raise ValueError(f'no random rule for {name}')


def randomize(tf, sess, rng: np.random.Generator, overrides=None) -> dict[str, np.ndarray]:
  """Loads random values (or `overrides[name]`) into every re3/ variable; returns them by name."""
  values = {}
  for var in tf.compat.v1.global_variables():
    name = var.name.split(':')[0]
    if not name.startswith('re3/') or name.endswith(('/Adam', '/Adam_1')):
      continue
    value = (overrides or {}).get(name)
    if value is None:
      value = random_value(name, var.shape.as_list(), rng)
    var.load(value, sess)
    values[name] = value
  return values


# ----------------------------------------------------------------------------
# PyTorch.

def torch_paper_module(widths: Widths, seed: int = 0):
  """The official port's paper model (its state_dict keys), in torch ops, random weights.

  Returns:
    The module in eval mode. ``module(crop_pairs, state) -> (outputs, state)``
    runs one time step: crop_pairs (B, 2, 227, 227, 3) float 0..255, state
    (h1, c1, h2, c2) in the port's order; outputs (B, 4).
  """
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  class PaperCell(nn.Module):
    """The paper's LSTM cell: reference section 3's equations."""

    def __init__(self, in_dim, units):
      super().__init__()
      self.block_input = nn.Linear(in_dim + units, units)
      self.input_gate = nn.Linear(in_dim + 2 * units, units)
      self.forget_gate = nn.Linear(in_dim + 2 * units, units)
      self.output_gate = nn.Linear(in_dim + 2 * units, units)

    def forward(self, x, h, c):
      a = torch.cat([x, h], 1)
      z = torch.tanh(self.block_input(a))
      i = torch.sigmoid(self.input_gate(torch.cat([a, c], 1)))
      f = torch.sigmoid(self.forget_gate(torch.cat([a, c], 1)))
      c = i * z + f * c
      o = torch.sigmoid(self.output_gate(torch.cat([a, c], 1)))
      return o * torch.tanh(c), c

  class PaperNet(nn.Module):
    """Keys: conv.{0..4}, conv_skip.{0,1,2}, prelu_skip.{0,1,2}, fc6, lstm{1,2}, fc_output_out."""

    def __init__(self, w: Widths):
      super().__init__()
      c1, c2, c3, c4, c5 = w.conv
      self.conv = nn.ModuleList([
          nn.Conv2d(3, c1, 11, stride=4), nn.Conv2d(c1, c2, 5, padding=2, groups=2),
          nn.Conv2d(c2, c3, 3, padding=1), nn.Conv2d(c3, c4, 3, padding=1, groups=2),
          nn.Conv2d(c4, c5, 3, padding=1, groups=2)])
      self.conv_skip = nn.ModuleList([nn.Conv2d(c, s, 1) for c, s in zip((c1, c2, c5), w.skips)])
      self.prelu_skip = nn.ModuleList([nn.PReLU(s) for s in w.skips])
      self.fc6 = nn.Linear(2 * features_per_crop(w), w.fc6)
      self.lstm1 = PaperCell(w.fc6, w.lstm)
      self.lstm2 = PaperCell(w.fc6 + w.lstm, w.lstm)
      self.fc_output_out = nn.Linear(w.lstm, 4)

    def features(self, x):
      """(N, 227, 227, 3) 0..255 -> (N, F), each block flattened (C, H, W) as NCHW does."""
      x = (x - torch.tensor(MEAN_RGB)).permute(0, 3, 1, 2)
      lrn = lambda t: F.local_response_norm(t, 5, alpha=1e-4, beta=0.75, k=1.0)
      pool = lambda t: F.max_pool2d(t, 3, stride=2)
      norm1 = lrn(pool(F.relu(self.conv[0](x))))
      norm2 = lrn(pool(F.relu(self.conv[1](norm1))))
      conv5 = F.relu(self.conv[4](F.relu(self.conv[3](F.relu(self.conv[2](norm2))))))
      skips = [self.prelu_skip[k](self.conv_skip[k](t)) for k, t in
               enumerate((norm1, norm2, conv5))]
      return torch.cat([t.flatten(1) for t in skips + [pool(conv5)]], 1)

    def forward(self, pairs, state):
      b = pairs.shape[0]
      feats = self.features(pairs.reshape(b * 2, CROP, CROP, 3)).reshape(b, -1)
      fc6 = F.relu(self.fc6(feats))
      h1, c1, h2, c2 = state
      h1, c1 = self.lstm1(fc6, h1, c1)
      h2, c2 = self.lstm2(torch.cat([fc6, h1], 1), h2, c2)
      return self.fc_output_out(h2), (h1, c1, h2, c2)

  torch.manual_seed(seed)
  net = PaperNet(widths).eval()
  rng = np.random.default_rng(seed)
  with torch.no_grad():
    for key, p in net.state_dict().items():
      if key.startswith('prelu_skip'):
        p.copy_(torch.from_numpy(rng.uniform(0.05, 0.5, tuple(p.shape)).astype(np.float32)))
      elif key.endswith('bias'):
        p.copy_(torch.from_numpy((rng.standard_normal(tuple(p.shape)) * 0.5).astype(np.float32)))
    net.conv[0].weight.mul_(1.0 / 50.0)  # pixel-valued inputs
  return net
