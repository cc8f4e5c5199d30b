"""What the official-weights import checks, for both formats: the variable layout's names
and shapes, the model config inferred from them (`infer_config`), and `check_shapes`,
whose error names every missing, unexpected or mis-shaped variable; and the check every
loader and exporter of re3_jax parameters shares (`check_params`, naming leaves by
`leaf_name`)."""

from __future__ import annotations

import pathlib
from typing import Mapping

import jax
import numpy as np

from re3_jax import model
from re3_jax.model import lstm
from re3_jax.model import towers

CONVS = ('conv1', 'conv2', 'conv3', 'conv4', 'conv5')
SKIPS = ('conv1_skip', 'conv2_skip', 'conv5_skip')
LSTMS = ('lstm1', 'lstm2')
GATES = ('block_input', 'input_gate', 'forget_gate', 'output_gate')

Shape = tuple[int, ...]


def _fmt(shape) -> str:
  return '[' + ', '.join(str(int(d)) for d in shape) + ']'


def check_shapes(found: Mapping[str, Shape], expected: Mapping[str, Shape], what: str,
                 config: model.ModelConfig) -> None:
  """Raises ValueError naming every missing, unexpected or mis-shaped entry.

  Args:
    found: name -> shape, as read from the source.
    expected: name -> shape, as `config` needs them.
    what: how to name the source in the message.
    config: the (inferred) model config, named in the message.
  """
  problems = []
  for name in sorted(set(expected) - set(found)):
    problems.append(f'missing {name} (expected shape {_fmt(expected[name])})')
  for name in sorted(set(found) - set(expected)):
    problems.append(f'unexpected {name} (shape {_fmt(found[name])})')
  for name in sorted(set(found) & set(expected)):
    if tuple(found[name]) != tuple(expected[name]):
      problems.append(f'{name} has shape {_fmt(found[name])} but {_fmt(expected[name])} '
                      'is expected')
  if problems:
    raise ValueError(
        f'{what} does not match a Re3 model (widths inferred: {describe(config)}):\n  '
        + '\n  '.join(problems))


def leaf_name(path) -> str:
  """A parameter's tree path as the weights name it: ``fc6/w``."""
  return jax.tree_util.keystr(path, simple=True, separator='/')


def check_params(tree, config: model.ModelConfig, what: str) -> None:
  """Raises ValueError unless `tree` (arrays or shape structs) has `config`'s parameters.

  The message names `what`, the missing and unexpected leaves, or the first
  leaf of another shape.
  """
  flat_exp = {leaf_name(p): leaf for p, leaf in
              jax.tree_util.tree_flatten_with_path(model.abstract_params(config))[0]}
  flat_got = {leaf_name(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
  missing = sorted(set(flat_exp) - set(flat_got))
  extra = sorted(set(flat_got) - set(flat_exp))
  if missing or extra:
    raise ValueError(f'{what} do not match model config {config.name!r}: '
                     f'missing {missing or "none"}, unexpected {extra or "none"}')
  for name, leaf in flat_exp.items():
    shape = tuple(flat_got[name].shape)
    if shape != tuple(leaf.shape):
      raise ValueError(f'{what}: {name} has shape {shape} but model config '
                       f'{config.name!r} needs {tuple(leaf.shape)}')


def describe(config: model.ModelConfig) -> str:
  tower = towers.get(config.tower).describe(config)
  return (f'config {config.name!r}, {tower}, '
          f'skips {list(config.skip_channels)}, fc6 {config.fc6_units}, '
          f'lstm {config.lstm_units}, {config.peepholes} peepholes')


def width(shapes: Mapping[str, Shape], candidates, what: str) -> int:
  """One layer width, read from the entries that carry it (a vote).

  Args:
    shapes: name -> shape.
    candidates: (name, axis, ndim) tuples: ``shapes[name][axis]`` is the width
      when `name` has `ndim` dimensions. Biases are listed first.
    what: how to name the source in the message.

  Returns:
    The value most candidates agree on (ties: the first listed), so that one
    mis-shaped entry is reported as such instead of changing the inferred model.
  """
  votes = [shapes[name][axis] for name, axis, ndim in candidates
           if name in shapes and len(shapes[name]) == ndim]
  if not votes:
    names = ', '.join(name for name, _, _ in candidates)
    raise ValueError(f'{what} has none of {names}, which give a layer width of a Re3 model '
                     f'(found: {sorted(shapes)[:20]})')
  return max(dict.fromkeys(votes), key=votes.count)


def infer_config(conv_channels, skip_channels, fc6_units: int, lstm_units: int,
                 peepholes: str) -> model.ModelConfig:
  """The named config with these widths ('paper' or 'small'), else a custom one.

  The structure (and forget-bias convention) follows the LSTM cell: 'full'
  peepholes are the paper model's cell, 'diagonal' the small model's TF
  LSTMCell.
  """
  base = model.get_config('paper' if peepholes == 'full' else 'small')
  try:
    config = base.replace(conv_channels=tuple(conv_channels), skip_channels=tuple(skip_channels),
                          fc6_units=int(fc6_units), lstm_units=int(lstm_units))
  except ValueError as e:
    raise ValueError(f'the checkpoint\'s layer widths do not describe a Re3 model: {e}') from e
  if config == base:
    return config
  return config.replace(name=f'{base.name}_custom')


def abstract_shapes(config: model.ModelConfig) -> dict[tuple[str, str], Shape]:
  """(layer, param) -> shape of `model.init(..., config)`."""
  params = model.abstract_params(config)
  return {(layer, name): tuple(leaf.shape) for layer, group in params.items()
          for name, leaf in group.items()}


def full_gate_shapes(config: model.ModelConfig, layer: str) -> dict[str, tuple[Shape, Shape]]:
  """The paper cell's gate -> (weights [in, H], biases [H]), in TF's [in, out] layout."""
  units = config.lstm_units
  in_dim = config.fc6_units + (units if layer == 'lstm2' else 0)
  return {gate: ((in_dim + units if gate == 'block_input' else in_dim + 2 * units, units),
                 (units,))
          for gate in GATES}


def as_float32(x, name: str) -> np.ndarray:
  x = np.asarray(x)
  if not jax.numpy.issubdtype(x.dtype, np.floating):  # NumPy's and ml_dtypes' (bfloat16)
    raise ValueError(f'{name} has dtype {x.dtype}, expected floating point weights')
  return x.astype(np.float32, copy=False)


def full_cell(gates: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict:
  """The paper cell's four (weights [in, H], biases [H]) -> the 'full' cell layout."""
  cell = lstm.full_cell_from_gates(*gates['block_input'], *gates['input_gate'],
                                   *gates['forget_gate'], *gates['output_gate'])
  return {k: np.asarray(v, np.float32) for k, v in cell.items()}


def check_exists(path: str, allow_prefix: bool = False) -> None:
  p = pathlib.Path(path)
  if p.exists() or (allow_prefix and pathlib.Path(path + '.index').exists()):
    return
  raise FileNotFoundError(f'no checkpoint at {path}')
