"""Tests of ``python -m re3_jax.export``: a file the JAX-only loader runs, and a user's mistakes."""

import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from re3_jax import model
from re3_jax.model import checkpoints
from re3_jax.tracking import exported
from re3_jax.tracking import functional

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_export(*args):
  return subprocess.run([sys.executable, '-m', 're3_jax.export', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS='cpu'))


@pytest.fixture(scope='module')
def tiny_checkpoint(tiny, tmp_path_factory):
  params, config = tiny
  return checkpoints.save_params(tmp_path_factory.mktemp('ckpt') / 'tiny', params, config)


def test_the_command_line_writes_a_tracker_the_loader_runs(tiny, tiny_checkpoint, tmp_path):
  proc = run_export(f'--tracker.checkpoint={tiny_checkpoint}', f'--out={tmp_path}/t.re3x',
                    '--frame_size=48,64', '--objects=2', '--platforms=cpu',
                    '--tracker.reset_interval=3')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.startswith(f'exported checkpoint {tiny_checkpoint} -> {tmp_path}/t.re3x (')
  assert 'frames: 48x64; objects: 2; platforms: cpu' in proc.stdout
  tracker = exported.load(tmp_path / 't.re3x')
  assert tracker.header['reset_interval'] == 3
  params, config = tiny
  frames = np.random.default_rng(0).integers(0, 256, (5, 48, 64, 3), np.uint8)
  starts = np.array([[5, 5, 40, 30], [20, 10, 60, 45]], np.float32)
  state = tracker.init(frames[0], starts)
  expected_state = functional.init(params, frames[0], starts, config=config)
  for frame in frames[1:]:
    box, state = tracker.step(state, frame)
    expected, expected_state = functional.step(params, expected_state, frame, config=config,
                                               reset_interval=3)
    np.testing.assert_allclose(np.asarray(box), np.asarray(expected), rtol=0, atol=1e-3)


@pytest.mark.parametrize('args, error', [
    (['--tracker.checkpoint={tmp}/missing', '--out={tmp}/t.re3x'],
     '{tmp}/missing holds no re3_jax checkpoint'),
    (['--tracker.checkpoint={ckpt}', '--out={tmp}/missing/t.re3x'],
     'output {tmp}/missing/t.re3x cannot be written: its folder {tmp}/missing does not exist'),
    (['--tracker.checkpoint={ckpt}', '--out={tmp}/file/t.re3x'],
     'output {tmp}/file/t.re3x cannot be written: its folder {tmp}/file is not a folder'),
    (['--tracker.checkpoint={ckpt}', '--out={tmp}'], 'output {tmp} is a folder'),
    (['--tracker.checkpoint={tmp}/other', '--out={tmp}/t.re3x'],
     "checkpoint {tmp}/other is damaged: ValueError: its parameters do not match model "
     "config 'small'"),
    (['--tracker.checkpoint={tmp}/unknown', '--out={tmp}/t.re3x'],
     "checkpoint {tmp}/unknown is damaged: {tmp}/unknown/config.json is not a valid model "
     "config: unknown ModelConfig fields ['layers']"),
    (['--tracker.checkpoint={ckpt}', '--out={tmp}/t.re3x', '--frame_size=48'],
     "--frame_size must be H,W (two integers), got '48'"),
])
def test_a_users_mistake_is_one_error_line(tiny_checkpoint, tmp_path, args, error):
  (tmp_path / 'file').write_text('not a folder')
  # A checkpoint whose config is another model's, and one of an unknown model.
  shutil.copytree(tiny_checkpoint, tmp_path / 'other')
  (tmp_path / 'other' / 'config.json').write_text(model.get_config('small').to_json())
  shutil.copytree(tiny_checkpoint, tmp_path / 'unknown')
  unknown = json.loads((tmp_path / 'unknown' / 'config.json').read_text())
  (tmp_path / 'unknown' / 'config.json').write_text(json.dumps(dict(unknown, layers=7)))
  for edited in ('other', 'unknown'):  # as checkpoints saved before manifests: the config's
    (tmp_path / edited / 'SHA256SUMS').unlink()  # own checks, not the checksum, answer
  before = sorted(tmp_path.rglob('*'))
  proc = run_export(*[a.format(tmp=tmp_path, ckpt=tiny_checkpoint) for a in args])
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  message = f're3_jax.export: error: {error.format(tmp=tmp_path)}'
  assert any(line.startswith(message) for line in proc.stderr.splitlines()), proc.stderr[-3000:]
  assert sorted(tmp_path.rglob('*')) == before  # nothing written


def test_an_unwritable_output_is_named(tiny_checkpoint, tmp_path):
  """A read-only folder (as root, which writes anywhere: /proc, which takes no new files)."""
  if os.geteuid() == 0:
    if not os.path.isdir('/proc/self'):
      pytest.skip('root writes into a read-only folder, and there is no /proc')
    out = pathlib.Path('/proc/re3_jax_t.re3x')
  else:
    (tmp_path / 'ro').mkdir(mode=0o555)
    out = tmp_path / 'ro' / 't.re3x'
  proc = run_export(f'--tracker.checkpoint={tiny_checkpoint}', f'--out={out}')
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  assert f're3_jax.export: error: output {out} cannot be written: ' in proc.stderr
  assert not out.exists()


def test_a_full_disk_is_one_error_and_keeps_the_old_file(tmp_path, monkeypatch):
  from re3_jax.tracking import export  # pylint: disable=g-import-not-at-top
  out = tmp_path / 't.re3x'
  out.write_bytes(b'an earlier export')

  def full_disk(self, data):
    with open(self, 'wb') as f:
      f.write(data[:3])
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(pathlib.Path, 'write_bytes', full_disk)
  with pytest.raises(OSError, match=rf'^output {out} cannot be written: No space left on device$'):
    export.write(out, b'a new export')
  monkeypatch.undo()
  assert sorted(p.name for p in tmp_path.iterdir()) == ['t.re3x']  # no temporary file
  assert out.read_bytes() == b'an earlier export'
