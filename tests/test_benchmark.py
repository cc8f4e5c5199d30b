"""Tests of the benchmark command line: its flags, its JSON report, its usage error."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*args, cwd):
  return subprocess.run([sys.executable, '-m', 're3_jax.benchmark', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS='cpu'))


def test_input_benchmark_writes_its_report(tmp_path):
  proc = _run('input', '--sources=synthetic', '--stages=2x2', '--batches=1', '--runs=1',
              '--threads=1', '--compare_models=', '--out=b.json', cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'saved b.json' in proc.stdout and 'frames/s' in proc.stdout
  report = json.loads((tmp_path / 'b.json').read_text())
  assert report['info']['threads'] == 1 and report['info']['runs'] == 1
  (row,) = report['results']
  assert (row['source'], row['stage'], row['frame_size']) == ('synthetic', '2x2', [400, 400])
  assert row['frames_per_s'] > 0 and 'train_step_proxy_frame_steps_per_s' not in row


def test_unknown_benchmark_is_a_usage_error(tmp_path):
  proc = _run('speed', cwd=tmp_path)
  assert proc.returncode != 0
  assert 'usage: python -m re3_jax.benchmark tracker|input|train' in proc.stderr


# What the H200 machine lacks (DEVELOPERS: no tensorflow, tensorflow-datasets, grain or
# array_record there): the train benchmark must not need them.
_WITHOUT_DATA_PACKAGES = '''
import runpy, sys
sys.modules.update(dict.fromkeys(['tensorflow', 'tensorflow_datasets', 'grain', 'array_record',
                                  'tf_keras', 'torch', 'got10k'], None))
sys.argv = ['re3_jax.benchmark'] + sys.argv[1:]
runpy.run_module('re3_jax.benchmark', run_name='__main__')
'''


def test_train_benchmark_needs_no_data_packages_and_reports_its_figures(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-c', _WITHOUT_DATA_PACKAGES, 'train', '--configs=tiny', '--stages=2x2',
       '--runs=1', '--stepwise_too=tiny:2x2', '--out=t.json'], cwd=tmp_path,
      capture_output=True, text=True, timeout=600,
      env=dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS='cpu'))
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads((tmp_path / 't.json').read_text())
  batched, stepwise = report['results']
  assert stepwise['step'] == 'stepwise' and 'step' not in batched
  assert batched['speedup_over_stepwise'] == (batched['frame_steps_per_s']
                                              / stepwise['frame_steps_per_s'])
  for row in (batched, stepwise):
    for key in ('compile_s', 'frame_steps_per_s', 'model_tflop_per_step',
                'xla_flops_per_frame_step', 'xla_bytes_per_frame_step', 'xla_temp_gib',
                'h200_roofline_frame_steps_per_s'):
      assert row[key] > 0, (key, row)
