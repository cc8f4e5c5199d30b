"""Tests of the benchmark measurements (not of speed: figures live in WORKSPACE.md)."""

import pytest

from re3_jax import model
from re3_jax.benchmarks import input_speed
from re3_jax.benchmarks import train_speed
from re3_jax.input import pipeline


def test_forward_flops_per_frame_counts_the_conv_tower():
  paper = train_speed.forward_flops_per_frame(model.get_config('paper'))
  small = train_speed.forward_flops_per_frame(model.get_config('small'))
  tiny = train_speed.forward_flops_per_frame(model.get_config('tiny'))
  # Two crops through the CaffeNet-sized tower are ~2.7 GFLOP; fc6 and the LSTMs add the rest.
  assert 2.6e9 < paper < 3.1e9 and 2.5e9 < small < paper and tiny < 0.1e9


@pytest.mark.slow
def test_train_step_and_pipeline_rates_are_measured():
  tiny = model.get_config('tiny')
  row = train_speed.bench_train_step(tiny, unrolls=2, batch=2, runs=1, steps_per_run=1)
  assert row['frame_steps_per_s'] > 0 and row['compile_s'] > 0
  # Model FLOPs: forward + backward + the window-placing forward, 4 network passes a frame-step.
  forward = train_speed.forward_flops_per_frame(tiny)
  assert row['model_tflop_per_step'] == pytest.approx(4 * forward * 2 * 2 / 1e12)
  # XLA's count of the compiled step covers at least the batched forward and backward passes.
  assert row['xla_flops_per_frame_step'] > 2 * forward
  assert row['xla_bytes_per_frame_step'] > 0 and row['xla_temp_gib'] > 0
  assert row['h200_roofline_frame_steps_per_s'] > 0
  old = train_speed.bench_train_step(tiny, unrolls=2, batch=2, runs=1, steps_per_run=1,
                                     stepwise=True)
  assert old['model_tflop_per_step'] == pytest.approx(3 * forward * 2 * 2 / 1e12)
  # runs=0: compiled and analysed, not run (the tower in one call, as an accelerator runs it).
  analysed = train_speed.bench_train_step(tiny, unrolls=2, batch=2, runs=0, tower_chunk=0)
  assert 'frame_steps_per_s' not in analysed and analysed['xla_flops_per_frame_step'] > 0
  config = pipeline.PipelineConfig(frame_size=(120, 160), sim_size=(96, 128), num_threads=1)
  rates = input_speed.pipeline_rate(config, unrolls=2, batch=2, n_batches=1, runs=1)
  assert rates['frames_per_s'] == pytest.approx(2 * rates['sequences_per_s'])
