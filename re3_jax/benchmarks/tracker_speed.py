"""The tracker's speed: one object per frame, N objects batched, and a clip on the device.

For each tracker (`run_tracker_benchmark`: a `tracker_config.TrackerConfig` each, random
weights of a model config or a checkpoint, in a precision, with its reset interval):

* ``per_frame_fps``: one object through `Re3Tracker.track` (host uint8 frames
  in, host box out: crops, transfer and Python included);
* ``object_frames_per_s_N`` for N objects through `Re3Tracker.multi_track`;
* ``track_video_fps``: `functional.track_video` over a clip already on the device.

Each figure is the median over `runs` timed runs after one warm-up run. Each
result also carries a reference measured in the same process next to it (the
time of a float32 fc6-sized matrix-vector product, memory-bound on CPUs), so
figures from noisy machines can be compared as ratios; given NanoTrack's models
(``nanotrack_dir``), also OpenCV's NanoTrack on the same frames, the tracker a
practitioner would pick instead (``nanotrack_fps``, and ``per_frame_fps`` over
it as ``speed_vs_nanotrack``).
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.benchmarks import timing
from re3_jax.evaluation import baselines
from re3_jax.datasets import sequences
from re3_jax.media import synthetic_clips
from re3_jax.tracking import functional
from re3_jax.tracking import tracker as tracker_lib
from re3_jax.tracking import tracker_config

# The frames taken by default, if present: ../shared/sequences/otb_crossing beside the checkout.
DEFAULT_SEQUENCE = (pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'sequences' /
                    'otb_crossing')


def load_frames(n: int, sequence: str | os.PathLike | None = None):
  """(frames (T, H, W, 3) uint8, the first box, a description) of `n` frames.

  From `sequence` (an OTB or VOT folder), else `DEFAULT_SEQUENCE` if present, else a
  synthetic 360x240 clip.
  """
  if sequence is None and DEFAULT_SEQUENCE.exists():
    sequence = DEFAULT_SEQUENCE
  if sequence is not None:
    seq = sequences.load_sequence(sequence, max_frames=n)
    return seq.frames, seq.boxes[0], str(sequence)
  clip = synthetic_clips.synthetic_clip(n, seed=0)
  return clip.frames, clip.boxes[0], 'synthetic 360x240'


def bench_tracker(tracker: tracker_config.TrackerConfig, frames, box, objects: Sequence[int],
                  runs: int) -> dict:
  """The three rates of `tracker`'s weights on `frames` (see the module docstring)."""
  params, config = tracker_config.load_weights(tracker)
  result = {}
  make = lambda: tracker_lib.Re3Tracker(params, config, reset_interval=tracker.reset_interval,
                                        compilation_cache=tracker.compilation_cache)
  tr = make()

  def per_frame():
    tr.track(0, frames[0], box)
    for f in frames[1:]:
      tr.track(0, f)
  result['per_frame_fps'] = timing.median_rate(per_frame, len(frames), runs)

  h, w = frames.shape[1:3]
  for n in objects:
    rng = np.random.default_rng(n)
    centers = rng.uniform(0.2, 0.8, (n, 2)) * [w, h]
    sizes = rng.uniform(0.1, 0.3, (n, 2)) * [w, h]
    starts = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    ids = list(range(n))
    mt = make()
    nf = max(2, len(frames) // 4)

    def multi():
      mt.multi_track(ids, frames[0], list(starts))
      for f in frames[1:nf]:
        mt.multi_track(ids, f)
    result[f'object_frames_per_s_{n}'] = timing.median_rate(multi, n * nf, runs)

  device_frames = jnp.asarray(frames)
  prepared = tr.params
  run_video = lambda: functional.track_video(
      prepared, device_frames, box, config=config,
      reset_interval=tracker.reset_interval).block_until_ready()
  result['track_video_fps'] = timing.median_rate(run_video, len(frames), runs)
  policy = next(name for name, dtypes in model.PRECISIONS.items()
                if dtypes == (config.dtype, config.param_dtype))
  result.update(config=config.name, precision=policy)
  return result


def bench_nanotrack(nanotrack_dir, frames, box, runs: int) -> float:
  """Frames/s of OpenCV's NanoTrack through the harness's wrapper, as `bench_tracker` times Re3."""
  nano = baselines.OpenCVTracker('opencv_nano', nanotrack_dir)

  def per_frame():
    nano.init(frames[0], box)
    for f in frames[1:]:
      nano.update(f)
  return timing.median_rate(per_frame, len(frames), runs)


def run_tracker_benchmark(trackers: Sequence[tracker_config.TrackerConfig],
                          objects: Sequence[int], n_frames: int, runs: int,
                          out: str | os.PathLike,
                          sequence: str | os.PathLike | None = None,
                          nanotrack_dir: str | os.PathLike | None = None) -> dict:
  """Every tracker: prints a row each, saves and returns the JSON report."""
  frames, box, source = load_frames(n_frames, sequence)
  info = timing.device_info()
  info.update(frames=source, frame_size=list(frames.shape[1:3]), n_frames=len(frames), runs=runs)
  rows = []
  for tracker in trackers:
    ref_before = timing.reference_matvec_ms()
    res = bench_tracker(tracker, frames, box, objects, runs)
    res.update(weights=tracker.describe(),
               reset_interval=tracker.reset_interval,
               reference_matvec_ms=(ref_before + timing.reference_matvec_ms()) / 2)
    if nanotrack_dir is not None:
      res['nanotrack_fps'] = bench_nanotrack(nanotrack_dir, frames, box, runs)
      res['speed_vs_nanotrack'] = res['per_frame_fps'] / res['nanotrack_fps']
    rows.append(res)
    print(format_row(res, objects), flush=True)
  return timing.write_report(info, rows, out)


def format_row(r: dict, objects: Sequence[int]) -> str:
  """One printed line of a `bench_tracker` result."""
  multi = ' '.join(f'{n}obj={r[f"object_frames_per_s_{n}"]:9.1f}' for n in objects)
  nano = (f'  NanoTrack {r["nanotrack_fps"]:.1f} fps (Re3 x{r["speed_vs_nanotrack"]:.2f})'
          if 'nanotrack_fps' in r else '')
  return (f'{r["config"]:>7} {r["precision"]:>12}  per_frame={r["per_frame_fps"]:8.1f} fps  '
          f'track_video={r["track_video_fps"]:8.1f} fps  object-frames/s: {multi}  '
          f'(ref fc6 f32 matvec {r["reference_matvec_ms"]:.2f} ms){nano}')
