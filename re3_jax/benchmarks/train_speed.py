"""The real train step's speed, FLOPs and model FLOPs utilisation.

`run_train_benchmark`: the jitted train step (`train_step.make_train_step`, all devices,
self-training probability 0.5) for each model config and curriculum stage on a batch
of the synthetic pipeline already on the device: frame-steps/s (one frame of one
sequence through crops + network + backward), the step's model FLOPs (3x XLA's count
of the forward pass of one crop pair, per frame-step), the model FLOPs utilisation
against the device's peak (given, or from `PEAK_TFLOPS`), and the peak device memory
where the backend reports it.
"""

from __future__ import annotations

import os
from typing import Sequence

import jax
import jax.numpy as jnp

from re3_jax import model
from re3_jax.benchmarks import timing
from re3_jax.core import crops
from re3_jax.input import pipeline
from re3_jax.training import stages as stages_lib
from re3_jax.training import train_step

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
  rate = timing.median_rate(run, steps_per_run * batch * unrolls, runs)
  step_s = batch * unrolls / rate
  result = {'frame_steps_per_s': rate, 'step_s': step_s, 'step_tflop': flops / 1e12}
  peak = peak_tflops(config.dtype, peak)
  if peak and flops:
    result['mfu'] = flops / step_s / (peak * 1e12 * jax.device_count())
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    result['peak_memory_gib'] = stats['peak_bytes_in_use'] / 2**30
  return result


def run_train_benchmark(configs: Sequence[str], precision: str, stages: Sequence[str],
                        runs: int, out: str | os.PathLike, peak: float = 0.0,
                        scan_unroll: int | bool | None = None) -> dict:
  """Every config x stage (``UNROLLSxBATCH``): prints a row each, saves and returns the report.

  `peak` 0 takes the peak from `PEAK_TFLOPS`; `scan_unroll` None is the train step's default.
  """
  info = timing.device_info()
  info.update(precision=precision, runs=runs,
              scan_unroll='default' if scan_unroll is None else scan_unroll)
  rows = []
  for name in configs:
    config = model.with_precision(model.get_config(name), precision)
    for stage in stages:
      unrolls, batch = stages_lib.parse_stage(stage)
      row = {'config': name, 'stage': stage}
      row.update(bench_train_step(config, unrolls, batch, runs, peak=peak,
                                  scan_unroll=scan_unroll))
      rows.append(row)
      print(format_train_row(row), flush=True)
  return timing.write_report(info, rows, out)


def format_train_row(row: dict) -> str:
  """The printed line of one config x stage row."""
  extra = ''.join([f'  MFU {row["mfu"]:.1%}' if 'mfu' in row else '',
                   f'  peak {row["peak_memory_gib"]:.1f} GiB' if 'peak_memory_gib' in row else ''])
  return (f'{row["config"]:>6} {row["stage"]:>5}  {row["frame_steps_per_s"]:10.1f} frame-steps/s  '
          f'{row["step_s"] * 1e3:9.1f} ms/step  {row["step_tflop"]:.3f} TFLOP/step{extra}')
