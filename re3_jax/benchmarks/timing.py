"""What every benchmark shares: the median rate of a function, the reference product timed
in the same process, the machine's description and the JSON report."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def device_info() -> dict:
  """The backend, device, JAX version, host and date, for a report's ``info``."""
  dev = jax.devices()[0]
  return {'backend': jax.default_backend(), 'device': getattr(dev, 'device_kind', str(dev)),
          'device_count': jax.device_count(), 'jax': jax.__version__,
          'host': platform.node(), 'cpu_count': os.cpu_count(),
          'date': time.strftime('%Y-%m-%d %H:%M:%S')}


def median_rate(fn: Callable[[], object], units: float, runs: int) -> float:
  """`units` / the median time of `runs` calls of `fn`, after one warm-up call (compiles)."""
  fn()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return units / float(np.median(times))


def reference_matvec_ms(runs: int = 10) -> float:
  """Median time of a float32 (1, 74208) x (74208, 2048) product: fc6's weight read."""
  w = jnp.ones((74208, 2048), jnp.float32)
  x = jnp.ones((1, 74208), jnp.float32)
  f = jax.jit(lambda x, w: x @ w)
  rate = median_rate(lambda: f(x, w).block_until_ready(), 1.0, runs)
  return 1e3 / rate


def write_report(info: dict, rows: list, out: str | os.PathLike) -> dict:
  """Saves ``{'info': info, 'results': rows}`` as JSON at `out`; returns it."""
  report = {'info': info, 'results': rows}
  pathlib.Path(out).write_text(json.dumps(report, indent=2))
  return report
