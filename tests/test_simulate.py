"""Tests of the simulator's command line, `re3_jax.simulate` (its mistakes: test_cli.py)."""

import pathlib
import subprocess
import sys

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_command_line_writes_the_contact_sheet(tmp_path):
  out = tmp_path / 'sheet.png'
  run = subprocess.run([sys.executable, '-m', 're3_jax.simulate', f'--out={out}',
                        '--sequences=2', '--length=3', '--seed=1'],
                       cwd=ROOT, capture_output=True, text=True)
  assert run.returncode == 0, run.stderr[-3000:]
  assert '2 procedural sequences of 3 frames' in run.stdout
  with Image.open(out) as im:
    assert im.size == (8 * 130 + 2, 2 * 130 + 2)
