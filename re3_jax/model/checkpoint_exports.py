"""A training run's checkpoints as weights to ship: the mean of its newest N
(`average_params`), re-saved alone under a dtype policy (`export_params`, what
``python -m re3_jax.convert --format=re3`` runs).

Both read and write the layout of `checkpoints` (``config.json``, ``params/``,
``SHA256SUMS``) through its `load_params` and `save_params`, so the output is checked and
written as any checkpoint is.
"""

from __future__ import annotations

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.model import checkpoints


def average_params(directory: str | os.PathLike, count: int):
  """The mean of the parameters of the `count` newest checkpoints in `directory`.

  Averaging the last checkpoints of a run (its decaying learning rate's end)
  steadies what one checkpoint owes to the last batches it saw.

  Args:
    directory: a training run's ``WORKDIR/checkpoints`` (numbered checkpoints).
    count: how many of the newest to average (1: the newest alone).

  Returns:
    (params, config, paths): each leaf the mean (computed in float64, stored
    in the leaf's dtype), the newest one's config, the checkpoints averaged.

  Raises:
    ValueError: `count` < 1, fewer checkpoints than `count` (listing those
      there), or checkpoints of different models (naming the fields).
    FileNotFoundError, DamagedCheckpointError: as `load_params`, naming the
      checkpoint.
  """
  if count < 1:
    raise ValueError(f'the number of checkpoints to average must be >= 1, got {count}')
  paths = checkpoints.candidates(directory)
  if len(paths) < count:
    raise ValueError(f'{pathlib.Path(directory).absolute()} holds {len(paths)} checkpoint'
                     f'{"s" if len(paths) != 1 else ""} ({", ".join(p.name for p in paths)}), '
                     f'fewer than the {count} to average')
  paths = paths[:count]
  loaded = [checkpoints.load_params(p) for p in paths]
  config = loaded[0][1]
  for path, (_, other) in zip(paths[1:], loaded[1:]):
    if not checkpoints.same_architecture(other, config):
      raise ValueError(f'checkpoint {path} holds another model than {paths[0]}: '
                       f'{checkpoints.architecture_difference(other, config)}')

  def mean(*leaves):
    total = sum(np.asarray(leaf, np.float64) for leaf in leaves)
    return jnp.asarray(np.asarray(total / len(leaves)).astype(np.asarray(leaves[0]).dtype))
  params = jax.tree_util.tree_map(mean, *[p for p, _ in loaded])
  return params, config, paths


def export_params(source: str | os.PathLike, out: str | os.PathLike,
                  precision: str = 'bf16_weights',
                  average: int = 1) -> tuple[pathlib.Path, model.ModelConfig]:
  """Re-saves a checkpoint's parameters alone, stored under a dtype policy (for shipping).

  Args:
    source: any checkpoint `load_params` reads (e.g. a training run's
      ``WORKDIR/checkpoints``: its latest step).
    out: the output directory; it must not hold a checkpoint already.
    precision: a `model.PRECISIONS` name; ``bf16_weights`` halves the size
      (bfloat16 matrices and kernels, float32 compute; `Re3Tracker` packs fc6).
    average: export the mean of the `average` newest checkpoints of `source`
      (`average_params`); 1: the newest alone.

  Returns:
    (the output directory's absolute path, the config stored with it).
  """
  out = pathlib.Path(out).absolute()
  if (out / checkpoints.PARAMS_DIR).exists() or (out / checkpoints.CONFIG_FILE).exists():
    raise FileExistsError(f'{out} already holds a checkpoint; choose another output')
  if average == 1:
    params, config = checkpoints.load_params(source)
  else:
    params, config, _ = average_params(source, average)
  config = model.with_precision(config, precision)
  params = model.cast_params(params, jnp.dtype(config.param_dtype))
  return checkpoints.save_params(out, params, config), config
