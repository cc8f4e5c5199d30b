"""Saving and restoring network parameters with their model config (orbax).

Layout of a parameters checkpoint directory::

  DIR/config.json   the `model.ModelConfig`, so nobody has to guess it
  DIR/params/       the parameter pytree, an orbax StandardCheckpointer save
  DIR/SHA256SUMS    the SHA-256 of every file above (`digests.write_manifest`)

Loading checks the files against ``SHA256SUMS`` first: a file that does not match (damaged,
or changed since it was saved) makes the checkpoint damaged, its error naming the file, the
expected and the found digest. A checkpoint without a manifest (saved before 2026-12-06)
loads as before, unchecked; so does a training run's step saved without one.

`load_params` also accepts a directory whose numbered subdirectories
(``DIR/<step>/``) hold that layout, and then restores the highest step that
restores: a damaged step (a truncated or missing file, unreadable metadata,
non-finite parameters) is skipped with a warning naming its directory and the
error, and the next older one is tried; nothing is deleted. The training loop
writes ``DIR/<step>/params/`` (beside its optimiser state) with one
``DIR/config.json`` for all steps; that is accepted too.

Parameters are checked to be finite where they are written (`save_params`:
converted and exported weights) and read (`load_params`): a NaN or infinity is
a `ValueError` naming the variable (``fc6/w``) and the checkpoint.

A save that fails to write (a full disk, no permission: orbax reports them as OSError or
as tensorstore's ValueError, and logs tracebacks from its threads) is one
`CheckpointWriteError` (an OSError) naming the directory and the reason: orbax's logs of
it are held back, and what the save made (orbax's ``params.orbax-checkpoint-tmp``
folder, ``params/``, the directory itself when the save created it) is removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging as std_logging
import os
import pathlib
import re
import shutil
import sys
import time
from typing import Callable, Iterator, Sequence, TypeVar

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from re3_jax import model
from re3_jax.core import digests
from re3_jax.model import weight_shapes

CONFIG_FILE = 'config.json'
PARAMS_DIR = 'params'
DAMAGED_SUFFIX = '.damaged'

T = TypeVar('T')
R = TypeVar('R')


class DamagedCheckpointError(ValueError):
  """A checkpoint that does not restore (damaged files, non-finite parameters); names it."""

  @classmethod
  def of(cls, path: str | os.PathLike, error: BaseException) -> DamagedCheckpointError:
    """The error for checkpoint `path`, which failed with `error`: the first line of its
    first cause (orbax wraps tensorstore's precise one)."""
    while error.__cause__ is not None:
      error = error.__cause__
    text = str(error).strip().splitlines()
    detail = text[0][:300] if text else ''
    return cls(f'checkpoint {path} is damaged: {type(error).__name__}: {detail}')


def check_finite(params, where: str) -> None:
  """Raises a ValueError naming the first parameter of `params` holding a NaN or infinity.

  One host-side check per leaf. Arrays replicated over several processes are
  read from this process's first shard (which holds all of it).
  """
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
      leaf = leaf.addressable_data(0)
    values = np.asarray(leaf)
    if not jnp.issubdtype(values.dtype, jnp.inexact):
      continue
    finite = np.isfinite(values.astype(np.float32))  # bfloat16 included
    if not finite.all():
      raise ValueError(f'{where}: parameter {weight_shapes.leaf_name(path)} is not finite '
                       f'({finite.size - int(finite.sum())} of {finite.size} values are NaN '
                       'or infinite)')


def set_aside(path: str | os.PathLike) -> pathlib.Path:
  """Renames a damaged checkpoint directory to ``NAME.damaged`` (``.damaged.2``, ...): kept, not
  deleted, and no longer a numbered step. Returns the new path."""
  path = pathlib.Path(path)
  target = path.with_name(path.name + DAMAGED_SUFFIX)
  n = 1
  while target.exists():
    n += 1
    target = path.with_name(f'{path.name}{DAMAGED_SUFFIX}.{n}')
  path.rename(target)
  return target


def save_params(directory: str | os.PathLike, params, config: model.ModelConfig) -> pathlib.Path:
  """Writes `params` and `config` to `directory` (created; must not hold a checkpoint).

  Returns:
    The directory's absolute path.
  """
  directory = pathlib.Path(directory).absolute()
  weight_shapes.check_params(params, config, f'the parameters given for {directory}')
  check_finite(params, f'the parameters given for {directory}')
  made = _missing_parents(directory)
  if (directory / PARAMS_DIR).exists():  # orbax would refuse it too, after making its folders
    raise FileExistsError(f'{directory} already holds a checkpoint; choose another output')
  had_config = (directory / CONFIG_FILE).exists()
  directory.mkdir(parents=True, exist_ok=True)
  with held_back_orbax_errors() as held:
    try:
      _orbax_save(directory / PARAMS_DIR, params)
      (directory / CONFIG_FILE).write_text(config.to_json())
      files = [pathlib.Path(CONFIG_FILE)] + [PARAMS_DIR / f for f in
                                             digests.files_under(directory / PARAMS_DIR)]
      digests.write_manifest(directory, files)
    except BaseException as e:
      _remove_partial_save(directory, made, had_config)
      if isinstance(e, (OSError, ValueError)):
        raise CheckpointWriteError(f'cannot write the checkpoint {directory}: '
                                   f'{write_error_reason(e)}') from e
      raise
  sys.stderr.write(held.getvalue())  # a save that succeeded loses nothing it printed
  return directory


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (a full disk, ...); the message names it and why."""


def _orbax_save(path: pathlib.Path, params) -> None:
  checkpointer = ocp.StandardCheckpointer()
  try:
    checkpointer.save(path, params)
    checkpointer.wait_until_finished()
  finally:
    checkpointer.close()


def _missing_parents(directory: pathlib.Path) -> list[pathlib.Path]:
  """`directory` and the folders above it that do not exist yet (outermost last)."""
  return [p for p in (directory, *directory.parents) if not p.exists()]


@contextlib.contextmanager
def held_back_orbax_errors() -> Iterator[io.StringIO]:
  """Orbax's ERROR records (absl) are dropped and Python's stderr is held in a buffer.

  A failed write makes orbax's threads log their tracebacks (and an asyncio callback print
  one) before the error reaches the caller, which names it in one line instead; the caller
  writes the buffer out when the save succeeded.
  """
  level = logging.get_verbosity()
  held = io.StringIO()
  logging.set_verbosity(logging.FATAL)
  try:
    with contextlib.redirect_stderr(held):
      yield held
  finally:
    logging.set_verbosity(level)


def _remove_partial_save(directory: pathlib.Path, made: list[pathlib.Path],
                         had_config: bool) -> None:
  """Removes what a failed `save_params` wrote (never what was there before it).

  Tensorstore's writes still in flight when orbax gives up can make folders after a first
  removal: it is repeated until nothing has come back for `_SETTLE_S` (at most
  `_SETTLE_MAX_S`).
  """
  deadline = time.monotonic() + _SETTLE_MAX_S
  quiet_since = time.monotonic()
  while True:
    found = list(directory.glob(f'{PARAMS_DIR}.orbax-checkpoint-tmp*'))
    found += [directory / PARAMS_DIR] if (directory / PARAMS_DIR).exists() else []
    for path in found:
      shutil.rmtree(path, ignore_errors=True)
    now = time.monotonic()
    if found:
      quiet_since = now
    if now - quiet_since >= _SETTLE_S or now >= deadline:
      break
    time.sleep(0.05)
  if not had_config:
    (directory / CONFIG_FILE).unlink(missing_ok=True)
    (directory / digests.MANIFEST).unlink(missing_ok=True)
  for path in made:  # innermost first; a folder that is not empty stays
    try:
      path.rmdir()
    except OSError:
      break


_SETTLE_S = 0.5
_SETTLE_MAX_S = 5.0


def write_error_reason(error: BaseException) -> str:
  """The short reason of a write error: ``No space left on device`` rather than orbax's text."""
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  text = str(error)
  code = re.search(r"os_error_code='?(\d+)", text)
  if code:
    return os.strerror(int(code[1]))
  return text.splitlines()[0] if text else type(error).__name__


def resolve(directory: str | os.PathLike) -> pathlib.Path:
  """The parameters checkpoint in `directory` or in its highest numbered subdirectory."""
  return candidates(directory)[0]


def candidates(directory: str | os.PathLike) -> list[pathlib.Path]:
  """The parameters checkpoint in `directory`, or its numbered subdirectories' (highest first)."""
  directory = pathlib.Path(directory).absolute()
  if (directory / PARAMS_DIR).exists() and _config_path(directory).exists():
    return [directory]
  if directory.is_dir():
    steps = sorted(((int(p.name), p) for p in directory.iterdir()
                    if p.name.isdigit() and (p / PARAMS_DIR).exists()
                    and _config_path(p).exists()), reverse=True)
    if steps:
      return [p for _, p in steps]
  raise FileNotFoundError(
      f'{directory} holds no re3_jax checkpoint: expected {CONFIG_FILE} and {PARAMS_DIR}/ '
      'in it or in a numbered subdirectory')


def _config_path(path: pathlib.Path) -> pathlib.Path:
  """A checkpoint's config: its own, or (training checkpoints) its parent's."""
  own = path / CONFIG_FILE
  return own if own.exists() else path.parent / CONFIG_FILE


def load_config(directory: str | os.PathLike) -> model.ModelConfig:
  path = _config_path(resolve(directory))
  try:
    return model.ModelConfig.from_json(path.read_text())
  except (ValueError, TypeError) as e:
    raise ValueError(f'{path} is not a valid model config: {e}') from e


def architecture_difference(stored: model.ModelConfig, wanted: model.ModelConfig) -> str:
  """How `stored` differs from `wanted` in its parameters (names and dtypes aside), e.g.
  ``lstm_units 16 (not 8), crop_size 111 (not 95)``; empty if they describe the same ones."""
  ignored = {'name', 'dtype', 'param_dtype'}
  return ', '.join(f'{f.name} {getattr(stored, f.name)} (not {getattr(wanted, f.name)})'
                   for f in dataclasses.fields(stored)
                   if f.name not in ignored and getattr(stored, f.name) != getattr(wanted, f.name))


def same_architecture(a: model.ModelConfig, b: model.ModelConfig) -> bool:
  """Whether two configs describe the same parameters (names and dtypes aside)."""
  return not architecture_difference(a, b)


def load_params(directory: str | os.PathLike, expected_config: model.ModelConfig | None = None):
  """Restores (params, config) from a checkpoint directory.

  Args:
    directory: a directory written by `save_params`, or one holding such
      directories in numbered subdirectories (the highest that restores is
      restored; each damaged higher one is skipped with a warning that names
      it and its error).
    expected_config: if given, the checkpoint's architecture must match it
      (dtype fields may differ).

  Returns:
    (params, config): the parameter pytree (as saved) and its `ModelConfig`.

  Raises:
    FileNotFoundError: no checkpoint there.
    DamagedCheckpointError: (a ValueError) the checkpoint, or every numbered
      one, does not restore: a file that does not match its ``SHA256SUMS`` (named, with
      both digests), unreadable files, parameters that do not match
      the stored config, or non-finite parameters (the message names the
      directory and the variable).
    ValueError: the config does not match `expected_config`.
  """
  found = candidates(directory)

  def restore(path):
    try:
      digests.verify_manifest(path)
      config = load_config(path)
    except ValueError as e:  # names the file and the problem already
      raise DamagedCheckpointError(f'checkpoint {path} is damaged: {e}') from e
    if expected_config is not None and not same_architecture(config, expected_config):
      raise ValueError(f'checkpoint {path} holds another model than the one expected: '
                       f'{architecture_difference(config, expected_config)}')
    try:
      return _restore(path, config), config
    except Exception as e:  # pylint: disable=broad-except  (damage shows in many ways)
      raise DamagedCheckpointError.of(path, e) from e

  if len(found) == 1:
    return restore(found[0])
  return newest_that_restores(found, restore, pathlib.Path(directory).absolute())[1]


def newest_that_restores(candidates: Sequence[T], restore: Callable[[T], R],
                         where: str | os.PathLike) -> tuple[T, R, list[T]]:
  """Tries `restore` on `candidates`, newest first, until one restores.

  `restore` raises `DamagedCheckpointError` for a candidate that does not
  restore (other errors propagate); each such one is named in a warning before
  the next is tried. Nothing is moved or deleted.

  Returns:
    (the candidate restored, what `restore` returned, the damaged candidates
    tried before it).

  Raises:
    DamagedCheckpointError: none restores; the message names `where` and each
      candidate's error.
  """
  failures = []
  for i, candidate in enumerate(candidates):
    try:
      return candidate, restore(candidate), list(candidates[:i])
    except DamagedCheckpointError as e:
      failures.append(e)
      if i < len(candidates) - 1:
        logging.warning('%s; trying the previous checkpoint', e)
  raise DamagedCheckpointError(f'no checkpoint in {where} restores: '
                               + '; '.join(map(str, failures)))


class _NoMissingMetadataWarning(std_logging.Filter):
  """Drops orbax's "Metadata file does not exist" warning. A training run's step folder
  (`records`) keeps orbax's metadata file beside its items, not inside `params/`, so
  restoring `params/` alone warns about a file that is not missing, only elsewhere."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return not str(record.getMessage()).startswith('Metadata file does not exist')


def _restore(path: pathlib.Path, config: model.ModelConfig):
  """The parameters of the checkpoint `path`, checked against `config` and to be finite."""
  checkpointer = ocp.StandardCheckpointer()
  quiet = _NoMissingMetadataWarning()
  absl_logger = std_logging.getLogger('absl')
  absl_logger.addFilter(quiet)
  try:
    metadata = checkpointer.metadata(path / PARAMS_DIR).item_metadata
    weight_shapes.check_params(metadata, config, 'its parameters')
    # An explicit sharding: the checkpoint may come from a run on other devices or hosts.
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), metadata)
    params = checkpointer.restore(path / PARAMS_DIR, target)
  finally:
    checkpointer.close()
    absl_logger.removeFilter(quiet)
  check_finite(params, 'its parameters')
  return params
