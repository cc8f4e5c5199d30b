"""Parameter checkpoints: export under a dtype policy (how the shipped model is made)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from re3_jax.model import checkpoints


def _size(path):
  return sum(f.stat().st_size for f in path.rglob('*') if f.is_file())


def test_export_stores_bfloat16_weights_and_float32_vectors(tiny, tmp_path):
  params, config = tiny
  src = checkpoints.save_params(tmp_path / 'f32', params, config)
  out, exported = checkpoints.export_params(src, tmp_path / 'bf16')
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
    checkpoints.export_params(src, out)
  with pytest.raises(ValueError, match='unknown precision'):
    checkpoints.export_params(src, tmp_path / 'x', precision='float8')


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
    checkpoints.export_params(tmp_path / 'nan', tmp_path / 'out')
  assert not (tmp_path / 'out').exists()
  from re3_jax.tracking import tracker  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='fc6/w is not finite'):
    tracker.Re3Tracker.from_checkpoint(tmp_path / 'nan')
