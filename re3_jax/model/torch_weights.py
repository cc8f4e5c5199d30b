"""The official PyTorch port's paper-model state_dict -> re3_jax parameters (see
`official_weights`). A ``.pt`` file is read by `torch_files`, without torch."""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from re3_jax import model
from re3_jax.model import torch_files
from re3_jax.model.weight_shapes import (
    abstract_shapes, as_float32, check_exists, check_shapes, CONVS, full_cell, full_gate_shapes,
    GATES, infer_config, LSTMS, Shape, SKIPS, width)

# PyTorch port: module lists indexed like the conv tower and the skips.
_TORCH_SKIP_INDEX = {'conv1_skip': 0, 'conv2_skip': 1, 'conv5_skip': 2}


def pytorch_key_shapes(config: model.ModelConfig) -> dict[str, Shape]:
  """state_dict key -> shape of the official PyTorch port's paper model of `config`."""
  if config.peepholes != 'full':
    raise ValueError('the PyTorch port\'s layout exists for the paper model (full peepholes) '
                     f'only, not for {config.name!r}')
  shapes = {}
  for (layer, param), shape in abstract_shapes(config).items():
    if layer in CONVS:
      key = f'conv.{CONVS.index(layer)}'
    elif layer in SKIPS:
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
  for layer in LSTMS:
    for gate, (w, b) in full_gate_shapes(config, layer).items():
      shapes[f'{layer}.{gate}.weight'] = w[::-1]
      shapes[f'{layer}.{gate}.bias'] = b
  return shapes


def pytorch_config_from_shapes(shapes: Mapping[str, Shape]) -> model.ModelConfig:
  """Infers the model config from the PyTorch port's state_dict shapes."""
  what = 'the PyTorch state_dict'
  conv = [width(shapes, [(f'conv.{i}.bias', 0, 1), (f'conv.{i}.weight', 0, 4)], what)
          for i in range(5)]
  skips = [width(shapes, [(f'conv_skip.{i}.bias', 0, 1), (f'prelu_skip.{i}.weight', 0, 1),
                           (f'conv_skip.{i}.weight', 0, 4)], what) for i in range(3)]
  fc6 = width(shapes, [('fc6.bias', 0, 1), ('fc6.weight', 0, 2)], what)
  units = width(shapes, [(f'{c}.{g}.bias', 0, 1) for c in LSTMS for g in GATES]
                 + [('fc_output_out.weight', 1, 2)], what)
  return infer_config(conv, skips, fc6, units, 'full')


def _to_numpy(value, key: str) -> np.ndarray:
  if hasattr(value, 'detach'):  # a torch tensor
    value = value.detach().cpu().float().numpy()
  return as_float32(value, key)


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
  for i, layer in enumerate(CONVS):
    params[layer] = {'w': conv(f'conv.{i}.weight'), 'b': read(f'conv.{i}.bias')}
  for layer, i in _TORCH_SKIP_INDEX.items():
    params[layer] = {'w': conv(f'conv_skip.{i}.weight'), 'b': read(f'conv_skip.{i}.bias'),
                     'prelu': read(f'prelu_skip.{i}.weight')}
  params['fc6'] = {'w': dense('fc6.weight'), 'b': read('fc6.bias')}
  params['fc_output'] = {'w': dense('fc_output_out.weight'), 'b': read('fc_output_out.bias')}
  for layer in LSTMS:
    params[layer] = full_cell({g: (dense(f'{layer}.{g}.weight'), read(f'{layer}.{g}.bias'))
                                for g in GATES})
  return params, config


def from_pytorch_state_dict(path_or_dict) -> tuple[model.Params, model.ModelConfig]:
  """Reads (`torch_files.load_state_dict`, no torch needed) and converts the PyTorch port's weights.

  Args:
    path_or_dict: a ``.pt``/``.pth`` file (``torch.save`` of the state_dict),
      or the state_dict itself (key -> tensor or NumPy array).

  Returns:
    (params, config), as `params_from_pytorch_state_dict`.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file is not a ``torch.save`` state_dict (or is corrupt, or
      references a global a state_dict does not need), or its entries do not
      make the paper model (named).
  """
  if isinstance(path_or_dict, Mapping):
    return params_from_pytorch_state_dict(path_or_dict)
  path = os.fspath(path_or_dict)
  check_exists(path)
  return params_from_pytorch_state_dict(torch_files.load_state_dict(path))
