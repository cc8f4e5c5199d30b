"""Tests of the simulator's world (re3_jax.input.motion); the sequences are in test_synthetic.py."""

import numpy as np

from re3_jax.input import motion


def _world(seed: int, speed: float = 3.0) -> motion.World:
  size = np.array([[60.0, 30.0, 90.0], [40.0, 30.0, 20.0]])  # (2, N): widths, heights
  return motion.World(np.random.default_rng(seed), (200, 300), size, size * 0.5, size * 1.5,
                      speed, target=1)


def test_textures_stay_on_the_canvas_within_their_limits():
  for seed in range(4):
    world = _world(seed)
    moved = False
    start = world.texture_boxes()
    for _ in range(300):
      world.step()
      boxes = world.texture_boxes()
      assert (boxes[:, :2] >= -1e-9).all() and (boxes[:, 2] <= 300 + 1e-9).all()
      assert (boxes[:, 3] <= 200 + 1e-9).all()
      assert (world.v >= 0).all() and (world.v <= motion.MAX_VELOCITY).all()
      assert (world.size >= world.lo - 1e-9).all() and (world.size <= world.hi + 1e-9).all()
      moved |= not np.allclose(boxes, start)
    assert moved


def test_deterministic_and_still_at_speed_zero():
  a, b = _world(7), _world(7)
  for _ in range(20):
    a.step()
    b.step()
  np.testing.assert_array_equal(a.texture_boxes(), b.texture_boxes())
  still = _world(3, speed=0.0)
  start = still.texture_boxes()
  for _ in range(20):
    still.step()
  np.testing.assert_array_equal(still.texture_boxes(), start)


def test_occlusion_of_the_target():
  world = _world(0)
  inner = np.array([0.0, 0.0, 1.0, 1.0])
  world.pos[:, 2] = world.pos[:, 1]  # the texture above sits on the target
  world.size[:, 2] = world.size[:, 1] * 2
  assert world.occlusion(inner) == 1.0
  world.pos[:, 2] = world.pos[:, 1] + 1000  # far away
  assert world.occlusion(inner) == 0.0
