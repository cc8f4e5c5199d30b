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
