r"""Imports the official Re3 weights into a re3_jax checkpoint.

Command line::

  python -m re3_jax.convert --source=PATH --format=tf|pytorch --out=DIR

Two sources (reference section 5):

* ``tf``: a TensorFlow 1 checkpoint of the official tracker (a checkpoint
  prefix such as ``logs/checkpoints/model.ckpt-260946``, one of its files,
  or the directory holding it and its ``checkpoint`` file). Both layouts are read: the paper
  model (full-matrix peephole LSTMs ``lstm{1,2}/rnn/LSTM/{block_input,
  input_gate,forget_gate,output_gate}/{weights,biases}``) and the small model
  that the official code offers for download today (TF ``LSTMCell`` with
  diagonal peepholes, ``lstm{1,2}/rnn/lstm_cell/{kernel,bias,w_*_diag}``).
  Adam slots, ``beta1_power``, ``beta2_power`` and ``global_step`` are ignored.
* ``pytorch``: the official PyTorch port's state_dict of the paper model
  (``.pt``/``.pth``), whose dense weights are [out, in] and conv weights
  [out, in/groups, kh, kw].

The model config is inferred from the shapes: the paper and small models get
the named configs ``model.CONFIGS['paper']`` / ``['small']``; other widths
(e.g. reduced-size test checkpoints) get a `model.ModelConfig` with the same
structure and the widths found. TF's ``LSTMCell`` adds its forget bias 1.0 at
run time (it is not in the stored bias): the converted config keeps
``forget_bias=1.0`` and the bias as stored, so ``lstm.cell_step`` performs TF's
own sum ``f + 1 + w_f_diag * c_prev``. The paper cell stores its forget bias in
the bias (``forget_bias=0.0``).

Every variable is checked: a missing, unexpected or mis-shaped one is an error
that names it (and both shapes). TensorFlow and PyTorch are imported only when
reading their files, so this module imports without them.

The output is a `checkpoints.save_params` directory (``config.json`` and
``params/``), which ``Re3Tracker.from_checkpoint(DIR)`` and
``checkpoints.load_params(DIR)`` restore.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any, Callable, Mapping

import numpy as np

from re3_jax import model
from re3_jax.model import lstm

FORMATS = ('tf', 'pytorch')

# TF variable names live under this scope.
TF_SCOPE = 're3/'
# Training state in TF checkpoints, ignored by the import.
TF_IGNORED_NAMES = ('global_step', 'beta1_power', 'beta2_power')
TF_IGNORED_SUFFIXES = ('/Adam', '/Adam_1')

_CONVS = ('conv1', 'conv2', 'conv3', 'conv4', 'conv5')
_SKIPS = ('conv1_skip', 'conv2_skip', 'conv5_skip')
_LSTMS = ('lstm1', 'lstm2')
_GATES = ('block_input', 'input_gate', 'forget_gate', 'output_gate')
_DIAGONAL_PARAMS = ('kernel', 'bias', 'w_f_diag', 'w_i_diag', 'w_o_diag')
# The paper layout's LSTM scope and the small layout's (TF LSTMCell under dynamic_rnn).
_FULL_SCOPE = 'rnn/LSTM'
_DIAGONAL_SCOPE = 'rnn/lstm_cell'
# params leaf -> TF variable name, for conv (and skip) layers and dense layers.
_TF_CONV_NAMES = {'w': 'W_conv', 'b': 'b_conv', 'prelu': 'prelu'}
_TF_DENSE_NAMES = {'w': 'W_fc', 'b': 'b_fc'}
# PyTorch port: module lists indexed like the conv tower and the skips.
_TORCH_SKIP_INDEX = {'conv1_skip': 0, 'conv2_skip': 1, 'conv5_skip': 2}

# The files of a TF checkpoint: PREFIX.index, PREFIX.meta, PREFIX.data-00000-of-00001.
_TF_CHECKPOINT_FILE = re.compile(r'\.(index|meta|data-\d+-of-\d+)$')

Shape = tuple[int, ...]


# ----------------------------------------------------------------------------
# Checks shared by both formats.

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
        f'{what} does not match a Re3 model (widths inferred: {_describe(config)}):\n  '
        + '\n  '.join(problems))


def _describe(config: model.ModelConfig) -> str:
  return (f'config {config.name!r}, conv {list(config.conv_channels)}, '
          f'skips {list(config.skip_channels)}, fc6 {config.fc6_units}, '
          f'lstm {config.lstm_units}, {config.peepholes} peepholes')


def _width(shapes: Mapping[str, Shape], candidates, what: str) -> int:
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


def _abstract_shapes(config: model.ModelConfig) -> dict[tuple[str, str], Shape]:
  """(layer, param) -> shape of `model.init(..., config)`."""
  params = model.abstract_params(config)
  return {(layer, name): tuple(leaf.shape) for layer, group in params.items()
          for name, leaf in group.items()}


def _full_gate_shapes(config: model.ModelConfig, layer: str) -> dict[str, tuple[Shape, Shape]]:
  """The paper cell's gate -> (weights [in, H], biases [H]), in TF's [in, out] layout."""
  units = config.lstm_units
  in_dim = config.fc6_units + (units if layer == 'lstm2' else 0)
  return {gate: ((in_dim + units if gate == 'block_input' else in_dim + 2 * units, units),
                 (units,))
          for gate in _GATES}


def _as_float32(x, name: str) -> np.ndarray:
  x = np.asarray(x)
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f'{name} has dtype {x.dtype}, expected floating point weights')
  return x.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------
# TensorFlow.

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
  conv = [_width(shapes, [(scoped(c, 'b_conv'), 0, 1), (scoped(c, 'W_conv'), 3, 4)], what)
          for c in _CONVS]
  skips = [_width(shapes, [(scoped(c, 'b_conv'), 0, 1), (scoped(c, 'prelu'), 0, 1),
                           (scoped(c, 'W_conv'), 3, 4)], what) for c in _SKIPS]
  fc6 = _width(shapes, [(scoped('fc6', 'b_fc'), 0, 1), (scoped('fc6', 'W_fc'), 1, 2)], what)
  if peepholes == 'diagonal':
    vectors = [scoped(c, f'{_DIAGONAL_SCOPE}/{p}') for c in _LSTMS for p in _DIAGONAL_PARAMS[2:]]
  else:
    vectors = [scoped(c, f'{_FULL_SCOPE}/{g}/biases') for c in _LSTMS for g in _GATES]
  units = _width(shapes, [(v, 0, 1) for v in vectors] + [(scoped('fc_output', 'W_fc'), 0, 2)],
                 what)
  return infer_config(conv, skips, fc6, units, peepholes)


def _tf_name(layer: str, param: str) -> str:
  """The TF variable of params[layer][param] (not for the paper cell, see `_full_cell`)."""
  if layer in _CONVS or layer in _SKIPS:
    return f'{TF_SCOPE}{layer}/{_TF_CONV_NAMES[param]}'
  if layer in ('fc6', 'fc_output'):
    return f'{TF_SCOPE}{layer}/{_TF_DENSE_NAMES[param]}'
  return f'{TF_SCOPE}{layer}/{_DIAGONAL_SCOPE}/{param}'


def _direct_leaves(config: model.ModelConfig) -> dict[tuple[str, str], Shape]:
  """(layer, param) -> shape of the leaves stored as they are in TF (all but the paper cell)."""
  return {k: shape for k, shape in _abstract_shapes(config).items()
          if not (k[0] in _LSTMS and config.peepholes == 'full')}


def tf_variable_shapes(config: model.ModelConfig) -> dict[str, Shape]:
  """TF variable name -> shape of a checkpoint of `config` (reference section 5)."""
  shapes = {_tf_name(*k): shape for k, shape in _direct_leaves(config).items()}
  if config.peepholes == 'full':
    for layer in _LSTMS:
      for gate, (w, b) in _full_gate_shapes(config, layer).items():
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
  read = lambda name: _as_float32(get(name), name)
  params = {}
  for layer, param in _direct_leaves(config):
    params.setdefault(layer, {})[param] = read(_tf_name(layer, param))
  if config.peepholes == 'full':
    for layer in _LSTMS:
      scope = f'{TF_SCOPE}{layer}/{_FULL_SCOPE}'
      params[layer] = _full_cell({g: (read(f'{scope}/{g}/weights'), read(f'{scope}/{g}/biases'))
                                  for g in _GATES})
  return params, config


def _full_cell(gates: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict:
  """The paper cell's four (weights [in, H], biases [H]) -> the 'full' cell layout."""
  cell = lstm.full_cell_from_gates(*gates['block_input'], *gates['input_gate'],
                                   *gates['forget_gate'], *gates['output_gate'])
  return {k: np.asarray(v, np.float32) for k, v in cell.items()}


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
  _check_exists(path, allow_prefix=True)
  tf = _import_tensorflow()
  try:
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
  except (ValueError, tf.errors.OpError) as e:
    raise ValueError(f'{path} is not a TensorFlow checkpoint (give a prefix such as '
                     f'model.ckpt-123, or the directory holding its "checkpoint" file): '
                     f'{str(e).splitlines()[0] if str(e) else type(e).__name__}') from e
  return _params_from_tf(shapes, reader.get_tensor, f'the TF checkpoint {path}')


def _check_exists(path: str, allow_prefix: bool = False) -> None:
  p = pathlib.Path(path)
  if p.exists() or (allow_prefix and pathlib.Path(path + '.index').exists()):
    return
  raise FileNotFoundError(f'no checkpoint at {path}')


# ----------------------------------------------------------------------------
# PyTorch.

def pytorch_key_shapes(config: model.ModelConfig) -> dict[str, Shape]:
  """state_dict key -> shape of the official PyTorch port's paper model of `config`."""
  if config.peepholes != 'full':
    raise ValueError('the PyTorch port\'s layout exists for the paper model (full peepholes) '
                     f'only, not for {config.name!r}')
  shapes = {}
  for (layer, param), shape in _abstract_shapes(config).items():
    if layer in _CONVS:
      key = f'conv.{_CONVS.index(layer)}'
    elif layer in _SKIPS:
      key = f'conv_skip.{_TORCH_SKIP_INDEX[layer]}'
    elif layer in ('fc6', 'fc_output'):
      key = 'fc6' if layer == 'fc6' else 'fc_output_out'
    else:
      continue
    if param == 'prelu':
      shapes[f'prelu_skip.{_TORCH_SKIP_INDEX[layer]}.weight'] = shape
    elif param == 'b':
      shapes[f'{key}.bias'] = shape
    elif len(shape) == 4:  # HWIO -> OIHW
      shapes[f'{key}.weight'] = (shape[3], shape[2], shape[0], shape[1])
    else:
      shapes[f'{key}.weight'] = shape[::-1]
  for layer in _LSTMS:
    for gate, (w, b) in _full_gate_shapes(config, layer).items():
      shapes[f'{layer}.{gate}.weight'] = w[::-1]
      shapes[f'{layer}.{gate}.bias'] = b
  return shapes


def pytorch_config_from_shapes(shapes: Mapping[str, Shape]) -> model.ModelConfig:
  """Infers the model config from the PyTorch port's state_dict shapes."""
  what = 'the PyTorch state_dict'
  conv = [_width(shapes, [(f'conv.{i}.bias', 0, 1), (f'conv.{i}.weight', 0, 4)], what)
          for i in range(5)]
  skips = [_width(shapes, [(f'conv_skip.{i}.bias', 0, 1), (f'prelu_skip.{i}.weight', 0, 1),
                           (f'conv_skip.{i}.weight', 0, 4)], what) for i in range(3)]
  fc6 = _width(shapes, [('fc6.bias', 0, 1), ('fc6.weight', 0, 2)], what)
  units = _width(shapes, [(f'{c}.{g}.bias', 0, 1) for c in _LSTMS for g in _GATES]
                 + [('fc_output_out.weight', 1, 2)], what)
  return infer_config(conv, skips, fc6, units, 'full')


def _to_numpy(value, key: str) -> np.ndarray:
  if hasattr(value, 'detach'):  # a torch tensor
    value = value.detach().cpu().float().numpy()
  return _as_float32(value, key)


def params_from_pytorch_state_dict(state_dict: Mapping[str, Any]) -> tuple[model.Params,
                                                                           model.ModelConfig]:
  """Converts the PyTorch port's paper-model state_dict (key -> tensor or array).

  Dense weights [out, in] are transposed to [in, out]; conv weights
  [out, in/groups, kh, kw] to [kh, kw, in/groups, out].

  Returns:
    (params, config): a float32 NumPy parameter pytree and its inferred config.

  Raises:
    ValueError: a missing, unexpected or mis-shaped entry (named, with both
      shapes).
  """
  shapes = {k: tuple(int(d) for d in v.shape) for k, v in state_dict.items()}
  config = pytorch_config_from_shapes(shapes)
  check_shapes(shapes, pytorch_key_shapes(config), 'the PyTorch state_dict', config)
  read = lambda key: _to_numpy(state_dict[key], key)
  conv = lambda key: np.ascontiguousarray(read(key).transpose(2, 3, 1, 0))  # OIHW -> HWIO
  dense = lambda key: np.ascontiguousarray(read(key).T)
  params = {}
  for i, layer in enumerate(_CONVS):
    params[layer] = {'w': conv(f'conv.{i}.weight'), 'b': read(f'conv.{i}.bias')}
  for layer, i in _TORCH_SKIP_INDEX.items():
    params[layer] = {'w': conv(f'conv_skip.{i}.weight'), 'b': read(f'conv_skip.{i}.bias'),
                     'prelu': read(f'prelu_skip.{i}.weight')}
  params['fc6'] = {'w': dense('fc6.weight'), 'b': read('fc6.bias')}
  params['fc_output'] = {'w': dense('fc_output_out.weight'), 'b': read('fc_output_out.bias')}
  for layer in _LSTMS:
    params[layer] = _full_cell({g: (dense(f'{layer}.{g}.weight'), read(f'{layer}.{g}.bias'))
                                for g in _GATES})
  return params, config


def from_pytorch_state_dict(path_or_dict) -> tuple[model.Params, model.ModelConfig]:
  """Reads (``torch.load``, weights only, on the CPU) and converts the PyTorch port's weights.

  Args:
    path_or_dict: a ``.pt``/``.pth`` file holding the state_dict, or the
      state_dict itself (key -> tensor or NumPy array; no torch needed then).

  Returns:
    (params, config), as `params_from_pytorch_state_dict`.

  Raises:
    ImportError: reading a file needs torch, which is not installed.
    FileNotFoundError: no such file.
    ValueError: the file is not a state_dict, or its entries do not make the
      paper model (named).
  """
  if isinstance(path_or_dict, Mapping):
    return params_from_pytorch_state_dict(path_or_dict)
  path = os.fspath(path_or_dict)
  _check_exists(path)
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('reading a PyTorch state_dict needs torch (the CPU build is enough): '
                      'pip install torch --index-url https://download.pytorch.org/whl/cpu') from e
  try:
    state_dict = torch.load(path, map_location='cpu', weights_only=True)
  except Exception as e:  # torch raises many types (pickle, zip, runtime) for a bad file.
    raise ValueError(f'{path} is not a PyTorch state_dict file: {e}') from e
  if not isinstance(state_dict, Mapping) or not all(
      hasattr(v, 'shape') for v in state_dict.values()):
    raise ValueError(f'{path} holds a {type(state_dict).__name__}, not a state_dict '
                     '(a mapping of names to tensors)')
  return params_from_pytorch_state_dict(state_dict)


# ----------------------------------------------------------------------------
# Both, and the command line.

def load(source: str | os.PathLike, format: str):  # pylint: disable=redefined-builtin
  """Reads and converts `source` in `format` ('tf' or 'pytorch'): (params, config)."""
  if format == 'tf':
    return from_tf_checkpoint(source)
  if format == 'pytorch':
    return from_pytorch_state_dict(source)
  raise ValueError(f'unknown format {format!r}; known: {list(FORMATS)}')


def convert(source: str | os.PathLike, format: str,  # pylint: disable=redefined-builtin
            out: str | os.PathLike) -> tuple[pathlib.Path, model.ModelConfig]:
  """Converts official weights to a re3_jax parameters checkpoint.

  Args:
    source: the TF checkpoint (prefix or directory) or the PyTorch state_dict file.
    format: 'tf' or 'pytorch'.
    out: the output directory; it must not hold a checkpoint already.

  Returns:
    (the output directory's absolute path, the model config stored with it).
  """
  if format not in FORMATS:
    raise ValueError(f'unknown format {format!r}; known: {list(FORMATS)}')
  from re3_jax.model import checkpoints  # pylint: disable=g-import-not-at-top  (orbax)
  out = pathlib.Path(out).absolute()
  if (out / checkpoints.PARAMS_DIR).exists() or (out / checkpoints.CONFIG_FILE).exists():
    raise FileExistsError(f'{out} already holds a checkpoint; choose another --out')
  params, config = load(source, format)
  return checkpoints.save_params(out, params, config), config


def main(argv):
  """The command line; its flags are defined below, only when run as a program."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.quiet_library_logs()
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  out, config = convert(_SOURCE.value, _FORMAT.value, _OUT.value)
  print(f'converted {_SOURCE.value} ({_FORMAT.value}) -> {out}\n'
        f'model: {_describe(config)}; {model.count_params(model.abstract_params(config)):,} '
        'parameters')


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  from re3_jax import cli  # pylint: disable=g-import-not-at-top
  _SOURCE = flags.DEFINE_string('source', None, 'TF checkpoint (prefix or directory) or '
                                'PyTorch state_dict file.')
  _FORMAT = flags.DEFINE_enum('format', None, list(FORMATS), 'Format of --source.')
  _OUT = flags.DEFINE_string('out', None, 'Output directory (a re3_jax parameters checkpoint).')
  flags.mark_flags_as_required(['source', 'format', 'out'])
  app.run(main)
