"""Tests of the smooth random textures (re3_jax.core.noise)."""

import numpy as np

from re3_jax.core import noise


def test_shapes_range_and_determinism():
  one = noise.smooth_noise(np.random.default_rng(0), (30, 50), 4)
  assert one.shape == (30, 50) and one.dtype == np.float32
  colour = noise.smooth_noise(np.random.default_rng(0), (30, 50, 3), 4, octaves=3)
  assert colour.shape == (30, 50, 3) and colour.dtype == np.float32
  for x in (one, colour):
    assert -0.2 < x.min() and x.max() < 1.2 and x.std() > 0.05  # bicubic overshoots a little
  np.testing.assert_array_equal(noise.smooth_noise(np.random.default_rng(0), (30, 50), 4), one)
  assert not np.array_equal(noise.smooth_noise(np.random.default_rng(1), (30, 50), 4), one)
  # The channels are independent noises.
  assert abs(np.corrcoef(colour[..., 0].ravel(), colour[..., 1].ravel())[0, 1]) < 0.9


def test_smooth_at_few_cells_and_a_one_pixel_strip():
  x = noise.smooth_noise(np.random.default_rng(2), (64, 64), 2)
  assert np.abs(np.diff(x, axis=1)).max() < 0.1  # 2 cells over 64 pixels: no jumps
  strip = noise.smooth_noise(np.random.default_rng(2), (1, 40), 3.5)
  assert strip.shape == (1, 40)
