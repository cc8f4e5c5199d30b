"""NanoTrack v2's backbone: a conv tower trained for tracking, read from its ONNX file.

NanoTrack (HonglinChu/SiamTrackers, Apache-2.0; the models of OpenCV's `cv2.TrackerNano`)
extracts features with a MobileNetV3-style network of 188,238 parameters, trained for
tracking on large tracking and detection datasets. Its graph, as `backbone.onnx` holds it
(batch norms folded into the convolutions):

- a stem: 3x3 convolution, stride 2, 16 channels, HardSwish;
- eight inverted-residual blocks (`BLOCKS`): a 1x1 expansion with its activation (absent
  in the first block, whose depthwise convolution works on the stem's 16 channels), a
  depthwise k x k convolution, a squeeze-and-excitation (global average, two dense layers,
  ReLU then HardSigmoid, a channel gate) in five blocks, the activation, and a linear 1x1
  projection, added to the block's input where the shapes agree. Where a block expands,
  its depthwise convolution is followed by the gate and then the activation; the first
  block applies its ReLU before the gate (two orders in the file, both kept).

Input: RGB values 0..255 as they are (OpenCV's tracker calls ``blobFromImage(crop, 1.0,
Size(), Scalar(), swapRB=true)`` on BGR frames); output stride 16, 48 channels: a 127x127
template gives 8x8, a 255x255 search crop 16x16.

`from_onnx` maps the file's initializers onto the parameter tree `tower_layout` describes,
checking each convolution's and dense layer's shape and the graph's operations against
the layout, so a file of another network is an error naming it, not garbage weights.
`tower` runs the network in NHWC (the Flax module `layers.NanoTrack`; `depthwise` says how
its depthwise convolutions run).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from re3_jax.core import digests

from re3_jax.model import onnx_graph

Params = dict[str, Any]
_DN = ('NHWC', 'HWIO', 'NHWC')


class Block(NamedTuple):
  expand: int        # channels after the 1x1 expansion (0: no expansion)
  kernel: int        # the depthwise convolution's size
  stride: int
  out: int           # channels after the projection
  act: str           # 'relu' or 'hswish'
  se: int            # the gate's hidden width (0: no squeeze-and-excitation)


STEM = 16
# features.1 .. features.8 of the file.
BLOCKS = (Block(0, 3, 2, 16, 'relu', 8), Block(72, 3, 2, 24, 'relu', 0),
          Block(88, 3, 1, 24, 'relu', 0), Block(96, 5, 2, 40, 'hswish', 24),
          Block(240, 5, 1, 40, 'hswish', 64), Block(240, 5, 1, 40, 'hswish', 64),
          Block(120, 5, 1, 48, 'hswish', 32), Block(144, 5, 1, 48, 'hswish', 40))
BLOCK_NAMES = tuple(f'block{i}' for i in range(1, len(BLOCKS) + 1))
OUT_CHANNELS = BLOCKS[-1].out
STRIDE = 16
# The release's file (shared/weights/README.md): its name, size and SHA-256.
FILE_NAME = 'backbone.onnx'
FILE_SIZE = 1_056_849
SHA256 = '530bdd0cd00f19afab79a863e71ba71e3312395a5dc9151af675082bdaaa2fc4'
SOURCE = ('the public GitHub repository HonglinChu/SiamTrackers, commit 248663f, '
          'NanoTrack/models/nanotrackv2/nanotrack_backbone_sim.onnx')
NUM_PARAMS = 188_238


def block_in(index: int) -> int:
  """Input channels of block `index` (0-based)."""
  return STEM if index == 0 else BLOCKS[index - 1].out


def tower_layout() -> Params:
  """The parameter tree's shapes: {'stem': {'w': HWIO, 'b'}, 'block1': {...}, ...}.

  A block holds 'expand' (1x1, absent without expansion), 'depthwise' (k x k x 1 x C),
  'se1' / 'se2' (dense, (in, out), with the gate) and 'project' (1x1).
  """
  layout: Params = {'stem': {'w': (3, 3, 3, STEM), 'b': (STEM,)}}
  for i, (name, blk) in enumerate(zip(BLOCK_NAMES, BLOCKS)):
    cin = block_in(i)
    hidden = blk.expand or cin
    p: Params = {}
    if blk.expand:
      p['expand'] = {'w': (1, 1, cin, hidden), 'b': (hidden,)}
    p['depthwise'] = {'w': (blk.kernel, blk.kernel, 1, hidden), 'b': (hidden,)}
    if blk.se:
      p['se1'] = {'w': (hidden, blk.se), 'b': (blk.se,)}
      p['se2'] = {'w': (blk.se, hidden), 'b': (hidden,)}
    p['project'] = {'w': (1, 1, hidden, blk.out), 'b': (blk.out,)}
    layout[name] = p
  return layout


def _is_shape(x) -> bool:
  return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


def init_tower(key) -> Params:
  """A random tower (He-uniform kernels, zero biases), the shapes of `tower_layout`."""
  layout = tower_layout()
  leaves, treedef = jax.tree.flatten(layout, is_leaf=_is_shape)
  keys = jax.random.split(key, len(leaves))
  out = []
  for k, shape in zip(keys, leaves):
    if len(shape) == 1:
      out.append(jnp.zeros(shape, jnp.float32))
    else:
      fan_in = int(np.prod(shape[:-1]))
      limit = float(np.sqrt(6.0 / fan_in))
      out.append(jax.random.uniform(k, shape, jnp.float32, -limit, limit))
  return jax.tree.unflatten(treedef, out)


# ----------------------------------------------------------------------------
# The ONNX file.

def from_onnx(graph: onnx_graph.Graph) -> Params:
  """The tower's parameters from NanoTrack's backbone graph (`onnx_graph.read`).

  The graph's Conv nodes, in order, are the stem and each block's expansion, depthwise
  and projection convolutions; its Gemm nodes the gates' dense layers. Each is checked
  against `tower_layout` (shape, group count, stride, padding), and the graph must use
  only the operations of this network.

  Raises:
    ValueError: naming the file and the first node or weight that differs.
  """
  known = {'Conv', 'Relu', 'HardSwish', 'HardSigmoid', 'GlobalAveragePool', 'Reshape', 'Gemm',
           'Mul', 'Add', 'Constant'}
  ops = [n for n in graph.nodes]
  other = sorted({n.op_type for n in ops} - known)
  if other:
    raise ValueError(f'{graph.path}: operations {other} are not in NanoTrack\'s backbone')
  convs = [n for n in ops if n.op_type == 'Conv']
  gemms = [n for n in ops if n.op_type == 'Gemm']
  layout = tower_layout()
  conv_slots, gemm_slots = [('stem', layout['stem'], 1, 2)], []
  for name, blk in zip(BLOCK_NAMES, BLOCKS):
    p = layout[name]
    if blk.expand:
      conv_slots.append((f'{name}/expand', p['expand'], 1, 1))
    conv_slots.append((f'{name}/depthwise', p['depthwise'], p['depthwise']['w'][-1], blk.stride))
    conv_slots.append((f'{name}/project', p['project'], 1, 1))
    if blk.se:
      gemm_slots += [(f'{name}/se1', p['se1']), (f'{name}/se2', p['se2'])]
  if len(convs) != len(conv_slots) or len(gemms) != len(gemm_slots):
    raise ValueError(f'{graph.path}: {len(convs)} convolutions and {len(gemms)} dense layers; '
                     f'NanoTrack\'s backbone has {len(conv_slots)} and {len(gemm_slots)}')

  def weight(node, index, what):
    name = node.inputs[index] if len(node.inputs) > index else ''
    if name not in graph.initializers:
      raise ValueError(f'{graph.path}: node {node.name or node.op_type} ({what}) has no stored '
                       f'weight {name!r}')
    return np.asarray(graph.initializers[name], np.float32)

  flat: dict[str, Params] = {}
  for node, (slot, shapes, groups, stride) in zip(convs, conv_slots):
    w = weight(node, 1, slot)  # (out, in / groups, kh, kw)
    b = weight(node, 2, slot)
    kh, kw, cin_g, cout = shapes['w']
    want = (cout, cin_g, kh, kw)
    pad = (kh - 1) // 2
    attrs = node.attrs
    if (w.shape != want or b.shape != shapes['b'] or attrs.get('group', 1) != groups
        or tuple(attrs.get('strides', (1, 1))) != (stride, stride)
        or tuple(attrs.get('pads', (0, 0, 0, 0))) != (pad,) * 4
        or tuple(attrs.get('dilations', (1, 1))) != (1, 1)):
      raise ValueError(f'{graph.path}: convolution {node.name or slot} is {w.shape} with '
                       f'{attrs}; NanoTrack\'s {slot} is {want}, group {groups}, stride '
                       f'{stride}, pads {pad}')
    flat[slot] = {'w': np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0))), 'b': b}
  for node, (slot, shapes) in zip(gemms, gemm_slots):
    w, b = weight(node, 1, slot), weight(node, 2, slot)  # (out, in) with transB
    cin, cout = shapes['w']
    if (w.shape != (cout, cin) or b.shape != (cout,) or node.attrs.get('transB') != 1
        or node.attrs.get('alpha', 1.0) != 1.0 or node.attrs.get('beta', 1.0) != 1.0):
      raise ValueError(f'{graph.path}: dense layer {node.name or slot} is {w.shape} with '
                       f'{node.attrs}; NanoTrack\'s {slot} is ({cout}, {cin}), transB 1')
    flat[slot] = {'w': np.ascontiguousarray(w.T), 'b': b}
  params: Params = {'stem': flat['stem']}
  for name in BLOCK_NAMES:
    params[name] = {k.split('/')[1]: v for k, v in flat.items() if k.startswith(name + '/')}
  return params


def pretrained_tower(path: str | os.PathLike) -> Params:
  """NanoTrack v2's backbone from its ONNX file, checked by SHA-256 (`SHA256`).

  No download: the file is at `SOURCE`; pass the path of a copy.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'NanoTrack backbone {path} not found (the file is {FILE_NAME} '
                            f'from {SOURCE})')
  digest = digests.sha256(path)
  if digest != SHA256:
    raise ValueError(f'{path} has SHA-256 {digest}, not NanoTrack v2\'s backbone ({SHA256}, '
                     f'{FILE_SIZE:,} bytes, from {SOURCE})')
  return from_onnx(onnx_graph.read(path))


# ----------------------------------------------------------------------------
# The forward pass (NHWC).

def hard_sigmoid(x):
  """ONNX HardSigmoid with alpha 1/6, beta 1/2: clip(x / 6 + 1/2, 0, 1)."""
  return jnp.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hard_swish(x):
  """x * HardSigmoid(x) (ONNX HardSwish)."""
  return x * hard_sigmoid(x)


def depthwise(x, p, stride=1):
  """A depthwise k x k convolution (one filter per channel, zero padding (k - 1) / 2).

  Written as k*k shifted (strided) slices times a per-channel weight, summed: XLA fuses them
  into one loop. As one grouped convolution (feature_group_count = channels), XLA's CPU
  backend ran the whole tower 5.6x slower (two 127x127 crops: 9.5 against 1.7 ms).
  """
  w = p['w'].astype(x.dtype)  # (k, k, 1, C)
  k = w.shape[0]
  n, h, wd, c = x.shape
  pad = (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  oh, ow = (h - 1) // stride + 1, (wd - 1) // stride + 1
  acc = None
  for i in range(k):
    for j in range(k):
      tap = lax.slice(xp, (0, i, j, 0), (n, i + (oh - 1) * stride + 1, j + (ow - 1) * stride + 1,
                                          c), (1, stride, stride, 1)) * w[i, j, 0]
      acc = tap if acc is None else acc + tap
  return acc + p['b'].astype(x.dtype)


def tower(params: Params, x, taps: tuple[str, ...] = ()):
  """The backbone from (N, H, W, 3) RGB input (0..255, float) to (N, ceil(H/16), ., 48).

  `taps`: names of activations to return as well ('stem', 'block1' .. 'block8').
  Returns (output, {tap: activation}). The Flax module `layers.NanoTrack`, applied.
  """
  from re3_jax.model import layers  # layers imports this module
  return layers.NanoTrack(tuple(taps)).apply({'params': params}, x)


def grid(size: int) -> tuple[int, ...]:
  """Side of the stem's and each block's output for a `size` input (4 stride-2 layers)."""
  sides, s = [], size
  s = (s - 1) // 2 + 1
  sides.append(s)
  for blk in BLOCKS:
    s = (s - 1) // blk.stride + 1
    sides.append(s)
  return tuple(sides)
