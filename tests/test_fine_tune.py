"""README's "Training on your own videos": its fine-tune and evaluate commands, as written."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from re3_jax.testing import fake_datasets

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(args, cwd, extra=()):
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable] + args[1:] + list(extra), cwd=cwd, capture_output=True,
                        text=True, timeout=900, env=env)


@pytest.mark.slow
def test_readme_fine_tune_command_runs_as_written(tmp_path, readme_commands):
  [train] = readme_commands('--config.init_params=shipped')
  [evaluate] = readme_commands('--tracker.checkpoint=runs/mine/checkpoints')
  assert train[:3] == ['python3', '-m', 're3_jax.train'] and '--config.init_params=shipped' in train
  assert evaluate[:3] == ['python3', '-m', 're3_jax.evaluate']
  # A user's folder: my_data and my_val beside the flagfile, nothing of ../shared (the
  # pretrained_tower path the shipped recipe's flagfile takes from real_nano_cpu.flags is
  # then missing: init_params wins and it is not read).
  (tmp_path / 'experiments').symlink_to(REPO / 'experiments')
  rows = [[20.0 + 2 * t, 16.0 + t, 24, 20] for t in range(6)]
  for folder in ('my_data', 'my_val'):
    fake_datasets.write_otb_sequence(tmp_path / folder, 'walk', rows, size=(72, 96))
  # Only the run's length and sizes shrink (a training step of the nano model at 640x360
  # takes seconds on a CPU); every setting the README gives is used as written.
  small = ['--config.steps=1', '--config.curriculum.stages=2x2@0.5',
           '--config.curriculum.stage_steps=1', '--config.data.frame_size=72,96',
           '--config.data.num_threads=1', '--config.eval_every=1', '--config.log_every=1',
           '--config.checkpoint_every=1']
  run = _run(train, tmp_path, small)
  assert run.returncode == 0, run.stderr[-3000:]
  assert 'done: step 1' in run.stdout
  assert re.search(r'init_params shipped holds the tower: pretrained_tower \S+ is not loaded',
                   run.stderr), run.stderr[-3000:]
  assert 'val_success' in run.stdout  # validated on my_val
  flags_txt = (tmp_path / 'runs/mine/flags.txt').read_text().splitlines()
  assert '--config.optim.learning_rate=5e-05' in flags_txt
  assert '--config.optim.tower_lr_scale=0.0' in flags_txt  # the tower frozen
  run = _run(evaluate, tmp_path)
  assert run.returncode == 0, run.stderr[-3000:]
  assert (tmp_path / 'runs/mine/eval/results.json').is_file()
