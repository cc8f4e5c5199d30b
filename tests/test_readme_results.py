"""README's results: the val table's command and the score section's run as written and give
their figures."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'


def _run_readme_evaluate(tmp_path, readme_commands, out: str):
  """Runs README's evaluate command with ``--out=OUT`` as written, from a folder beside a
  link to ../shared (so its --out lands in the test's folder); returns the output folder."""
  [command] = readme_commands(f'--out={out}')
  assert command[:3] == ['python3', '-m', 're3_jax.evaluate']
  (tmp_path / 'shared').symlink_to(SHARED)
  (tmp_path / 'here').mkdir()
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS='cpu')
  run = subprocess.run([sys.executable] + command[1:] + ['--noprogress'],
                       cwd=tmp_path / 'here', capture_output=True, text=True, timeout=1200,
                       env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  return tmp_path / 'here' / out


@pytest.mark.slow
def test_readme_val_table_command_runs_as_written(tmp_path, readme_commands):
  """The harness run of "Tracking real video out of the box" on the nine val sequences.

  The scores of the Re3 models are deterministic on one CPU; another CPU rounds differently
  and a tracker's box can flip on a sequence (car16 moved by ~0.14 between nearby weights;
  the shipped model's group2 ranges over 0.30-0.76 across SRE's 12 starts, 0.05 of the mean),
  so the means are checked within 0.05 of the table's: re3 0.683, re3_squeeze 0.450 (the
  same to the digit under XLA_FLAGS=--xla_cpu_max_isa=AVX2 here).
  NanoTrack and CSRT run through OpenCV, whose figures differ between CPUs (CSRT on bag:
  0.293 here, 0.397 elsewhere), and are only checked to be scored.
  """
  if not (SHARED / 'real_sequences' / 'val').is_dir() or not (
      SHARED / 'weights' / 'nanotrack_v2' / 'backbone.onnx').is_file():
    pytest.skip(f'real sequences or NanoTrack models not found in {SHARED}')
  saved = json.loads((_run_readme_evaluate(tmp_path, readme_commands, 'val_eval')
                      / 'results.json').read_text())
  means = {}
  for name, entry in saved['trackers'].items():
    assert len(entry['ope']['sequences']) == 9, name
    means[name] = entry['ope']['overall']['ope']['success_score']  # the mean over sequences
  assert set(means) == {'re3', 're3_squeeze', 'opencv_csrt', 'opencv_nano'}
  assert abs(means['re3'] - 0.683) < 0.05, means
  assert abs(means['re3_squeeze'] - 0.450) < 0.05, means


@pytest.mark.slow
def test_readme_score_command_runs_as_written(tmp_path, readme_commands):
  """The harness run of "Knowing when the target is lost": the shipped model's scores on the
  nine val sequences, recorded in results.json and _scores.txt files, with the section's
  figures (measured on this CPU, 2026-12-07, with recovery, the default: 108 lost frames, lost
  AUC 0.906, flag precision 0.308 and recall 0.074 at 0.35, VOT-LT F 0.694; identical under
  XLA_FLAGS=--xla_cpu_max_isa=AVX2). Another CPU rounds differently and a sequence can flip,
  so they are checked within 0.05 (the AUC within 0.03; the lost frames within 40; the flag's
  precision within 0.15: 26 frames are flagged, and 4 more or fewer lost among them move it
  by 0.15)."""
  if not (SHARED / 'real_sequences' / 'val').is_dir():
    pytest.skip(f'real sequences not found in {SHARED}')
  out = _run_readme_evaluate(tmp_path, readme_commands, 'val_scores')
  saved = json.loads((out / 'results.json').read_text())
  assert 'cosine of the first-frame target' in saved['info']['scores']['kinds']['re3']
  assert saved['info']['scores']['score_threshold'] == 0.35
  scores = saved['trackers']['re3']['ope']['overall']['scores']
  assert scores['lost']['frames'] == 1736 and abs(scores['lost']['lost'] - 108) < 40, scores
  assert abs(scores['lost']['auc'] - 0.906) < 0.03, scores
  assert abs(scores['lost']['precision'] - 0.308) < 0.15, scores
  assert abs(scores['lost']['recall'] - 0.074) < 0.05, scores
  assert abs(scores['longterm']['f_score'] - 0.694) < 0.05, scores
  files = sorted((out / 're3' / 'otb').glob('*_scores.txt'))
  assert len(files) == 9
  for f in files:
    per_frame = np.loadtxt(f)
    assert np.isnan(per_frame[0]) and np.isfinite(per_frame[1:]).all(), f
    assert (np.abs(per_frame[1:]) <= 1 + 1e-5).all(), f
