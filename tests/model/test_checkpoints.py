"""Parameter checkpoints: export under a dtype policy (how the shipped model is made)."""

import errno
import shutil
import subprocess
import sys
import threading
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax.core import digests
from re3_jax.model import checkpoint_exports
from re3_jax.model import checkpoints


def _size(path):
  return sum(f.stat().st_size for f in path.rglob('*') if f.is_file())


def test_export_stores_bfloat16_weights_and_float32_vectors(tiny, tmp_path):
  params, config = tiny
  src = checkpoints.save_params(tmp_path / 'f32', params, config)
  out, exported = checkpoint_exports.export_params(src, tmp_path / 'bf16')
  assert (exported.param_dtype, exported.dtype) == ('bfloat16', 'float32')
  loaded, stored = checkpoints.load_params(out)
  assert stored == exported
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
    if b.ndim >= 2:
      assert a.dtype == jnp.bfloat16
      # bfloat16 rounding to nearest: the stored weight is the original's nearest value.
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b.astype(jnp.bfloat16)))
    else:
      assert a.dtype == jnp.float32
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The kernels and matrices are nearly all of the tiny model's bytes: about half the size.
  assert _size(out) < 0.7 * _size(src)
  with pytest.raises(FileExistsError, match='already holds a checkpoint'):
    checkpoint_exports.export_params(src, out)
  with pytest.raises(ValueError, match='unknown precision'):
    checkpoint_exports.export_params(src, tmp_path / 'x', precision='float8')


def _full_disk_save(path, params):
  """orbax on a full disk: its temporary folder, tracebacks logged and printed from its
  threads, a folder made by a write still in flight after the error, then the error."""
  del params
  tmp = path.with_name(path.name + '.orbax-checkpoint-tmp')
  (tmp / 'ocdbt.process_0' / 'd').mkdir(parents=True)
  logging.error('_SignalingThread.run() raised an exception: RESOURCE_EXHAUSTED ...')
  print('Traceback (most recent call last):\nRuntimeError: Event loop is closed', file=sys.stderr)
  late = threading.Timer(0.2, lambda: (tmp / 'late').mkdir(parents=True, exist_ok=True))
  late.start()
  time.sleep(0.05)
  raise ValueError('RESOURCE_EXHAUSTED: Error writing "fc6.w/0.0" in OCDBT database: Failed '
                   "writing: No space left on device [os_error_code='28']")


@pytest.mark.parametrize('error', [None, OSError(errno.ENOSPC, 'No space left on device')])
def test_a_failed_save_is_one_error_and_leaves_nothing(tiny, tmp_path, monkeypatch, capfd, error):
  params, config = tiny
  src = checkpoints.save_params(tmp_path / 'src', params, config)
  if error is None:
    monkeypatch.setattr(checkpoints, '_orbax_save', _full_disk_save)
  else:
    monkeypatch.setattr(checkpoints, '_orbax_save', lambda *_: (_ for _ in ()).throw(error))
  capfd.readouterr()
  out = tmp_path / 'full' / 'out'  # neither folder there before: both removed
  with pytest.raises(checkpoints.CheckpointWriteError,
                     match=rf'^cannot write the checkpoint {out}: No space left on device$'):
    checkpoint_exports.export_params(src, out)  # what `python -m re3_jax.convert --format=re3` runs
  time.sleep(0.3)  # the late write's time has passed
  assert sorted(p.name for p in tmp_path.iterdir()) == ['src']
  assert capfd.readouterr().err == ''  # orbax's tracebacks held back: the error says it
  assert isinstance(checkpoints.CheckpointWriteError(), OSError)  # cli.run's one line


def test_a_save_that_succeeds_keeps_what_it_printed(tiny, tmp_path, monkeypatch, capfd):
  params, config = tiny

  def noisy_save(path, params):
    print('a note from orbax', file=sys.stderr)
    path.mkdir()

  monkeypatch.setattr(checkpoints, '_orbax_save', noisy_save)
  capfd.readouterr()
  checkpoints.save_params(tmp_path / 'ok', params, config)
  assert capfd.readouterr().err == 'a note from orbax\n'
  # A folder that holds a checkpoint is refused before anything is written.
  with pytest.raises(FileExistsError, match='already holds a checkpoint'):
    checkpoints.save_params(tmp_path / 'ok', params, config)
  assert sorted(p.name for p in (tmp_path / 'ok').iterdir()) == ['SHA256SUMS', 'config.json',
                                                               'params']


def _truncate_largest(directory):
  """Cuts the largest file under `directory` to half its size (a damaged checkpoint)."""
  largest = max((f for f in directory.rglob('*') if f.is_file()), key=lambda f: f.stat().st_size)
  data = largest.read_bytes()
  largest.write_bytes(data[:len(data) // 2])


def test_a_damaged_step_is_skipped_for_the_previous_one(tiny, tmp_path, caplog):
  params, config = tiny
  later = jax.tree.map(lambda x: x + 1, params)
  for step, values in ((2, params), (4, later), (6, later)):
    checkpoints.save_params(tmp_path / str(step), values, config)
  _truncate_largest(tmp_path / '6' / 'params')
  (tmp_path / '4' / 'params' / '_METADATA').write_bytes(b'')
  with caplog.at_level('WARNING'):
    loaded, stored = checkpoints.load_params(tmp_path)
  assert stored == config
  jax.tree.map(np.testing.assert_array_equal, loaded, params)
  # Each skipped step is named, with its error; nothing is deleted.
  for step in (6, 4):
    assert any(f'{tmp_path / str(step)} is damaged' in r.getMessage() for r in caplog.records)
    assert (tmp_path / str(step) / 'params').is_dir()
  # One damaged checkpoint alone: an error naming it (a ValueError: the command lines print
  # it in one line), not the restore's traceback.
  with pytest.raises(ValueError, match=f'checkpoint {tmp_path / "6"} is damaged'):
    checkpoints.load_params(tmp_path / '6')
  with pytest.raises(ValueError, match=f'checkpoint {tmp_path / "4"} is damaged'):
    checkpoints.load_params(tmp_path / '4')
  _truncate_largest(tmp_path / '2' / 'params')
  with pytest.raises(ValueError, match=f'no checkpoint in {tmp_path} restores'):
    checkpoints.load_params(tmp_path)


def test_nonfinite_parameters_are_refused_naming_the_variable(tiny, tmp_path):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  params, config = tiny
  fc6 = dict(params['fc6'], w=params['fc6']['w'].at[3, 1].set(jnp.nan))
  bad = dict(params, fc6=fc6)
  with pytest.raises(ValueError, match='fc6/w is not finite'):
    checkpoints.save_params(tmp_path / 'refused', bad, config)  # e.g. converted weights
  assert not (tmp_path / 'refused' / 'params').exists()
  # Written past that check: loading (the tracker, export) names the variable and the directory.
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(tmp_path / 'nan' / 'params', bad)
  checkpointer.wait_until_finished()
  checkpointer.close()
  (tmp_path / 'nan' / 'config.json').write_text(config.to_json())
  with pytest.raises(ValueError, match=f'{tmp_path / "nan"} is damaged.*fc6/w is not finite'):
    checkpoints.load_params(tmp_path / 'nan')
  with pytest.raises(ValueError, match='fc6/w is not finite'):
    checkpoint_exports.export_params(tmp_path / 'nan', tmp_path / 'out')
  assert not (tmp_path / 'out').exists()
  from re3_jax.tracking import tracker  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='fc6/w is not finite'):
    tracker.Re3Tracker.from_checkpoint(tmp_path / 'nan')


def test_average_of_the_newest_checkpoints(tiny, tmp_path):
  """The mean of the N newest numbered checkpoints, leaf by leaf (the shipped model: N=3)."""
  params, config = tiny
  run = tmp_path / 'checkpoints'
  for step, shift in ((100, 0.0), (200, 1.0), (300, 3.0)):  # the newest is 300
    checkpoints.save_params(run / str(step), jax.tree.map(lambda x, s=shift: x + s, params),
                            config)
  averaged, stored, paths = checkpoint_exports.average_params(run, 2)
  assert stored == config and [p.name for p in paths] == ['300', '200']
  for a, b in zip(jax.tree.leaves(averaged), jax.tree.leaves(params)):
    assert a.dtype == b.dtype
    # (b + 3 + b + 1) / 2 = b + 2, exact up to float32 rounding of b + 1 and b + 3.
    b = np.asarray(b, np.float64)
    assert np.all(np.abs(a - (b + 2.0)) <= 4 * np.finfo(np.float32).eps * (np.abs(b) + 3))
  one, _, _ = checkpoint_exports.average_params(run, 1)
  assert all(np.array_equal(a, np.asarray(b) + 3.0)
             for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(params)))
  out, exported = checkpoint_exports.export_params(run, tmp_path / 'avg3', average=3)
  loaded, _ = checkpoints.load_params(out)
  mean3 = [((np.asarray(b, np.float64) * 3 + 4) / 3) for b in jax.tree.leaves(params)]
  for a, m in zip(jax.tree.leaves(loaded), mean3):
    # bfloat16 storage of the matrices: within half a bfloat16 step (8 mantissa bits).
    np.testing.assert_allclose(np.asarray(a, np.float64), m, rtol=2.0 ** -8, atol=1e-6)
  with pytest.raises(ValueError, match=r'holds 3 checkpoints \(300, 200, 100\), fewer than the 4'):
    checkpoint_exports.average_params(run, 4)
  with pytest.raises(ValueError, match='must be >= 1'):
    checkpoint_exports.average_params(run, 0)


def test_average_refuses_checkpoints_of_different_models(tiny, tmp_path):
  from re3_jax import model  # pylint: disable=g-import-not-at-top
  params, config = tiny
  other = model.get_config('tiny', lstm_units=8)
  checkpoints.save_params(tmp_path / '1', model.init(jax.random.key(0), other), other)
  checkpoints.save_params(tmp_path / '2', params, config)
  with pytest.raises(ValueError, match=r'checkpoint .*/1 holds another model than .*/2: '
                     r'lstm_units 8 \(not 16\)'):
    checkpoint_exports.average_params(tmp_path, 2)


def test_a_save_writes_a_manifest_that_sha256sum_checks(tiny, tmp_path):
  """Every file of the checkpoint is listed, with the digest coreutils' sha256sum computes
  (an independent implementation), and loading checks it (issue 29, item 6)."""
  params, config = tiny
  path = checkpoints.save_params(tmp_path / 'ckpt', params, config)
  listed = digests.read_manifest(path / digests.MANIFEST)
  on_disk = sorted(str(p.relative_to(path)) for p in path.rglob('*')
                   if p.is_file() and p.name != digests.MANIFEST)
  assert sorted(listed) == on_disk and 'config.json' in listed
  if shutil.which('sha256sum'):
    run = subprocess.run(['sha256sum', '--check', '--strict', digests.MANIFEST], cwd=path,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
  # A config edited after the save: named, with both digests.
  (path / 'config.json').write_text((path / 'config.json').read_text() + ' ')
  with pytest.raises(checkpoints.DamagedCheckpointError,
                     match=rf'{path}/config.json does not match its checksum: SHA-256 '
                     rf'[0-9a-f]{{64}}, the manifest {path}/SHA256SUMS expects '
                     rf'{listed["config.json"]}'):
    checkpoints.load_params(path)


@pytest.mark.parametrize('name', ['re3_nano', 're3_squeeze'])
def test_the_shipped_models_carry_a_manifest_that_matches(name):
  from re3_jax.tracking import shipped  # pylint: disable=g-import-not-at-top
  directory = shipped.pretrained_dir(name)
  listed = digests.read_manifest(directory / digests.MANIFEST)
  assert 'config.json' in listed and any(n.startswith('params/') for n in listed)
  assert digests.verify_manifest(directory)
