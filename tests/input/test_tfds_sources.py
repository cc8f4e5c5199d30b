"""Tests of `re3_jax.input.tfds_sources` that need no built dataset (the sources themselves are
tested through the pipeline, over fake datasets, in test_pipeline.py)."""

import numpy as np
import pytest

from re3_jax.input import tfds_sources


def test_visible_window_takes_consecutive_visible_frames():
  visible = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1], bool)
  rng = np.random.default_rng(0)
  starts = set()
  for _ in range(300):
    idx = tfds_sources.visible_window(visible, 3, rng)
    assert np.all(np.diff(idx) == 1) and visible[idx].all()
    starts.add(int(idx[0]))
  # Runs [3, 7) and [8, 11): starts 3, 4 and 8; all of them occur.
  assert starts == {3, 4, 8}


def test_visible_window_ping_pongs_short_tracks():
  visible = np.array([0, 1, 1, 1, 0, 1], bool)
  idx = tfds_sources.visible_window(visible, 9, np.random.default_rng(0))
  np.testing.assert_array_equal(idx, [1, 2, 3, 2, 1, 2, 3, 2, 1])
  idx = tfds_sources.visible_window(np.array([0, 1, 0], bool), 4, np.random.default_rng(0))
  np.testing.assert_array_equal(idx, [1, 1, 1, 1])
  with pytest.raises(ValueError, match='no visible frame'):
    tfds_sources.visible_window(np.zeros(3, bool), 2, np.random.default_rng(0))
