"""Dense layers under the dtype policy, and packed bfloat16 weights for CPUs.

`dense(x, w)` multiplies in x's dtype (the compute dtype), casting w to it.

On CPUs, batch-1 inference is bound by reading weights from memory (fc6 of the
paper model is 608 MB of float32 per frame), so storing them as bfloat16
would halve the time, but XLA's CPU backend converts bfloat16 to float32 about
8x slower than memory delivers it (a 74208x2048 bfloat16 matrix-vector product
took 160 ms against 19 ms for float32, measured in WORKSPACE.md). Packed
weights avoid that: `pack_bf16` stores a matrix's bfloat16 bit patterns as
uint16, and `dense` unpacks them with an integer shift, a chunk of rows at a
time inside `lax.scan`, so each chunk is widened in cache right before its
product. That reads half the bytes and runs in 10.4 ms for the same product.
Packed weights are an inference layout (the tracker packs for CPUs); training
uses ordinary float32 or bfloat16 arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
import ml_dtypes
import numpy as np

PACKED_DTYPE = np.uint16
# Rows per chunk of a packed product: the largest divisor of K in this range.
_CHUNK_RANGE = (128, 1024)
# Only matrices with at least this many entries are packed (fc6: 152M; the
# LSTM kernels, <= 17M, run as fast in float32 as packed).
PACK_MIN_SIZE = 1 << 25


def is_packed(w) -> bool:
  return w.dtype == PACKED_DTYPE


def pack_bf16(w) -> np.ndarray:
  """Rounds a float matrix to bfloat16 and returns its bit patterns as uint16."""
  return np.asarray(np.asarray(w, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16))


def unpack(w):
  """uint16 bfloat16 bit patterns -> float32 (exact)."""
  return lax.bitcast_convert_type(w.astype(jnp.uint32) << 16, jnp.float32)


def pack_params(params, min_size: int = PACK_MIN_SIZE):
  """Packs every 2-D float matrix of a pytree with >= `min_size` entries."""
  def pack(w):
    if np.ndim(w) == 2 and np.size(w) >= min_size and jnp.issubdtype(w.dtype, jnp.floating):
      return jnp.asarray(pack_bf16(w))
    return w
  return jax.tree_util.tree_map(pack, params)


def unpack_params(params):
  """Inverse of `pack_params` (to float32)."""
  return jax.tree_util.tree_map(lambda w: unpack(w) if is_packed(w) else w, params)


def _chunk_rows(k: int):
  lo, hi = _CHUNK_RANGE
  for rows in range(min(hi, k), lo - 1, -1):
    if k % rows == 0:
      return rows
  return None


def _packed_dense(x, w):
  k, n = w.shape
  lead = x.shape[:-1]
  x = x.reshape(-1, k).astype(jnp.float32)
  rows = _chunk_rows(k)
  if rows is None or rows == k:
    y = x @ unpack(w)
  else:
    chunks = k // rows
    w_chunks = w.reshape(chunks, rows, n)
    x_chunks = x.reshape(x.shape[0], chunks, rows).transpose(1, 0, 2)

    def body(acc, xw):
      return acc + xw[0] @ unpack(xw[1]), None

    y, _ = lax.scan(body, jnp.zeros((x.shape[0], n), jnp.float32), (x_chunks, w_chunks))
  return y.reshape(*lead, n)


def dense(x, w):
  """x (..., K) @ w (K, N) in x's dtype; w may be float or packed bfloat16."""
  if is_packed(w):
    return _packed_dense(x, w).astype(x.dtype)
  return jnp.dot(x, w.astype(x.dtype))
