"""The ONNX reader (`model.onnx_graph`): tiny models written here in the protobuf wire format
(field numbers of onnx/onnx.proto), damaged files, and NanoTrack's real backbone."""

import struct

import numpy as np
import pytest

from re3_jax.model import onnx_graph


# A minimal protobuf writer, independent of the reader: varints and length-delimited fields.
def _varint(v: int) -> bytes:
  v &= (1 << 64) - 1
  out = bytearray()
  while True:
    b = v & 0x7F
    v >>= 7
    out.append(b | (0x80 if v else 0))
    if not v:
      return bytes(out)


def _key(field: int, wire: int) -> bytes:
  return _varint(field << 3 | wire)


def _int(field: int, v: int) -> bytes:
  return _key(field, 0) + _varint(v)


def _bytes(field: int, data: bytes) -> bytes:
  return _key(field, 2) + _varint(len(data)) + data


def _str(field: int, s: str) -> bytes:
  return _bytes(field, s.encode())


def _tensor(name, array, raw=True):
  array = np.asarray(array)
  dtype = {np.dtype('float32'): 1, np.dtype('int64'): 7}[array.dtype]
  msg = b''.join(_int(1, d) for d in array.shape) + _int(2, dtype) + _str(8, name)
  if raw:
    return msg + _bytes(9, array.astype(array.dtype.newbyteorder('<')).tobytes())
  if dtype == 1:  # packed float_data (field 4)
    return msg + _bytes(4, struct.pack(f'<{array.size}f', *array.ravel()))
  return msg + _bytes(7, b''.join(_varint(int(v)) for v in array.ravel()))  # packed int64_data


def _attr_ints(name, values):
  return _str(1, name) + _int(20, 7) + _bytes(8, b''.join(_varint(v) for v in values))


def _attr_int(name, value):
  return _str(1, name) + _int(20, 2) + _int(3, value)


def _attr_float(name, value):
  return _str(1, name) + _int(20, 1) + _key(2, 5) + struct.pack('<f', value)


def _node(op, inputs, outputs, attrs=(), name=''):
  return (b''.join(_str(1, i) for i in inputs) + b''.join(_str(2, o) for o in outputs)
          + _str(3, name) + _str(4, op) + b''.join(_bytes(5, a) for a in attrs))


def _value_info(name, dims):
  dim = b''.join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in dims)
  tensor_type = _int(1, 1) + _bytes(2, dim)
  return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def _model(nodes, inits, inputs, outputs, opset=14):
  graph = (b''.join(_bytes(1, n) for n in nodes) + _str(2, 'g')
           + b''.join(_bytes(5, t) for t in inits)
           + b''.join(_bytes(11, _value_info(n, d)) for n, d in inputs)
           + b''.join(_bytes(12, _value_info(n, d)) for n, d in outputs))
  return _int(1, 8) + _bytes(8, _str(1, '') + _int(2, opset)) + _bytes(7, graph)


W = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) / 7
B = np.array([0.5, -1.25], np.float32)


def _conv_model(raw=True):
  conv = _node('Conv', ['x', 'w', 'b'], ['y'], [_attr_ints('pads', [1, 1, 1, 1]),
                                               _attr_int('group', 1)], name='conv')
  act = _node('HardSigmoid', ['y'], ['z'], [_attr_float('alpha', 1 / 6)])
  return _model([conv, act], [_tensor('w', W, raw), _tensor('b', B, raw),
                              _tensor('shape', np.array([1, -1], np.int64), raw)],
                [('x', ['N', 3, 8, 8])], [('z', ['N', 2, 9, 9])])


@pytest.mark.parametrize('raw', [True, False], ids=['raw_data', 'typed_data'])
def test_reads_nodes_attributes_and_weights(tmp_path, raw):
  path = tmp_path / 'm.onnx'
  path.write_bytes(_conv_model(raw))
  g = onnx_graph.read(path)
  assert g.opset == 14
  assert [n.op_type for n in g.nodes] == ['Conv', 'HardSigmoid']
  conv = g.nodes[0]
  assert conv.name == 'conv' and conv.inputs == ('x', 'w', 'b') and conv.outputs == ('y',)
  assert conv.attrs == {'pads': (1, 1, 1, 1), 'group': 1}
  assert g.nodes[1].attrs['alpha'] == pytest.approx(1 / 6, rel=1e-7)  # stored as float32
  np.testing.assert_array_equal(g.initializers['w'], W)
  np.testing.assert_array_equal(g.initializers['b'], B)
  np.testing.assert_array_equal(g.initializers['shape'], [1, -1])  # negative int64 varints
  assert g.inputs == {'x': ('N', 3, 8, 8)} and g.outputs == {'z': ('N', 2, 9, 9)}


@pytest.mark.parametrize('cut', [1, 7, 50, -3])
def test_truncated_file_is_a_named_error(tmp_path, cut):
  data = _conv_model()
  path = tmp_path / 'cut.onnx'
  path.write_bytes(data[:cut])
  with pytest.raises(ValueError, match=f'{path}: not a readable ONNX model'):
    onnx_graph.read(path)


def test_bad_files_are_named_errors(tmp_path):
  cases = {
      'text.onnx': b'this is not a protobuf at all',
      'no_graph.onnx': _int(1, 8),
      'big.onnx': _model([], [_int(1, 1 << 20) + _int(1, 1 << 20) + _int(2, 1) + _str(8, 'huge')
                              + _bytes(9, b'\0' * 16)], [], []),
      'short.onnx': _model([], [_tensor('w', W)[:-8] + b''], [], []),
      'dtype.onnx': _model([], [_int(1, 2) + _int(2, 99) + _str(8, 'odd')], [], []),
  }
  expected = {'text.onnx': 'not a readable ONNX model', 'no_graph.onnx': 'no graph',
              'big.onnx': 'tensor huge declares', 'short.onnx': 'not a readable ONNX model',
              'dtype.onnx': 'tensor odd has data type 99'}
  for name, data in cases.items():
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError, match=expected[name]) as e:
      onnx_graph.read(path)
    assert str(path) in str(e.value)
  with pytest.raises(FileNotFoundError, match='absent.onnx'):
    onnx_graph.read(tmp_path / 'absent.onnx')


def test_nanotrack_backbone(nanotrack_backbone):
  """The real file: the graph its README describes (opset 14, one (1, 3, 255, 255) input, one
  (1, 48, 16, 16) output, 188,238 parameters in 24 convolutions)."""
  g = onnx_graph.read(nanotrack_backbone)
  assert g.opset == 14
  assert g.inputs == {'input': (1, 3, 255, 255)} and g.outputs == {'output': (1, 48, 16, 16)}
  ops = [n.op_type for n in g.nodes]
  assert ops.count('Conv') == 24 and ops.count('Gemm') == 12
  assert ops.count('GlobalAveragePool') == ops.count('HardSigmoid') == 6
  assert sum(a.size for a in g.initializers.values()) == 188_238
