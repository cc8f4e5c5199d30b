r"""Benchmarks: ``python -m re3_jax.benchmark tracker|input|train [--flags]``.

Each prints a table and saves JSON (``--out``, default ``benchmark_<name>.json``); the
measurements are in `re3_jax.benchmarks`:

``tracker`` (`benchmarks.tracker_speed`): for each model config (``--configs``, random
weights; or the one model of ``--tracker.checkpoint``) and precision (``--precisions``), the
other ``--tracker.*`` settings (`tracker_config.TrackerConfig`) for all, frames/s
of one object through `Re3Tracker.track`, object-frames/s of N objects through
`Re3Tracker.multi_track`, and frames/s of `functional.track_video` over a clip on the device,
each next to a reference product timed in the same process (and, with ``--nanotrack_dir``,
OpenCV's NanoTrack on the same frames).

``input`` (`benchmarks.input_speed`): the input pipeline at each curriculum stage
``--stages`` (unrolls x batch), sequences/s and frames/s for the synthetic default and a
VID-like fake built with the real ``imagenet_vid`` builder, next to the frame-steps/s of
a stand-in train step for ``--compare_models``.

``train`` (`benchmarks.train_speed`): the real jitted train step for each ``--configs``
model and ``--stages`` stage: frame-steps/s, model FLOPs, MFU against the device's peak
(``--peak_tflops``, or a table of known GPUs) and peak device memory.
"""

from __future__ import annotations

from absl import app
from absl import flags

from re3_jax import cli
from re3_jax import model
from re3_jax.benchmarks import input_speed
from re3_jax.benchmarks import timing
from re3_jax.benchmarks import tracker_speed
from re3_jax.benchmarks import train_speed

_CONFIGS = flags.DEFINE_list('configs', ['paper', 'small'], 'Model configs to benchmark '
                             '(tracker: random weights, unless --tracker.checkpoint is given).')
_TRACKER = cli.define_tracker_flags()  # tracker: the settings of every row's tracker
_PRECISIONS = flags.DEFINE_list('precisions', ['float32', 'bf16_weights'],
                                f'Dtype policies, from {sorted(model.PRECISIONS)}.')
_OBJECTS = flags.DEFINE_list('objects', ['8', '64'], 'Object counts for multi_track.')
_FRAMES = flags.DEFINE_integer('frames', 60, 'Frames per timed run.')
_RUNS = flags.DEFINE_integer('runs', 5, 'Timed runs (after one warm-up); the median is reported '
                             '(train: 0 compiles and analyses the step only).')
_SEQUENCE = flags.DEFINE_string(
    'sequence', None, 'A sequence folder (OTB or VOT layout) to take frames from; default: '
    '../shared/sequences/otb_crossing if present, else synthetic 360x240 frames.')
_NANOTRACK_DIR = flags.DEFINE_string(
    'nanotrack_dir', None, 'tracker: the folder of NanoTrack v2\'s backbone.onnx and head.onnx '
    '(e.g. ../shared/weights/nanotrack_v2): OpenCV\'s NanoTrack is timed on the same frames '
    'beside each row.')
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
    'unroll.default_scan_unroll).')
_TOWER_CHUNK = flags.DEFINE_integer(
    'tower_chunk', -1, 'train: crop pairs per tower call (-1: the default, see '
    'unroll.default_tower_chunk; 0: all at once).')
_REMAT = flags.DEFINE_bool('remat', False, "train: rematerialise the tower's activations.")
_STEPWISE_TOO = flags.DEFINE_list(
    'stepwise_too', [], 'train: CONFIG:STAGE pairs (tiny:2x64) whose stepwise step (the tower '
    'inside the time loop) is timed too, for the ratio.')
_COMPARE_MODELS = flags.DEFINE_list('compare_models', ['tiny', 'small'],
                                    'input: model configs of the stand-in train step '
                                    '(empty to skip).')


def _trackers():
  """The tracker benchmark's rows: --configs (or --tracker.checkpoint) x --precisions."""
  base = _TRACKER()
  if base.random_model or base.precision:
    raise ValueError('benchmark tracker: models and precisions are --configs and --precisions '
                     '(every pair is timed), not --tracker.random_model or --tracker.precision')
  if base.checkpoint and flags.FLAGS['configs'].present:
    raise ValueError('benchmark tracker: give --configs (random weights) or '
                     '--tracker.checkpoint, not both')
  if base.checkpoint:
    return [base.replace(precision=p) for p in _PRECISIONS.value]
  return [base.replace(random_model=c, precision=p) for c in _CONFIGS.value
          for p in _PRECISIONS.value]


def main(argv):
  if len(argv) != 2 or argv[1] not in ('tracker', 'input', 'train'):
    raise app.UsageError('usage: python -m re3_jax.benchmark tracker|input|train [--flags]')
  name = argv[1]
  out = _OUT.value or f'benchmark_{name}.json'
  info = timing.device_info()
  print(f'backend={info["backend"]} device={info["device"]} x{info["device_count"]} '
        f'jax={info["jax"]} cpus={info["cpu_count"]}')
  if name == 'tracker':
    objects = [int(n) for n in _OBJECTS.value]
    tracker_speed.run_tracker_benchmark(_trackers(), objects, _FRAMES.value, _RUNS.value, out,
                                        _SEQUENCE.value, _NANOTRACK_DIR.value)
  elif name == 'train':
    train_speed.run_train_benchmark(_CONFIGS.value, _TRAIN_PRECISION.value, _STAGES.value,
                                    _RUNS.value, out, _PEAK_TFLOPS.value,
                                    _SCAN_UNROLL.value or None, _STEPWISE_TOO.value,
                                    None if _TOWER_CHUNK.value < 0 else _TOWER_CHUNK.value,
                                    _REMAT.value)
  else:
    input_speed.run_input_benchmark(_SOURCES.value, _STAGES.value, _BATCHES.value, _RUNS.value,
                                    _THREADS.value, _WORKERS.value, _VID_FRAMES.value,
                                    [m for m in _COMPARE_MODELS.value if m], out)
  print(f'saved {out}')


if __name__ == '__main__':
  cli.run(main, takes_arguments=True)
