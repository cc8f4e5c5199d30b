r"""Benchmarks: ``python -m re3_jax.benchmark tracker [--flags]``.

Prints a table and saves JSON. For each model config and precision:

* ``per_frame_fps``: one object through `Re3Tracker.track` (host uint8 frames
  in, host box out: crops, transfer and Python included);
* ``object_frames_per_s`` for N objects through `Re3Tracker.multi_track`;
* ``track_video_fps``: `tracker.track_video` over a clip already on the device.

Each figure is the median over --runs timed runs after one warm-up run. Each
result also carries a reference measured in the same process next to it (the
time of a float32 fc6-sized matrix-vector product, memory-bound on CPUs), so
figures from noisy machines can be compared as ratios.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax import sequences
from re3_jax import tracker as tracker_lib

_CONFIGS = flags.DEFINE_list('configs', ['paper', 'small'], 'Model configs to benchmark.')
_PRECISIONS = flags.DEFINE_list('precisions', ['float32', 'bf16_weights'],
                                f'Dtype policies, from {sorted(model.PRECISIONS)}.')
_OBJECTS = flags.DEFINE_list('objects', ['8', '64'], 'Object counts for multi_track.')
_FRAMES = flags.DEFINE_integer('frames', 60, 'Frames per timed run.')
_RUNS = flags.DEFINE_integer('runs', 5, 'Timed runs (after one warm-up); the median is reported.')
_SEQUENCE = flags.DEFINE_string(
    'sequence', None, 'A sequence folder (OTB or VOT layout) to take frames from; default: '
    '../shared/sequences/otb_crossing if present, else synthetic 360x240 frames.')
_OUT = flags.DEFINE_string('out', 'benchmark_tracker.json', 'Where to save the JSON results.')


def device_info() -> dict:
  dev = jax.devices()[0]
  return {'backend': jax.default_backend(), 'device': getattr(dev, 'device_kind', str(dev)),
          'device_count': jax.device_count(), 'jax': jax.__version__,
          'host': platform.node(), 'cpu_count': os.cpu_count(),
          'date': time.strftime('%Y-%m-%d %H:%M:%S')}


def _median_rate(fn, units: float, runs: int) -> float:
  fn()  # warm-up (compiles)
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
  rate = _median_rate(lambda: f(x, w).block_until_ready(), 1.0, runs)
  return 1e3 / rate


def _load_frames(n: int):
  folder = _SEQUENCE.value
  if folder is None:
    default = pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'sequences' / 'otb_crossing'
    folder = default if default.exists() else None
  if folder is not None:
    seq = sequences.load_sequence(folder, max_frames=n)
    return seq.frames, seq.boxes[0], str(folder)
  clip = sequences.synthetic_clip(n, seed=0)
  return clip.frames, clip.boxes[0], 'synthetic 360x240'


def bench_tracker(config: model.ModelConfig, frames, box, objects, runs) -> dict:
  params = model.init(jax.random.key(0), config)
  result = {}
  tr = tracker_lib.Re3Tracker(params, config)

  def per_frame():
    tr.track(0, frames[0], box)
    for f in frames[1:]:
      tr.track(0, f)
  result['per_frame_fps'] = _median_rate(per_frame, len(frames), runs)

  h, w = frames.shape[1:3]
  for n in objects:
    rng = np.random.default_rng(n)
    centers = rng.uniform(0.2, 0.8, (n, 2)) * [w, h]
    sizes = rng.uniform(0.1, 0.3, (n, 2)) * [w, h]
    starts = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    ids = list(range(n))
    mt = tracker_lib.Re3Tracker(params, config)
    nf = max(2, len(frames) // 4)

    def multi():
      mt.multi_track(ids, frames[0], list(starts))
      for f in frames[1:nf]:
        mt.multi_track(ids, f)
    result[f'object_frames_per_s_{n}'] = _median_rate(multi, n * nf, runs)

  device_frames = jnp.asarray(frames)
  prepared = tr.params
  run_video = lambda: tracker_lib.track_video(prepared, device_frames, box,
                                              config=config).block_until_ready()
  result['track_video_fps'] = _median_rate(run_video, len(frames), runs)
  return result


def run_tracker_benchmark(configs, precisions, objects, n_frames, runs, out) -> dict:
  frames, box, source = _load_frames(n_frames)
  info = device_info()
  info.update(frames=source, frame_size=list(frames.shape[1:3]), n_frames=len(frames), runs=runs)
  rows = []
  for name in configs:
    for precision in precisions:
      config = model.with_precision(model.get_config(name), precision)
      ref_before = reference_matvec_ms()
      res = bench_tracker(config, frames, box, objects, runs)
      res.update(config=name, precision=precision,
                 reference_matvec_ms=(ref_before + reference_matvec_ms()) / 2)
      rows.append(res)
      print(_format_row(res, objects), flush=True)
  report = {'info': info, 'results': rows}
  pathlib.Path(out).write_text(json.dumps(report, indent=2))
  return report


def _format_row(r, objects) -> str:
  multi = ' '.join(f'{n}obj={r[f"object_frames_per_s_{n}"]:9.1f}' for n in objects)
  return (f'{r["config"]:>6} {r["precision"]:>12}  per_frame={r["per_frame_fps"]:8.1f} fps  '
          f'track_video={r["track_video_fps"]:8.1f} fps  object-frames/s: {multi}  '
          f'(ref fc6 f32 matvec {r["reference_matvec_ms"]:.2f} ms)')


def main(argv):
  if len(argv) != 2 or argv[1] not in ('tracker',):
    raise app.UsageError('usage: python -m re3_jax.benchmark tracker [--flags]')
  info = device_info()
  print(f'backend={info["backend"]} device={info["device"]} x{info["device_count"]} '
        f'jax={info["jax"]} cpus={info["cpu_count"]}')
  objects = [int(n) for n in _OBJECTS.value]
  run_tracker_benchmark(_CONFIGS.value, _PRECISIONS.value, objects, _FRAMES.value, _RUNS.value,
                        _OUT.value)
  print(f'saved {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
