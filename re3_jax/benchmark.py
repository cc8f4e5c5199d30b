r"""Benchmarks: ``python -m re3_jax.benchmark tracker|input|train [--flags]``.

Each prints a table and saves JSON (``--out``, default ``benchmark_<name>.json``).

``tracker``: for each model config and precision:

* ``per_frame_fps``: one object through `Re3Tracker.track` (host uint8 frames
  in, host box out: crops, transfer and Python included);
* ``object_frames_per_s`` for N objects through `Re3Tracker.multi_track`;
* ``track_video_fps``: `tracker.track_video` over a clip already on the device.

Each figure is the median over --runs timed runs after one warm-up run. Each
result also carries a reference measured in the same process next to it (the
time of a float32 fc6-sized matrix-vector product, memory-bound on CPUs), so
figures from noisy machines can be compared as ratios.

``input``: the input pipeline (`re3_jax.input.pipeline`) at each curriculum stage
``--stages`` (unrolls x batch): sequences/s and frames/s for the synthetic
default (procedural simulator) and for a VID-like fake (``--vid_frames``
frames of 1280x720 JPEG per video, written and built with the real
``data/imagenet_vid`` builder in a temporary folder). Next to each, in the same
process, the frame-steps/s of a stand-in train step for ``--compare_models``
(crops at the true boxes + forward + backward of the L1 loss, jitted; the
self-training train step of ``re3_jax.train`` does the same work plus one
crop per frame) so that the ratio pipeline/train step is measured, not guessed.

``train``: the real jitted train step (`train_step.make_train_step`, all devices,
self-training probability 0.5) for each ``--configs`` model and ``--stages``
stage on a batch of the synthetic pipeline already on the device:
frame-steps/s (one frame of one sequence through crops + network + backward),
the step's model FLOPs (3x XLA's count of the forward pass of one crop pair,
per frame-step), the model FLOPs utilisation against the
device's peak (``--peak_tflops``, or a table of known GPUs), and the peak
device memory where the backend reports it.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import cli
from re3_jax import model
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops
from re3_jax.input import pipeline
from re3_jax.media import sequences
from re3_jax.media import synthetic_clips
from re3_jax.testing import fake_datasets
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.training import curriculum

_CONFIGS = flags.DEFINE_list('configs', ['paper', 'small'], 'Model configs to benchmark.')
_PRECISIONS = flags.DEFINE_list('precisions', ['float32', 'bf16_weights'],
                                f'Dtype policies, from {sorted(model.PRECISIONS)}.')
_OBJECTS = flags.DEFINE_list('objects', ['8', '64'], 'Object counts for multi_track.')
_FRAMES = flags.DEFINE_integer('frames', 60, 'Frames per timed run.')
_RUNS = flags.DEFINE_integer('runs', 5, 'Timed runs (after one warm-up); the median is reported.')
_SEQUENCE = flags.DEFINE_string(
    'sequence', None, 'A sequence folder (OTB or VOT layout) to take frames from; default: '
    '../shared/sequences/otb_crossing if present, else synthetic 360x240 frames.')
_OUT = flags.DEFINE_string('out', None, 'Where to save the JSON results '
                           '(default benchmark_<name>.json).')
_STAGES = flags.DEFINE_list('stages', ['2x64', '32x4'], 'input: stages as UNROLLSxBATCH.')
_SOURCES = flags.DEFINE_list('sources', ['synthetic', 'vid_fake'],
                             'input: synthetic (procedural default) and/or vid_fake.')
_BATCHES = flags.DEFINE_integer('batches', 4, 'input: batches per timed run.')
_THREADS = flags.DEFINE_integer('threads', 0, 'input: pipeline threads (0: 2 x CPU count).')
_WORKERS = flags.DEFINE_integer('workers', 0, 'input: pipeline worker processes.')
_VID_FRAMES = flags.DEFINE_integer('vid_frames', 48, 'input: frames per fake VID video.')
_PEAK_TFLOPS = flags.DEFINE_float('peak_tflops', 0.0,
                                   'train: the device peak for MFU (0: from a table of known '
                                   'devices, else MFU is not reported).')
_TRAIN_PRECISION = flags.DEFINE_string('train_precision', 'float32',
                                       'train: dtype policy of the train step.')
_SCAN_UNROLL = flags.DEFINE_integer(
    'scan_unroll', 0, 'train: unroll factor of the scan over time (0: the default, see '
    'train_step.default_scan_unroll).')
_COMPARE_MODELS = flags.DEFINE_list('compare_models', ['tiny', 'small'],
                                    'input: model configs of the stand-in train step '
                                    '(empty to skip).')


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
  clip = synthetic_clips.synthetic_clip(n, seed=0)
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



def data_build():
  """The ``data.build`` module of this checkout (the builders live in ``data/``)."""
  root = pathlib.Path(__file__).resolve().parents[1]
  if not (root / 'data' / 'build.py').is_file():
    raise FileNotFoundError(f'no data/build.py beside {root / "re3_jax"}: run from a checkout')
  if str(root) not in sys.path:
    sys.path.insert(0, str(root))
  return importlib.import_module('data.build')


def build_fake_vid(workdir: pathlib.Path, videos: int, frames: int, size=(720, 1280)) -> str:
  """Writes a VID-like fake of 1280x720 JPEGs, builds it, returns the data_dir."""
  manual = fake_datasets.write_vid(workdir / 'raw', videos=videos, frames=frames, size=size,
                                   tracks_per_video=1, quality=90)
  data_dir = workdir / 'tfds'
  data_build().build('imagenet_vid', str(manual), str(data_dir))
  return str(data_dir)


def pipeline_rate(config: pipeline.PipelineConfig, unrolls: int, batch: int, n_batches: int,
                  runs: int) -> dict:
  """Median sequences/s and frames/s of `Pipeline` after one warm-up batch."""
  it = pipeline.Pipeline(config, seq_len=unrolls, batch_size=batch, seed=0, process_index=0,
                         process_count=1)
  next(it)
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    for _ in range(n_batches):
      next(it)
    times.append((time.perf_counter() - start) / n_batches)
  per_batch = float(np.median(times))
  return {'sequences_per_s': batch / per_batch, 'frames_per_s': batch * unrolls / per_batch,
          'batch_s': per_batch}


def train_step_proxy_rate(config: model.ModelConfig, batch: pipeline.Batch, runs: int) -> float:
  """Frame-steps/s of crops + forward + backward (L1) on `batch`, jitted, same process."""
  params = model.init(jax.random.key(0), config)
  b, t = batch.boxes.shape[:2]

  @jax.jit
  def step(params, frames, valid, true_boxes):
    prev = jnp.concatenate([true_boxes[:, :1], true_boxes[:, :-1]], axis=1)
    windows = boxes_lib.context_window(prev)
    prev_frames = jnp.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    prev_valid = jnp.concatenate([valid[:, :1], valid[:, :-1]], axis=1)
    flat = lambda x: x.reshape(b * t, *x.shape[2:])
    pair = jnp.stack([crops.crop_batch(flat(prev_frames), flat(windows), flat(prev_valid)),
                      crops.crop_batch(flat(frames), flat(windows), flat(valid))], axis=1)
    pair = pair.reshape(b, t, 2, *pair.shape[2:])
    labels = boxes_lib.to_crop_frame(true_boxes, windows)

    def loss(params):
      out, _ = model.apply(params, pair, model.initial_state(b, config), config)
      return jnp.abs(out - labels).sum(-1).mean()
    value, grads = jax.value_and_grad(loss)(params)
    return value, jax.tree.map(lambda p, g: p - 1e-6 * g, params, grads)

  args = (jnp.asarray(batch.frames), jnp.asarray(batch.valid_sizes), jnp.asarray(batch.boxes))

  def run():
    jax.block_until_ready(step(params, *args))
  return _median_rate(run, b * t, runs)


def run_input_benchmark(sources, stages, n_batches, runs, threads, workers, vid_frames,
                        compare_models, out) -> dict:
  info = device_info()
  threads = threads or 2 * (os.cpu_count() or 1)
  info.update(threads=threads, workers=workers, batches_per_run=n_batches, runs=runs)
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for source in sources:
      if source == 'synthetic':
        config = pipeline.PipelineConfig(num_threads=threads, num_workers=workers)
      elif source == 'vid_fake':
        videos = max(4, threads)
        data_dir = build_fake_vid(pathlib.Path(tmp), videos, vid_frames)
        config = pipeline.PipelineConfig(mixture=(('imagenet_vid', 1.0),), data_dir=data_dir,
                                         frame_size=(720, 1280), num_threads=threads,
                                         num_workers=workers)
      else:
        raise ValueError(f'unknown source {source!r}: synthetic or vid_fake')
      for stage in stages:
        unrolls, batch = curriculum.parse_stage(stage)
        row = {'source': source, 'stage': stage, 'frame_size': list(config.frame_size)}
        row.update(pipeline_rate(config, unrolls, batch, n_batches, runs))
        if compare_models:
          sample = next(pipeline.Pipeline(config, seq_len=unrolls, batch_size=batch, seed=0,
                                          process_index=0, process_count=1))
          row['train_step_proxy_frame_steps_per_s'] = {}
          for name in compare_models:
            rate = train_step_proxy_rate(model.get_config(name), sample, runs)
            row['train_step_proxy_frame_steps_per_s'][name] = rate
          row['pipeline_over_train_step'] = {
              name: row['frames_per_s'] / rate
              for name, rate in row['train_step_proxy_frame_steps_per_s'].items()}
        rows.append(row)
        print(_format_input_row(row), flush=True)
  report = {'info': info, 'results': rows}
  pathlib.Path(out).write_text(json.dumps(report, indent=2))
  return report


def _format_input_row(r) -> str:
  text = (f'{r["source"]:>9} {r["stage"]:>5} canvas={r["frame_size"][0]}x{r["frame_size"][1]}  '
          f'{r["sequences_per_s"]:8.1f} seq/s  {r["frames_per_s"]:8.1f} frames/s')
  for name, rate in r.get('train_step_proxy_frame_steps_per_s', {}).items():
    text += (f'\n{"":>16}{name} train-step stand-in {rate:8.1f} frame-steps/s: '
             f'pipeline/train step = {r["pipeline_over_train_step"][name]:.2f}')
  return text



# Dense peak TFLOP/s per device: (float32, bfloat16). H100/H200 SXM figures from NVIDIA's data
# sheets (float32 without TF32 tensor cores).
PEAK_TFLOPS = {'H200': (67.0, 989.0), 'H100': (67.0, 989.0), 'A100': (19.5, 312.0)}


def peak_tflops(precision: str, override: float = 0.0) -> float | None:
  """The device's dense peak TFLOP/s: `override` if > 0, else from `PEAK_TFLOPS`, else None."""
  if override > 0:
    return override
  kind = getattr(jax.devices()[0], 'device_kind', '')
  for name, (f32, bf16) in PEAK_TFLOPS.items():
    if name in kind:
      return bf16 if precision == 'bfloat16' else f32
  return None


def forward_flops_per_frame(config: model.ModelConfig) -> float:
  """XLA's FLOP count of the network on one crop pair (one frame of one sequence).

  Model FLOPs for MFU are 3x this per frame-step (forward + backward); counting
  the train step itself would miss the trip count of its `lax.scan`.
  """
  params = model.abstract_params(config)
  pairs = jax.ShapeDtypeStruct((1, 1, 2, crops.CROP_SIZE, crops.CROP_SIZE, 3), jnp.float32)
  fn = jax.jit(lambda p, x: model.apply(p, x, model.initial_state(1, config), config)[0])
  cost = fn.lower(params, pairs).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get('flops', 0.0)) if cost else 0.0


def bench_train_step(config: model.ModelConfig, unrolls: int, batch: int, runs: int,
                     steps_per_run: int = 3, peak: float = 0.0,
                     scan_unroll: int | bool | None = None) -> dict:
  """Frame-steps/s, FLOPs, MFU and peak memory of the real train step."""
  from re3_jax.training import train_step  # pylint: disable=g-import-not-at-top
  data = pipeline.PipelineConfig(num_threads=2 * (os.cpu_count() or 1))
  host = next(pipeline.Pipeline(data, seq_len=unrolls, batch_size=batch, seed=0,
                                process_index=0, process_count=1))
  mesh = train_step.make_mesh()
  optim = train_step.OptimConfig()
  optimizer = train_step.make_optimizer(optim)
  step = train_step.make_train_step(mesh, model_config=config, optim=optim, optimizer=optimizer,
                                    scan_unroll=scan_unroll)
  state = jax.device_put(train_step.init_state(jax.random.key(0), config, optimizer),
                         train_step.replicated(mesh))
  device_batch = train_step.shard_batch(mesh, host)
  prob = jnp.float32(0.5)
  flops = 3 * forward_flops_per_frame(config) * batch * unrolls  # forward + backward
  holder = {'state': state}

  def run():
    for _ in range(steps_per_run):
      holder['state'], metrics = step(holder['state'], device_batch, prob)
    jax.block_until_ready(metrics)
  rate = _median_rate(run, steps_per_run * batch * unrolls, runs)
  step_s = batch * unrolls / rate
  result = {'frame_steps_per_s': rate, 'step_s': step_s, 'step_tflop': flops / 1e12}
  peak = peak_tflops(config.dtype, peak)
  if peak and flops:
    result['mfu'] = flops / step_s / (peak * 1e12 * jax.device_count())
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    result['peak_memory_gib'] = stats['peak_bytes_in_use'] / 2**30
  return result


def run_train_benchmark(configs, precision, stages, runs, out, peak: float = 0.0,
                        scan_unroll: int | bool | None = None) -> dict:
  info = device_info()
  info.update(precision=precision, runs=runs,
              scan_unroll='default' if scan_unroll is None else scan_unroll)
  rows = []
  for name in configs:
    config = model.with_precision(model.get_config(name), precision)
    for stage in stages:
      unrolls, batch = curriculum.parse_stage(stage)
      row = {'config': name, 'stage': stage}
      row.update(bench_train_step(config, unrolls, batch, runs, peak=peak,
                                  scan_unroll=scan_unroll))
      rows.append(row)
      extra = ''.join([f'  MFU {row["mfu"]:.1%}' if 'mfu' in row else '',
                       f'  peak {row["peak_memory_gib"]:.1f} GiB'
                       if 'peak_memory_gib' in row else ''])
      print(f'{name:>6} {stage:>5}  {row["frame_steps_per_s"]:10.1f} frame-steps/s  '
            f'{row["step_s"] * 1e3:9.1f} ms/step  {row["step_tflop"]:.3f} TFLOP/step{extra}',
            flush=True)
  report = {'info': info, 'results': rows}
  pathlib.Path(out).write_text(json.dumps(report, indent=2))
  return report

def main(argv):
  if len(argv) != 2 or argv[1] not in ('tracker', 'input', 'train'):
    raise app.UsageError('usage: python -m re3_jax.benchmark tracker|input|train [--flags]')
  cli.quiet_library_logs()
  name = argv[1]
  out = _OUT.value or f'benchmark_{name}.json'
  info = device_info()
  print(f'backend={info["backend"]} device={info["device"]} x{info["device_count"]} '
        f'jax={info["jax"]} cpus={info["cpu_count"]}')
  if name == 'tracker':
    objects = [int(n) for n in _OBJECTS.value]
    run_tracker_benchmark(_CONFIGS.value, _PRECISIONS.value, objects, _FRAMES.value, _RUNS.value,
                          out)
  elif name == 'train':
    run_train_benchmark(_CONFIGS.value, _TRAIN_PRECISION.value, _STAGES.value, _RUNS.value, out,
                        _PEAK_TFLOPS.value, _SCAN_UNROLL.value or None)
  else:
    run_input_benchmark(_SOURCES.value, _STAGES.value, _BATCHES.value, _RUNS.value,
                        _THREADS.value, _WORKERS.value, _VID_FRAMES.value,
                        [m for m in _COMPARE_MODELS.value if m], out)
  print(f'saved {out}')


if __name__ == '__main__':
  app.run(main)
