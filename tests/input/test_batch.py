"""Tests of `re3_jax.input.batch`."""

import numpy as np

from re3_jax.input import batch as batch_lib


def test_collate_pads_and_records_valid_sizes():
  a = {'frames': [np.full((4, 6, 3), 7, np.uint8)] * 2, 'boxes': np.ones((2, 4), np.float32),
       'source': 1}
  b = {'frames': [np.full((5, 3, 3), 9, np.uint8)] * 2, 'boxes': np.zeros((2, 4), np.float32),
       'source': 0}
  batch = batch_lib.collate([a, b], (5, 6))
  assert batch.frames.shape == (2, 2, 5, 6, 3) and batch.frames.dtype == np.uint8
  np.testing.assert_array_equal(batch.valid_sizes[:, 0], [[4, 6], [5, 3]])
  assert (batch.frames[0, :, :4, :6] == 7).all() and (batch.frames[0, :, 4:] == 0).all()
  assert (batch.frames[1, :, :, :3] == 9).all() and (batch.frames[1, :, :, 3:] == 0).all()
  assert batch._fields == ('frames', 'valid_sizes', 'boxes')  # the sources stay beside it
