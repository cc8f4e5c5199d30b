"""ONNX model files read as data: the graph's nodes, attributes and weights, without `onnx`.

An ONNX file is one protobuf message (`ModelProto`, onnx/onnx.proto). This module decodes
the protobuf wire format for the few fields a converter needs, by their field numbers in
that schema, and nothing else: no code in the file is run, unknown fields are skipped, and
every length is checked against the bytes that remain, so a truncated or damaged file is a
`ValueError` naming the file, never an out-of-range read or a huge allocation.

    graph = onnx_graph.read('backbone.onnx')
    graph.nodes[0].op_type, graph.nodes[0].inputs, graph.nodes[0].attrs
    graph.initializers['470']  # a NumPy array

Read: the graph's nodes (op type, inputs, outputs, attributes of the scalar, list and
tensor kinds), its initializers (dense tensors, raw or typed data, in the common numeric
types), `Constant` nodes' tensors, and the names and static shapes of its inputs and
outputs. Not read: external data, sparse tensors, sub-graphs, functions.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Any

import numpy as np

# TensorProto.DataType -> NumPy dtype (little-endian, as ONNX stores raw data).
_DTYPES = {1: '<f4', 2: 'u1', 3: 'i1', 4: '<u2', 5: '<i2', 6: '<i4', 7: '<i8', 9: '?',
           10: '<f2', 11: '<f8', 12: '<u4', 13: '<u8'}
# The typed-data field that holds each type when raw_data is absent (TensorProto).
_TYPED_FIELD = {1: 4, 6: 5, 2: 5, 3: 5, 4: 5, 5: 5, 9: 5, 10: 5, 7: 7, 11: 10, 12: 11, 13: 11}
# Bound on one tensor's declared size: the model files this reads are a few MB.
MAX_TENSOR_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class Node:
  op_type: str
  name: str
  inputs: tuple[str, ...]
  outputs: tuple[str, ...]
  attrs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Graph:
  """What `read` returns: nodes in the file's (topological) order, weights by name."""
  path: str
  nodes: tuple[Node, ...]
  initializers: dict[str, np.ndarray]
  inputs: dict[str, tuple[Any, ...]]   # name -> static shape (int, or str for a symbolic dim)
  outputs: dict[str, tuple[Any, ...]]
  opset: int


class _Damaged(ValueError):
  pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
  result = shift = 0
  while True:
    if pos >= len(buf):
      raise _Damaged('a number runs past the end of its message')
    b = buf[pos]
    pos += 1
    result |= (b & 0x7F) << shift
    if not b & 0x80:
      return result, pos
    shift += 7
    if shift > 63:
      raise _Damaged('a number is longer than 10 bytes')


def _fields(buf: memoryview):
  """Yields (field number, wire type, value) of one message; value is int or memoryview."""
  pos = 0
  while pos < len(buf):
    key, pos = _varint(buf, pos)
    field, wire = key >> 3, key & 7
    if field == 0:
      raise _Damaged('field number 0')
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire == 1:
      if pos + 8 > len(buf):
        raise _Damaged('a 64-bit value runs past the end of its message')
      value, pos = buf[pos:pos + 8], pos + 8
    elif wire == 2:
      n, pos = _varint(buf, pos)
      if pos + n > len(buf):
        raise _Damaged(f'a {n}-byte field runs past the end of its message')
      value, pos = buf[pos:pos + n], pos + n
    elif wire == 5:
      if pos + 4 > len(buf):
        raise _Damaged('a 32-bit value runs past the end of its message')
      value, pos = buf[pos:pos + 4], pos + 4
    else:
      raise _Damaged(f'wire type {wire} (groups or garbage)')
    yield field, wire, value


def _text(value) -> str:
  return bytes(value).decode('utf-8', errors='replace')


def _signed(v: int) -> int:
  return v - (1 << 64) if v >= 1 << 63 else v


def _packed_varints(wire, value) -> list[int]:
  if wire == 0:
    return [_signed(value)]
  out, pos = [], 0
  while pos < len(value):
    v, pos = _varint(value, pos)
    out.append(_signed(v))
  return out


def _packed_floats(wire, value, fmt='<f4') -> np.ndarray:
  if len(value) % np.dtype(fmt).itemsize:
    raise _Damaged('packed floats of a length that is not a whole number of values')
  return np.frombuffer(bytes(value), fmt)


def _tensor(buf: memoryview) -> tuple[str, np.ndarray]:
  dims, dtype, name, raw, typed = [], None, '', None, []
  typed_varints: list[int] = []
  for field, wire, value in _fields(buf):
    if field == 1:
      dims += _packed_varints(wire, value)
    elif field == 2:
      dtype = value
    elif field == 8:
      name = _text(value)
    elif field == 9:
      raw = bytes(value)
    elif field in (4, 10):  # float_data, double_data
      typed.append(_packed_floats(wire, value, '<f4' if field == 4 else '<f8')
                   if wire == 2 else np.frombuffer(bytes(value), '<f4' if wire == 5 else '<f8'))
    elif field in (5, 7, 11):  # int32_data, int64_data, uint64_data
      typed_varints += _packed_varints(wire, value)
    elif field == 14 and value == 1:
      raise _Damaged(f'tensor {name or "?"} keeps its data in an external file')
  if dtype not in _DTYPES:
    raise _Damaged(f'tensor {name or "?"} has data type {dtype}, not one this reader knows')
  if any(d < 0 for d in dims):
    raise _Damaged(f'tensor {name} has a negative dimension {dims}')
  count = int(np.prod(dims, dtype=np.int64)) if dims else 1
  np_dtype = np.dtype(_DTYPES[dtype])
  if count * np_dtype.itemsize > MAX_TENSOR_BYTES:
    raise _Damaged(f'tensor {name} declares {dims}, over {MAX_TENSOR_BYTES >> 20} MiB')
  if raw is not None:
    data = np.frombuffer(raw, np_dtype) if len(raw) % np_dtype.itemsize == 0 else None
  elif typed:
    data = np.concatenate(typed).astype(np_dtype)
  elif typed_varints:
    data = np.asarray(typed_varints, np.int64)
    data = (data.view(np.uint16)[::4].view(np.float16) if dtype == 10 else data).astype(np_dtype)
  else:
    data = np.zeros(0, np_dtype)
  if data is None or data.size != count:
    raise _Damaged(f'tensor {name} declares {dims} ({count} values of {np_dtype.name}) but '
                   f'holds {len(raw) if raw is not None else "a different number of"} '
                   f'{"bytes" if raw is not None else "values"}')
  return name, data.reshape(dims).copy()


def _attribute(buf: memoryview) -> tuple[str, Any]:
  name, kind = '', None
  scalar: dict[int, Any] = {}
  ints: list[int] = []
  floats: list[np.ndarray] = []
  strings: list[str] = []
  for field, wire, value in _fields(buf):
    if field == 1:
      name = _text(value)
    elif field == 20:
      kind = value
    elif field == 2:
      scalar[2] = struct.unpack('<f', bytes(value))[0]
    elif field == 3:
      scalar[3] = _signed(value)
    elif field == 4:
      scalar[4] = bytes(value)
    elif field == 5:
      scalar[5] = _tensor(value)[1]
    elif field == 7:
      floats.append(_packed_floats(wire, value) if wire == 2
                    else np.frombuffer(bytes(value), '<f4'))
    elif field == 8:
      ints += _packed_varints(wire, value)
    elif field == 9:
      strings.append(bytes(value).decode('utf-8', errors='replace'))
  # AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7, STRINGS 8.
  by_kind = {1: lambda: scalar.get(2, 0.0), 2: lambda: scalar.get(3, 0),
             3: lambda: scalar.get(4, b'').decode('utf-8', errors='replace'),
             4: lambda: scalar[5], 6: lambda: tuple(float(f) for a in floats for f in a),
             7: lambda: tuple(ints), 8: lambda: tuple(strings)}
  if kind not in by_kind or (kind == 4 and 5 not in scalar):
    raise _Damaged(f'attribute {name or "?"} is of type {kind}, not one this reader knows')
  return name, by_kind[kind]()


def _node(buf: memoryview) -> Node:
  inputs, outputs, attrs, name, op_type = [], [], {}, '', ''
  for field, _, value in _fields(buf):
    if field == 1:
      inputs.append(_text(value))
    elif field == 2:
      outputs.append(_text(value))
    elif field == 3:
      name = _text(value)
    elif field == 4:
      op_type = _text(value)
    elif field == 5:
      key, attr = _attribute(value)
      attrs[key] = attr
  if not op_type:
    raise _Damaged(f'node {name or "?"} has no op type')
  return Node(op_type, name, tuple(inputs), tuple(outputs), attrs)


def _value_info(buf: memoryview) -> tuple[str, tuple[Any, ...]]:
  name, dims = '', []
  for field, _, value in _fields(buf):
    if field == 1:
      name = _text(value)
    elif field == 2:  # TypeProto.tensor_type (1) -> shape (2) -> dim (1)
      for f1, _, tensor_type in _fields(value):
        if f1 != 1:
          continue
        for f2, _, shape in _fields(tensor_type):
          if f2 != 2:
            continue
          for f3, _, dim in _fields(shape):
            if f3 != 1:
              continue
            d: Any = '?'
            for f4, _, v in _fields(dim):
              d = _signed(v) if f4 == 1 else _text(v) if f4 == 2 else d
            dims.append(d)
  return name, tuple(dims)


def parse(data: bytes, path: str = '<bytes>') -> Graph:
  """Decodes an ONNX `ModelProto` held in `data`; errors name `path`."""
  try:
    buf = memoryview(data)
    graph_buf, opset = None, 0
    for field, _, value in _fields(buf):
      if field == 7:
        graph_buf = value
      elif field == 8:  # OperatorSetIdProto: domain 1, version 2 ('' or ai.onnx is the core set)
        domain, version = '', 0
        for f, _, v in _fields(value):
          domain, version = (_text(v), version) if f == 1 else (domain, v if f == 2 else version)
        if domain in ('', 'ai.onnx'):
          opset = version
    if graph_buf is None:
      raise _Damaged('no graph (not an ONNX model file)')
    nodes, inits, inputs, outputs = [], {}, {}, {}
    for field, _, value in _fields(graph_buf):
      if field == 1:
        nodes.append(_node(value))
      elif field == 5:
        name, array = _tensor(value)
        inits[name] = array
      elif field == 11:
        name, shape = _value_info(value)
        inputs[name] = shape
      elif field == 12:
        name, shape = _value_info(value)
        outputs[name] = shape
    for name in inits:
      inputs.pop(name, None)  # older exporters list initializers among the inputs
  except _Damaged as e:
    raise ValueError(f'{path}: not a readable ONNX model: {e}') from None
  return Graph(path, tuple(nodes), inits, inputs, outputs, opset)


def read(path: str | os.PathLike) -> Graph:
  """Reads the ONNX model file at `path` (see the module docstring for what is read)."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'ONNX model file {path} not found')
  with open(path, 'rb') as f:
    return parse(f.read(), path)
