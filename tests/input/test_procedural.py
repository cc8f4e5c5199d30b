"""Tests of the procedural images (re3_jax.input.procedural)."""

from __future__ import annotations

import numpy as np
import pytest

from re3_jax.input import procedural


def test_deterministic_for_a_seed():
  i1, b1 = procedural.procedural_image(np.random.default_rng(1))
  i2, b2 = procedural.procedural_image(np.random.default_rng(1))
  np.testing.assert_array_equal(i1, i2)
  np.testing.assert_array_equal(b1, b2)


def test_procedural_image():
  for seed in range(10):
    image, boxes = procedural.procedural_image(np.random.default_rng(seed))
    assert image.shape == (375, 500, 3) and image.dtype == np.uint8
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and 1 <= len(boxes) <= 8
    assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= 500) and np.all(boxes[:, 3] <= 375)
    assert np.all(boxes[:, 2:] > boxes[:, :2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], 1) / (375 * 500)
    assert areas.max() >= 0.01 and areas.max() <= 0.45
    assert image.std() > 5  # not blank
  image, boxes = procedural.procedural_image(np.random.default_rng(0), size=(64, 96))
  assert image.shape == (64, 96, 3)
  with pytest.raises(ValueError, match='size'):
    procedural.procedural_image(np.random.default_rng(0), size=(10, 96))
