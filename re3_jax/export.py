r"""Exports a tracker to one file that runs with only JAX installed: ``python -m re3_jax.export
--out=FILE [--tracker.checkpoint=DIR] [--frame_size=H,W] [--objects=N]
[--tracker.precision=NAME] [--tracker.reset_interval=N]``.

The file holds the tracker's ``init`` and ``step`` serialised with ``jax.export``
(StableHLO) and the model's parameters (`re3_jax.tracking.export`);
``re3_jax/tracking/exported.py``, a single file importing only JAX and NumPy, loads
and runs it. By default the file serves any frame size and any number of objects
(symbolic dimensions), on CPUs and CUDA GPUs. The tracker exported: the ``--tracker.*`` flags
of `re3_jax.tracking.tracker_config.TrackerConfig` (default: the shipped model).
"""

from __future__ import annotations

import os
import time

from absl import flags

from re3_jax import cli

_TRACKER = cli.define_tracker_flags()
_OUT = flags.DEFINE_string('out', None, 'The output file (e.g. tracker.re3x); its folder '
                           'must exist.', required=True)
_FRAME_SIZE = flags.DEFINE_list('frame_size', None, 'H,W: export for frames of this size only '
                                '(default: any size).')
_OBJECTS = flags.DEFINE_integer('objects', None, 'Export for this number of objects only '
                                '(default: any number).', lower_bound=1)
_PLATFORMS = flags.DEFINE_list('platforms', 'cpu,cuda', 'jax.export platforms to lower for '
                               '(cpu, cuda, rocm, tpu).')


def _frame_size():
  if _FRAME_SIZE.value is None:
    return None
  try:
    h, w = (int(v) for v in _FRAME_SIZE.value)
  except ValueError:
    raise ValueError(f'--frame_size must be H,W (two integers), got '
                     f'{",".join(_FRAME_SIZE.value)!r}') from None
  return h, w


def main(argv):
  del argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  from re3_jax.tracking import export  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  tracker = _TRACKER()
  out, config = export.export_checkpoint(tracker, _OUT.value, frame_size=_frame_size(),
                                         objects=_OBJECTS.value, platforms=_PLATFORMS.value)
  size = out.stat().st_size
  frames = 'x'.join(_FRAME_SIZE.value) if _FRAME_SIZE.value else 'any size'
  print(f'exported {tracker.describe()} -> {out} '
        f'({size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)\n'
        f'model {config.name} ({config.param_dtype} parameters); frames: {frames}; objects: '
        f'{_OBJECTS.value or "any number"}; platforms: {",".join(_PLATFORMS.value)}; run it with '
        're3_jax/tracking/exported.py (JAX and NumPy only)')


if __name__ == '__main__':
  cli.run(main)
