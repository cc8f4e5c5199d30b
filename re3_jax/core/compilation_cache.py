"""JAX's persistent compilation cache, on by default for the tracker and the command lines.

`enable` changes a setting of the whole process (``jax_compilation_cache_dir``): every later
compilation of every library in it is cached. The command lines call it first thing
(`re3_jax.cli.run`), a `tracking.tracker.Re3Tracker` when it is made (its
``compilation_cache`` argument, `tracking.tracker_config.TrackerConfig.compilation_cache`);
turning the cache on is logged once (INFO).

A tracker's first frame compiles its jitted step: seconds on a CPU, most of the time to
the first tracked frame. With the cache on, XLA's compiled executables are written to a
folder and a later process with the same model, shapes and machine reads them back
instead of compiling (JAX keys each entry by the computation, the compiler options and
the device; a cached executable is the one XLA compiled, so results are unchanged).

The folder, in order: a folder JAX already has (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update('jax_compilation_cache_dir', ...)``: the user's choice stands), else
``$RE3_JAX_COMPILATION_CACHE``, else ``$XDG_CACHE_HOME/re3_jax/xla`` (``~/.cache/re3_jax/xla``).
``RE3_JAX_COMPILATION_CACHE=off`` (or a command line's ``--compilation_cache=off``) turns
it off. Every computation is cached, however quick to compile (JAX's default leaves out
those under a second, and the tracker's are: ~2.3 s of compiling in all for the shipped
model, none over a second; ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` still sets the
threshold). Delete the folder to reclaim its space (~0.3 MB per model and frame size).
"""

from __future__ import annotations

import os
import pathlib

from absl import logging
import jax

ENV = 'RE3_JAX_COMPILATION_CACHE'
MIN_TIME_ENV = 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'
OFF = 'off'


def default_dir() -> pathlib.Path:
  """``$XDG_CACHE_HOME/re3_jax/xla``, or ``~/.cache/re3_jax/xla``."""
  base = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return pathlib.Path(base) / 're3_jax' / 'xla'


def enable(setting: str | os.PathLike | None = None) -> str | None:
  """Turns the persistent compilation cache on for the whole process (see the module
  docstring); idempotent.

  Args:
    setting: a folder, or ``off``; None: ``$RE3_JAX_COMPILATION_CACHE``, else
      `default_dir`. A folder JAX is already configured with wins over both.

  Returns:
    The cache folder in use, or None when the cache is off.
  """
  current = jax.config.jax_compilation_cache_dir
  if current:
    return current
  if setting is None:
    setting = os.environ.get(ENV) or default_dir()
  if str(setting).strip().lower() == OFF:
    return None
  folder = str(pathlib.Path(setting).expanduser().absolute())
  jax.config.update('jax_compilation_cache_dir', folder)
  # Once: a later call finds the folder above and returns.
  logging.info("JAX's persistent compilation cache is on for this process: %s (%s=off or "
               "compilation_cache='off' leaves it off)", folder, ENV)
  if MIN_TIME_ENV not in os.environ:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  return folder
