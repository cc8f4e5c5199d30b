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
import time
from typing import Sequence

import jax
import jax.numpy as jnp

from re3_jax import model
from re3_jax.benchmarks import timing
from re3_jax.input import batch as batch_lib
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
  pairs = jax.ShapeDtypeStruct((1, 1, 2, config.crop_size, config.crop_size, 3), jnp.float32)
  fn = jax.jit(lambda p, x: model.apply(p, x, model.initial_state(1, config), config)[0])
  cost = fn.lower(params, pairs).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get('flops', 0.0)) if cost else 0.0


# An H200's dense bfloat16 peak and its HBM bandwidth: the roofline the issue's GPU goal is
# reasoned against (NVIDIA's data sheet: 989 TFLOP/s, 4.8 TB/s).
H200_BF16_FLOPS = 989e12
H200_BYTES_PER_S = 4.8e12


def bench_train_step(config: model.ModelConfig, unrolls: int, batch: int, runs: int,
                     steps_per_run: int = 3, peak: float = 0.0,
                     scan_unroll: int | bool | None = None, stepwise: bool = False,
                     self_train_prob: float = 0.5, tower_chunk: int | None = None,
                     remat: bool = False) -> dict:
  """Compile time, frame-steps/s, FLOPs, bytes, MFU and memory of the real train step.

  Args:
    config: the model.
    unrolls, batch: the stage (``T``, global ``B``).
    runs: timed runs after one warm-up; the median is reported. 0: compile
      and analyse only (no step runs; no rate, MFU or roofline ratio).
    steps_per_run: steps per timed run.
    peak: the device's dense peak TFLOP/s for MFU (0: `peak_tflops`).
    scan_unroll: the step's ``scan_unroll`` (None: its default).
    stepwise: time `unroll.unroll_stepwise` (the tower inside the time
      loop) instead of the batched step.
    self_train_prob: the stage's self-training probability.
    tower_chunk, remat: the batched step's `unroll.tower` settings.

  Returns:
    A row: ``compile_s`` (lowering and compiling, the persistent cache off);
    ``frame_steps_per_s`` and ``step_s``; ``model_tflop_per_step`` (3x XLA's
    count of the network's forward pass on one crop pair per frame-step, plus
    one more forward for the window-placing pass when any sequence
    self-trains: at 0.5 and B >= 4 it runs in effect always) and ``mfu``
    against `peak`; ``xla_flops_per_frame_step`` and
    ``xla_bytes_per_frame_step`` (XLA's cost analysis of the compiled step;
    a loop body counts once, so the stepwise step and the placing pass are
    undercounted); ``h200_roofline_frame_steps_per_s`` (model FLOPs at
    `H200_BF16_FLOPS` against XLA's bytes at `H200_BYTES_PER_S`, the slower
    of the two); ``xla_temp_gib`` and ``xla_argument_gib`` (XLA's buffer
    assignment: temporaries and arguments, on any backend) and
    ``peak_memory_gib`` where the backend reports it.
  """
  # The pipeline's sequences without its Grain iterator (machines without Grain run this too).
  data = pipeline.PipelineConfig()
  maker = pipeline.SequenceMaker(data, unrolls, seed=0)
  host = batch_lib.collate([maker(i) for i in range(batch)], data.frame_size)
  mesh = train_step.make_mesh()
  optim = train_step.OptimConfig()
  optimizer = train_step.make_optimizer(optim)
  step = train_step.make_train_step(mesh, model_config=config, optim=optim, optimizer=optimizer,
                                    scan_unroll=scan_unroll, stepwise=stepwise,
                                    tower_chunk=tower_chunk, remat=remat)
  state = jax.device_put(train_step.init_state(jax.random.key(0), config, optimizer),
                         train_step.replicated(mesh))
  device_batch = train_step.shard_batch(mesh, host)
  prob = jnp.float32(self_train_prob)
  cache = jax.config.jax_enable_compilation_cache
  jax.config.update('jax_enable_compilation_cache', False)  # time the compiler, not the cache
  try:
    start = time.perf_counter()
    compiled = step.lower(state, device_batch, prob).compile()
    compile_s = time.perf_counter() - start
  finally:
    jax.config.update('jax_enable_compilation_cache', cache)
  frame_steps = batch * unrolls
  forward = forward_flops_per_frame(config)
  passes = 3 + (1 if self_train_prob > 0 and not stepwise else 0)
  flops = passes * forward * frame_steps
  result = {'compile_s': compile_s, 'model_tflop_per_step': flops / 1e12}
  if runs > 0:
    holder = {'state': state}

    def run():
      for _ in range(steps_per_run):
        holder['state'], metrics = compiled(holder['state'], device_batch, prob)
      jax.block_until_ready(metrics)
    rate = timing.median_rate(run, steps_per_run * frame_steps, runs)
    step_s = frame_steps / rate
    result.update(frame_steps_per_s=rate, step_s=step_s)
    peak = peak_tflops(config.dtype, peak)
    if peak and flops:
      result['mfu'] = flops / step_s / (peak * 1e12 * jax.device_count())
  cost = compiled.cost_analysis()
  cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
  if cost.get('flops'):
    result['xla_flops_per_frame_step'] = float(cost['flops']) / frame_steps
  if cost.get('bytes accessed'):
    xla_bytes = float(cost['bytes accessed']) / frame_steps
    result['xla_bytes_per_frame_step'] = xla_bytes
    result['h200_roofline_frame_steps_per_s'] = 1.0 / max(
        passes * forward / H200_BF16_FLOPS, xla_bytes / H200_BYTES_PER_S)
  memory = compiled.memory_analysis()
  if memory is not None:
    result['xla_temp_gib'] = memory.temp_size_in_bytes / 2**30
    result['xla_argument_gib'] = memory.argument_size_in_bytes / 2**30
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    result['peak_memory_gib'] = stats['peak_bytes_in_use'] / 2**30
  return result


def run_train_benchmark(configs: Sequence[str], precision: str, stages: Sequence[str],
                        runs: int, out: str | os.PathLike, peak: float = 0.0,
                        scan_unroll: int | bool | None = None,
                        stepwise_too: Sequence[str] = (), tower_chunk: int | None = None,
                        remat: bool = False) -> dict:
  """Every config x stage (``UNROLLSxBATCH``): prints a row each, saves and returns the report.

  `peak` 0 takes the peak from `PEAK_TFLOPS`; `scan_unroll` and `tower_chunk` None are the
  train step's defaults.
  `stepwise_too` names ``CONFIG:STAGE`` pairs whose stepwise step (the tower
  inside the time loop) is timed too, in this process, with the ratio of the
  batched step's rate to it.
  """
  info = timing.device_info()
  info.update(precision=precision, runs=runs,
              scan_unroll='default' if scan_unroll is None else scan_unroll,
              tower_chunk='default' if tower_chunk is None else tower_chunk, remat=remat)
  rows = []
  for name in configs:
    config = model.with_precision(model.get_config(name), precision)
    for stage in stages:
      unrolls, batch = stages_lib.parse_stage(stage)
      row = {'config': name, 'stage': stage}
      row.update(bench_train_step(config, unrolls, batch, runs, peak=peak,
                                  scan_unroll=scan_unroll, tower_chunk=tower_chunk, remat=remat))
      rows.append(row)
      print(format_train_row(row), flush=True)
      if f'{name}:{stage}' in stepwise_too:
        old = {'config': name, 'stage': stage, 'step': 'stepwise'}
        old.update(bench_train_step(config, unrolls, batch, runs, peak=peak,
                                    scan_unroll=scan_unroll, stepwise=True))
        rows.append(old)
        if runs > 0:
          row['speedup_over_stepwise'] = row['frame_steps_per_s'] / old['frame_steps_per_s']
        ratio = f'  (batched: {row["speedup_over_stepwise"]:.2f}x)' if runs > 0 else ''
        print(format_train_row(old) + ratio, flush=True)
  return timing.write_report(info, rows, out)


def format_train_row(row: dict) -> str:
  """The printed line of one config x stage row."""
  extra = ''.join([
      f'  MFU {row["mfu"]:.1%}' if 'mfu' in row else '',
      f'  XLA {row["xla_bytes_per_frame_step"] / 1e6:.0f} MB/frame-step'
      if 'xla_bytes_per_frame_step' in row else '',
      f'  temp {row["xla_temp_gib"]:.2f} GiB' if 'xla_temp_gib' in row else '',
      f'  peak {row["peak_memory_gib"]:.1f} GiB' if 'peak_memory_gib' in row else '',
      f'  H200 roofline {row["h200_roofline_frame_steps_per_s"]:.0f}/s'
      if 'h200_roofline_frame_steps_per_s' in row else ''])
  speed = (f'  {row["frame_steps_per_s"]:9.1f} frame-steps/s  {row["step_s"] * 1e3:9.1f} ms/step'
           if 'frame_steps_per_s' in row else '  (compiled and analysed only)')
  return (f'{row["config"]:>6} {row["stage"]:>5} {row.get("step", "batched"):>8}  '
          f'compile {row["compile_s"]:6.1f} s{speed}  {row["model_tflop_per_step"]:.3f} TFLOP/step'
          f'{extra}')
