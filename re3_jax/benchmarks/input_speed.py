"""The input pipeline's speed against the train step's, measured in one process.

`run_input_benchmark`: the input pipeline (`re3_jax.input.pipeline`) at each curriculum
stage (unrolls x batch): sequences/s and frames/s for the synthetic default
(procedural simulator) and for a VID-like fake (`vid_frames` frames of 1280x720 JPEG
per video, written by `re3_jax.testing.fake_datasets` and built with the real
``imagenet_vid`` builder in a temporary folder). Next to each, in the same process,
the frame-steps/s of a stand-in train step for each of `compare_models` (crops at the
true boxes + forward + backward of the L1 loss, jitted; the self-training train step
of ``re3_jax.train`` does the same work plus one crop per frame), so that the ratio
pipeline/train step is measured, not guessed.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from re3_jax import model
from re3_jax.benchmarks import timing
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import crops
from re3_jax.input import batch as batch_lib
from re3_jax.input import pipeline
from re3_jax.input.builders import build as build_lib
from re3_jax.testing import fake_datasets
from re3_jax.training import stages as stages_lib

SOURCES = ('synthetic', 'vid_fake')


def build_fake_vid(workdir: pathlib.Path, videos: int, frames: int, size=(720, 1280)) -> str:
  """Writes a VID-like fake of 1280x720 JPEGs, builds it, returns the data_dir."""
  manual = fake_datasets.write_vid(workdir / 'raw', videos=videos, frames=frames, size=size,
                                   tracks_per_video=1, quality=90)
  data_dir = workdir / 'tfds'
  build_lib.build('imagenet_vid', str(manual), str(data_dir))
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


def train_step_proxy_rate(config: model.ModelConfig, batch: batch_lib.Batch, runs: int) -> float:
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
    size = config.crop_size
    pair = jnp.stack([crops.crop_batch(flat(prev_frames), flat(windows), flat(prev_valid), size=size),
                      crops.crop_batch(flat(frames), flat(windows), flat(valid), size=size)],
                     axis=1)
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
  return timing.median_rate(run, b * t, runs)


def run_input_benchmark(sources: Sequence[str], stages: Sequence[str], n_batches: int,
                        runs: int, threads: int, workers: int, vid_frames: int,
                        compare_models: Sequence[str], out: str | os.PathLike) -> dict:
  """Every source x stage (``UNROLLSxBATCH``): prints a row each, saves and returns the report.

  `threads` 0 means 2 x the CPU count.
  """
  for source in sources:
    if source not in SOURCES:
      raise ValueError(f'unknown source {source!r}: synthetic or vid_fake')
  info = timing.device_info()
  threads = threads or 2 * (os.cpu_count() or 1)
  info.update(threads=threads, workers=workers, batches_per_run=n_batches, runs=runs)
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for source in sources:
      if source == 'synthetic':
        config = pipeline.PipelineConfig(num_threads=threads, num_workers=workers)
      else:
        videos = max(4, threads)
        data_dir = build_fake_vid(pathlib.Path(tmp), videos, vid_frames)
        config = pipeline.PipelineConfig(mixture=(('imagenet_vid', 1.0),), data_dir=data_dir,
                                         frame_size=(720, 1280), num_threads=threads,
                                         num_workers=workers)
      for stage in stages:
        unrolls, batch = stages_lib.parse_stage(stage)
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
        print(format_input_row(row), flush=True)
  return timing.write_report(info, rows, out)


def format_input_row(r: dict) -> str:
  """The printed lines of one source x stage row."""
  text = (f'{r["source"]:>9} {r["stage"]:>5} canvas={r["frame_size"][0]}x{r["frame_size"][1]}  '
          f'{r["sequences_per_s"]:8.1f} seq/s  {r["frames_per_s"]:8.1f} frames/s')
  for name, rate in r.get('train_step_proxy_frame_steps_per_s', {}).items():
    text += (f'\n{"":>16}{name} train-step stand-in {rate:8.1f} frame-steps/s: '
             f'pipeline/train step = {r["pipeline_over_train_step"][name]:.2f}')
  return text
