"""Tests of `re3_jax.model.matmul`: packed bfloat16 weights and `dense`.

A packed matrix holds bfloat16 bit patterns as uint16; `dense` must multiply by
exactly the bfloat16-rounded weights, whether it takes the chunked `lax.scan`
path (K with a divisor in the chunk range) or the unchunked one (e.g. prime K).
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from re3_jax import model
from re3_jax.model import matmul


def _bf16_round(w):
  return np.asarray(w, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)


def test_pack_bf16_bit_patterns():
  packed = matmul.pack_bf16(np.array([[1.0, -2.0], [0.0, 0.5]], np.float32))
  assert packed.dtype == np.uint16 and packed.shape == (2, 2)
  np.testing.assert_array_equal(packed, [[0x3F80, 0xC000], [0x0000, 0x3F00]])
  assert matmul.is_packed(packed)
  assert not matmul.is_packed(np.zeros((2, 2), np.float32))


def test_pack_bf16_rounds_to_nearest():
  # 1 + 2^-7 is a bfloat16 value; 1 + 2^-7 + 2^-9 rounds down to it, 1 + 2^-7 + 3*2^-9 up.
  step = 2.0 ** -7
  w = np.array([1 + step + 2.0 ** -9, 1 + step + 3 * 2.0 ** -9], np.float32)
  np.testing.assert_array_equal(matmul.unpack(matmul.pack_bf16(w)), [1 + step, 1 + 2 * step])


def test_pack_unpack_round_trip_is_exact():
  rng = np.random.default_rng(0)
  special = np.array([0.0, -0.0, 1.0, -3.5, 3.0e38, -1.0e-30, 6.0e-39, np.inf, -np.inf],
                     np.float32)
  w = np.concatenate([_bf16_round(rng.normal(size=391) * 10.0 ** rng.integers(-8, 8, 391)),
                      _bf16_round(special)]).reshape(20, 20)
  back = np.asarray(matmul.unpack(jnp.asarray(matmul.pack_bf16(w))))
  assert back.dtype == np.float32
  # Bit-exact, signed zero included.
  np.testing.assert_array_equal(back.view(np.uint32), w.view(np.uint32))
  np.testing.assert_array_equal(matmul.pack_bf16(back), matmul.pack_bf16(w))


def test_pack_keeps_nan():
  back = np.asarray(matmul.unpack(jnp.asarray(matmul.pack_bf16(np.array([np.nan], np.float32)))))
  assert np.isnan(back[0])


@pytest.mark.parametrize('k, chunk', [(1536, 768), (1031, None), (96, None)])
def test_chunk_rows(k, chunk):
  # Pins which path the dense tests below take: chunked for 1536, unchunked for
  # a prime K and for K below the chunk range.
  assert matmul._chunk_rows(k) == chunk


@pytest.mark.parametrize('k', [1536, 1031, 96])
@pytest.mark.parametrize('lead', [(), (3,), (2, 5)])
def test_dense_packed_equals_bf16_rounded_product(k, lead):
  rng = np.random.default_rng(k + len(lead))
  n = 64
  w = rng.normal(size=(k, n)).astype(np.float32) / np.sqrt(k)
  x = rng.normal(size=(*lead, k)).astype(np.float32)
  y = np.asarray(matmul.dense(jnp.asarray(x), jnp.asarray(matmul.pack_bf16(w))))
  assert y.shape == (*lead, n) and y.dtype == np.float32
  want = x.astype(np.float64) @ _bf16_round(w).astype(np.float64)
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
  # The rounding is visible: the product with unrounded weights differs.
  assert not np.allclose(y, x.astype(np.float64) @ w.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_dense_packed_under_jit():
  rng = np.random.default_rng(1)
  w = rng.normal(size=(1536, 8)).astype(np.float32)
  x = rng.normal(size=(4, 1536)).astype(np.float32)
  y = jax.jit(matmul.dense)(jnp.asarray(x), jnp.asarray(matmul.pack_bf16(w)))
  np.testing.assert_allclose(y, x.astype(np.float64) @ _bf16_round(w), rtol=1e-4, atol=1e-4)


def test_dense_packed_returns_compute_dtype():
  rng = np.random.default_rng(2)
  w = rng.normal(size=(256, 8)).astype(np.float32)
  x = jnp.asarray(rng.normal(size=(2, 256)), jnp.bfloat16)
  y = matmul.dense(x, jnp.asarray(matmul.pack_bf16(w)))
  assert y.dtype == jnp.bfloat16
  want = np.asarray(x, np.float64) @ _bf16_round(w)
  np.testing.assert_allclose(np.asarray(y, np.float32), want, rtol=2e-2, atol=2e-2)


def test_dense_float_weights_cast_to_compute_dtype():
  rng = np.random.default_rng(3)
  w = rng.normal(size=(32, 8)).astype(np.float32)
  x = rng.normal(size=(3, 32)).astype(np.float32)
  np.testing.assert_allclose(matmul.dense(jnp.asarray(x), jnp.asarray(w, jnp.bfloat16)),
                             x @ _bf16_round(w), rtol=1e-5, atol=1e-5)
  y16 = matmul.dense(jnp.asarray(x, jnp.bfloat16), jnp.asarray(w))
  assert y16.dtype == jnp.bfloat16


def test_pack_params_selects_large_float_matrices():
  rng = np.random.default_rng(4)
  params = {
      'big': jnp.asarray(rng.normal(size=(8, 8)), jnp.float32),
      'big_bf16': jnp.asarray(rng.normal(size=(16, 4)), jnp.bfloat16),
      'nested': {'small': jnp.asarray(rng.normal(size=(3, 5)), jnp.float32),
                 'vector': jnp.asarray(rng.normal(size=100), jnp.float32)},
      'conv': jnp.asarray(rng.normal(size=(2, 2, 4, 4)), jnp.float32),
      'ints': jnp.arange(64, dtype=jnp.int32).reshape(8, 8),
  }
  packed = matmul.pack_params(params, min_size=64)
  assert jax.tree_util.tree_structure(packed) == jax.tree_util.tree_structure(params)
  assert matmul.is_packed(packed['big']) and matmul.is_packed(packed['big_bf16'])
  np.testing.assert_array_equal(packed['big'], matmul.pack_bf16(params['big']))
  for path in (('nested', 'small'), ('nested', 'vector'), ('conv',), ('ints',)):
    got, want = packed, params
    for key in path:
      got, want = got[key], want[key]
    assert got.dtype == want.dtype, path
    np.testing.assert_array_equal(got, want)

  unpacked = matmul.unpack_params(packed)
  assert unpacked['big'].dtype == jnp.float32 and unpacked['big'].shape == (8, 8)
  np.testing.assert_array_equal(unpacked['big'], _bf16_round(params['big']))
  np.testing.assert_array_equal(unpacked['big_bf16'], np.asarray(params['big_bf16'], np.float32))
  np.testing.assert_array_equal(unpacked['nested']['vector'], params['nested']['vector'])
  assert unpacked['ints'].dtype == jnp.int32


def test_pack_params_min_size_boundary():
  params = {'at': jnp.ones((4, 4)), 'below': jnp.ones((3, 5))}
  packed = matmul.pack_params(params, min_size=16)
  assert matmul.is_packed(packed['at'])
  assert not matmul.is_packed(packed['below'])


def test_default_min_size_packs_only_fc6():
  # Reference section 3: fc6 is about 152M of the paper model's 190M; the LSTM
  # kernels are left as they are. Decided from shapes alone.
  params = model.abstract_params(model.get_config('paper'))
  selected = [jax.tree_util.keystr(path)
              for path, x in jax.tree_util.tree_leaves_with_path(params)
              if x.ndim == 2 and np.prod(x.shape) >= matmul.PACK_MIN_SIZE]
  assert selected == ["['fc6']['w']"]
