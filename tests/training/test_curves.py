"""Tests of `re3_jax.training.curves` and its command line (``python -m re3_jax.plots``)."""

import json
import pathlib
import subprocess
import sys

from PIL import Image
import pytest

from re3_jax.training import curves

REPO = pathlib.Path(__file__).resolve().parents[2]


def _write(path, rows, extra=''):
  path.write_text(''.join(json.dumps(r) + '\n' for r in rows) + extra)


def test_read_metrics_names_the_corrupt_line(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  _write(path, [{'step': 1, 'l1': 2.0}, {'step': 2, 'l1': 1.5}], '\n{"step": 3, "l1"\n')
  with pytest.raises(ValueError, match=r'metrics.jsonl:4: not JSON'):
    curves.read_metrics(path)
  _write(path, [{'step': 1, 'l1': 2.0}], '\n')  # blank lines are skipped
  assert curves.read_metrics(path) == [{'step': 1, 'l1': 2.0}]


def test_legends_cover_no_curve():
  # Validation curves rising to the batch IoU's level (where a legend in a corner sat).
  rows = [{'step': s, 'l1': 1 / s, 'mean_iou': 0.1 * s} for s in range(1, 10)]
  rows += [{'step': s, 'val_success': 0.08 * s, 'val_precision': 0.09 * s} for s in (1, 5, 9)]
  fig = curves.figure(rows)
  renderer = fig.canvas.get_renderer()
  for ax in fig.axes:
    legend = ax.get_legend()
    assert legend is not None and len(legend.get_texts()) == len(ax.get_lines()) - (ax is fig.axes[1])
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
  assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()][1:] == [
      'validation: OTB success (tracker)', 'validation: precision at 20 px (tracker)']


def test_command_line_plots_a_run_and_reports_a_missing_one_in_one_line(tmp_path):
  rows = [{'step': s, 'l1': 1 / s, 'mean_iou': 0.1 * s} for s in range(1, 6)]
  rows.append({'step': 5, 'val_mean_iou': 0.4})
  rows.append({'step': 5, 'val_success': 0.3, 'val_precision': 0.5})  # a dataset's scores
  _write(tmp_path / 'metrics.jsonl', rows)
  out = tmp_path / 'curve.png'
  run = subprocess.run([sys.executable, '-m', 're3_jax.plots', f'--workdir={tmp_path}',
                        f'--out={out}'], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  width, height = Image.open(out).size  # figsize (10, 4.6) at 100 dpi, cut to its contents
  assert 900 <= width <= 1050 and 380 <= height <= 480, (width, height)
  # A user's mistake: one line naming the file, status 1, no traceback unless asked.
  missing = tmp_path / 'nowhere'
  for extra, traceback in (([], False), (['--traceback'], True)):
    bad = subprocess.run([sys.executable, '-m', 're3_jax.plots', f'--workdir={missing}',
                          *extra], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert 're3_jax.plots: error: [Errno 2] No such file or directory: ' in bad.stderr
    assert str(missing / 'metrics.jsonl') in bad.stderr
    assert ('Traceback (most recent call last)' in bad.stderr) == traceback, bad.stderr
  extra = subprocess.run([sys.executable, '-m', 're3_jax.plots', f'--workdir={tmp_path}', 'x'],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
  assert extra.returncode == 1 and "unexpected arguments ['x']" in extra.stderr
