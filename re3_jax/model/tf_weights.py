"""The official TensorFlow 1 checkpoints -> re3_jax parameters (both layouts; see
`official_weights`). TensorFlow is imported only to read a checkpoint file."""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Mapping

import numpy as np

from re3_jax import model
from re3_jax.model.weight_shapes import (
    abstract_shapes, as_float32, check_exists, check_shapes, CONVS, full_cell, full_gate_shapes,
    GATES, infer_config, LSTMS, Shape, SKIPS, width)

# TF variable names live under this scope.
TF_SCOPE = 're3/'
# Training state in TF checkpoints, ignored by the import.
TF_IGNORED_NAMES = ('global_step', 'beta1_power', 'beta2_power')
TF_IGNORED_SUFFIXES = ('/Adam', '/Adam_1')
# The files of a TF checkpoint: PREFIX.index, PREFIX.meta, PREFIX.data-00000-of-00001.
_TF_CHECKPOINT_FILE = re.compile(r'\.(index|meta|data-\d+-of-\d+)$')
_DIAGONAL_PARAMS = ('kernel', 'bias', 'w_f_diag', 'w_i_diag', 'w_o_diag')
# The paper layout's LSTM scope and the small layout's (TF LSTMCell under dynamic_rnn).
_FULL_SCOPE = 'rnn/LSTM'
_DIAGONAL_SCOPE = 'rnn/lstm_cell'
# params leaf -> TF variable name, for conv (and skip) layers and dense layers.
_TF_CONV_NAMES = {'w': 'W_conv', 'b': 'b_conv', 'prelu': 'prelu'}
_TF_DENSE_NAMES = {'w': 'W_fc', 'b': 'b_fc'}


def tf_variable_names_ignored(name: str) -> bool:
  """Whether a TF checkpoint variable is training state (Adam slots, step counters)."""
  base = name.rsplit('/', 1)[-1]
  return base in TF_IGNORED_NAMES or name.endswith(TF_IGNORED_SUFFIXES)


def tf_layout(names) -> str:
  """'full' (paper layout) or 'diagonal' (small layout), from the LSTM variable names."""
  full = any(n.startswith(f'{TF_SCOPE}lstm1/{_FULL_SCOPE}/') for n in names)
  diagonal = any(n.startswith(f'{TF_SCOPE}lstm1/{_DIAGONAL_SCOPE}/') for n in names)
  if full and diagonal:
    raise ValueError(f'the checkpoint holds both LSTM layouts ({TF_SCOPE}lstm1/{_FULL_SCOPE}/... '
                     f'and {TF_SCOPE}lstm1/{_DIAGONAL_SCOPE}/...)')
  if not (full or diagonal):
    raise ValueError(
        f'no LSTM variables under {TF_SCOPE}lstm1/{_FULL_SCOPE}/ (paper model) or '
        f'{TF_SCOPE}lstm1/{_DIAGONAL_SCOPE}/ (small model); is this a Re3 checkpoint? '
        f'found: {sorted(names)[:20]}')
  return 'full' if full else 'diagonal'


def tf_config_from_shapes(shapes: Mapping[str, Shape]) -> model.ModelConfig:
  """Infers the model config from TF variable shapes (training state already dropped)."""
  what = 'the TF checkpoint'
  peepholes = tf_layout(shapes)
  scoped = lambda layer, name: f'{TF_SCOPE}{layer}/{name}'
  conv = [width(shapes, [(scoped(c, 'b_conv'), 0, 1), (scoped(c, 'W_conv'), 3, 4)], what)
          for c in CONVS]
  skips = [width(shapes, [(scoped(c, 'b_conv'), 0, 1), (scoped(c, 'prelu'), 0, 1),
                           (scoped(c, 'W_conv'), 3, 4)], what) for c in SKIPS]
  fc6 = width(shapes, [(scoped('fc6', 'b_fc'), 0, 1), (scoped('fc6', 'W_fc'), 1, 2)], what)
  if peepholes == 'diagonal':
    vectors = [scoped(c, f'{_DIAGONAL_SCOPE}/{p}') for c in LSTMS for p in _DIAGONAL_PARAMS[2:]]
  else:
    vectors = [scoped(c, f'{_FULL_SCOPE}/{g}/biases') for c in LSTMS for g in GATES]
  units = width(shapes, [(v, 0, 1) for v in vectors] + [(scoped('fc_output', 'W_fc'), 0, 2)],
                 what)
  return infer_config(conv, skips, fc6, units, peepholes)


def _tf_name(layer: str, param: str) -> str:
  """The TF variable of params[layer][param] (not for the paper cell, see `full_cell`)."""
  if layer in CONVS or layer in SKIPS:
    return f'{TF_SCOPE}{layer}/{_TF_CONV_NAMES[param]}'
  if layer in ('fc6', 'fc_output'):
    return f'{TF_SCOPE}{layer}/{_TF_DENSE_NAMES[param]}'
  return f'{TF_SCOPE}{layer}/{_DIAGONAL_SCOPE}/{param}'


def _direct_leaves(config: model.ModelConfig) -> dict[tuple[str, str], Shape]:
  """(layer, param) -> shape of the leaves stored as they are in TF (all but the paper cell)."""
  return {k: shape for k, shape in abstract_shapes(config).items()
          if not (k[0] in LSTMS and config.peepholes == 'full')}


def tf_variable_shapes(config: model.ModelConfig) -> dict[str, Shape]:
  """TF variable name -> shape of a checkpoint of `config` (reference section 5)."""
  shapes = {_tf_name(*k): shape for k, shape in _direct_leaves(config).items()}
  if config.peepholes == 'full':
    for layer in LSTMS:
      for gate, (w, b) in full_gate_shapes(config, layer).items():
        shapes[f'{TF_SCOPE}{layer}/{_FULL_SCOPE}/{gate}/weights'] = w
        shapes[f'{TF_SCOPE}{layer}/{_FULL_SCOPE}/{gate}/biases'] = b
  return shapes


def _params_from_tf(shapes: Mapping[str, Shape], get: Callable[[str], Any],
                    what: str) -> tuple[model.Params, model.ModelConfig]:
  """Checks TF variable shapes, then maps the variables (read by `get`) to params."""
  shapes = {n: tuple(int(d) for d in s) for n, s in shapes.items()
            if not tf_variable_names_ignored(n)}
  config = tf_config_from_shapes(shapes)
  check_shapes(shapes, tf_variable_shapes(config), what, config)
  read = lambda name: as_float32(get(name), name)
  params = {}
  for layer, param in _direct_leaves(config):
    params.setdefault(layer, {})[param] = read(_tf_name(layer, param))
  if config.peepholes == 'full':
    for layer in LSTMS:
      scope = f'{TF_SCOPE}{layer}/{_FULL_SCOPE}'
      params[layer] = full_cell({g: (read(f'{scope}/{g}/weights'), read(f'{scope}/{g}/biases'))
                                  for g in GATES})
  return params, config




def params_from_tf_variables(variables: Mapping[str, Any]) -> tuple[model.Params,
                                                                      model.ModelConfig]:
  """Converts TF variables (name -> array, names as in reference section 5).

  Training state (Adam slots, ``beta1_power``, ``beta2_power``,
  ``global_step``) is ignored.

  Returns:
    (params, config): a float32 NumPy parameter pytree and its inferred config.

  Raises:
    ValueError: a missing, unexpected or mis-shaped variable (named, with both
      shapes), or no recognisable LSTM layout.
  """
  return _params_from_tf({n: np.shape(v) for n, v in variables.items()},
                         lambda n: variables[n], 'the TF variables')


def _import_tensorflow():
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('reading a TensorFlow checkpoint needs TensorFlow: '
                      'pip install "re3_jax[convert]" (or pip install tensorflow)') from e
  return tf


def from_tf_checkpoint(path: str | os.PathLike) -> tuple[model.Params, model.ModelConfig]:
  """Reads and converts a TF1 checkpoint of the official Re3 tracker.

  Args:
    path: a checkpoint prefix (``.../model.ckpt-123``), one of its files
      (``.index``, ``.meta``, ``.data-00000-of-00001``: the prefix is used), or
      a directory whose ``checkpoint`` file names the latest checkpoint.

  Returns:
    (params, config), as `params_from_tf_variables`.

  Raises:
    ImportError: TensorFlow is not installed.
    FileNotFoundError: `path` does not exist.
    ValueError: `path` is not a TF checkpoint, or its variables do not make a
      Re3 model (the message names them).
  """
  path = _TF_CHECKPOINT_FILE.sub('', os.fspath(path))
  check_exists(path, allow_prefix=True)
  tf = _import_tensorflow()
  try:
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
  except (ValueError, tf.errors.OpError) as e:
    raise ValueError(f'{path} is not a TensorFlow checkpoint (give a prefix such as '
                     f'model.ckpt-123, or the directory holding its "checkpoint" file): '
                     f'{str(e).splitlines()[0] if str(e) else type(e).__name__}') from e
  return _params_from_tf(shapes, reader.get_tensor, f'the TF checkpoint {path}')

