"""Tests of `re3_jax.training.curriculum`: the advance rules, state round trips (the config's
validation: test_stages.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from re3_jax.training import curriculum
from re3_jax.training import stages as stages_lib

Stage = stages_lib.Stage
Config = stages_lib.CurriculumConfig


def three_stages():
  return stages_lib.parse_stages('2x8,4x4,8x2', '0.1,0.2,0.3')


def plateau_config(**kwargs):
  defaults = dict(stages=three_stages(), ema_decay=0.0, window=10, patience=3,
                  min_rel_improvement=0.01, min_steps=0)
  defaults.update(kwargs)
  return Config(**defaults)


def run(cur, losses, start=1):
  """Feeds ``losses`` at consecutive steps; returns the steps at which it advanced."""
  return [step for step, loss in enumerate(losses, start) if cur.update(step, loss)]


# update() arguments.

def test_update_rejects_bad_losses_and_steps():
  cur = curriculum.Curriculum(plateau_config())
  with pytest.raises(ValueError, match='loss at step 7 is not finite'):
    cur.update(7, float('nan'))
  with pytest.raises(ValueError, match='loss at step 7 is not finite'):
    cur.update(7, np.float32('inf'))
  with pytest.raises(ValueError, match='does not come after the start of stage 0'):
    cur.update(0, 1.0)
  assert not cur.update(5, np.float32(1.0))  # NumPy scalars are fine.
  with pytest.raises(ValueError, match="step 5 does not come after the previous update's step 5"):
    cur.update(5, 1.0)
  with pytest.raises(ValueError, match='step must be an integer'):
    cur.update(6.0, 1.0)


# 'steps' mode.

def test_steps_mode_advances_exactly():
  config = Config(stages=three_stages(), advance='steps', stage_steps=(100, 200, 50))
  cur = curriculum.Curriculum(config)
  assert cur.finite and config.total_steps == 350
  advanced = []
  for step in range(1, 400):
    index = cur.stage_index
    if cur.update(step, 1.0):
      advanced.append(step)
      assert cur.stage_index == index + 1
    if cur.done:
      break
  assert advanced == [100, 300]
  assert step == 350 and cur.done and cur.stage_index == 2
  assert cur.stage == Stage(8, 2, 0.3)
  assert cur.steps_left(350) == 0
  assert not cur.update(351, 1.0) and cur.done


def test_steps_mode_irregular_calls_keep_the_boundaries():
  config = Config(stages=three_stages(), advance='steps', stage_steps=(100, 200, 0))
  cur = curriculum.Curriculum(config)
  assert not cur.finite and config.total_steps is None
  assert cur.steps_left(40) == 60
  assert not cur.update(50, 1.0)
  assert cur.update(150, 1.0) and cur.stage_index == 1
  assert cur.stage_start_step == 100  # the boundary, not the call's step
  assert cur.steps_left(150) == 150
  # One call across the last boundary (300) into the endless last stage.
  assert cur.update(450, 1.0) and cur.stage_index == 2 and cur.stage_start_step == 300
  assert cur.steps_left(450) is None
  assert not cur.update(10**6, 1.0) and not cur.done


def test_steps_mode_one_call_crosses_several_stages():
  config = Config(stages=three_stages(), advance='steps', stage_steps=(10, 10, 10))
  cur = curriculum.Curriculum(config)
  assert cur.update(25, 1.0) and cur.stage_index == 2 and cur.stage_start_step == 20
  assert not cur.done
  assert not cur.update(30, 1.0) and cur.done


def test_start_step():
  config = Config(stages=three_stages(), advance='steps', stage_steps=(10, 10, 10))
  cur = curriculum.Curriculum(config, start_step=1000)
  assert run(cur, [1.0] * 30, start=1001) == [1010, 1020]
  assert cur.done


# 'plateau' mode.

def test_plateau_falling_loss_does_not_advance():
  cur = curriculum.Curriculum(plateau_config(ema_decay=0.9))
  losses = 10.0 * 0.995 ** np.arange(2000)  # about -5% per 10-step window
  assert run(cur, losses) == []
  assert cur.stage_index == 0 and cur.bad_windows == 0


def test_plateau_slow_steady_decline_counts_as_progress():
  # -0.4% per window: below min_rel_improvement per window, but the best is
  # only moved by real improvements, so the decline adds up past 1%.
  cur = curriculum.Curriculum(plateau_config(patience=3))
  losses = 10.0 * 0.996 ** (np.arange(600) // 10)
  assert run(cur, losses) == []


def test_plateau_flat_loss_advances_after_patience_windows():
  cur = curriculum.Curriculum(plateau_config())
  # Windows end at steps 10, 20, ...: 10 sets the baseline, 20, 30, 40 do not improve.
  assert run(cur, [1.0] * 39) == []
  assert cur.bad_windows == 2
  assert cur.update(40, 1.0)
  assert cur.stage_index == 1 and cur.stage_start_step == 40
  assert cur.ema is None and cur.best is None and cur.bad_windows == 0
  # The next stage starts afresh: windows at 50, 60, 70, 80.
  assert run(cur, [2.0] * 40, start=41) == [80]
  # The last stage never ends by itself.
  assert run(cur, [3.0] * 1000, start=81) == []
  assert cur.stage_index == 2 and not cur.done and cur.bad_windows > 3


def test_plateau_falling_then_flat():
  cur = curriculum.Curriculum(plateau_config())
  losses = list(10.0 * 0.99 ** np.arange(100)) + [10.0 * 0.99 ** 99] * 60
  # Improvements until the window at 100 (the loss at 91..100 is 1% lower than
  # at 81..90); flat after it: 110, 120, 130 without improvement.
  assert run(cur, losses) == [130]


def test_plateau_respects_min_steps():
  cur = curriculum.Curriculum(plateau_config(min_steps=95))
  assert run(cur, [1.0] * 150) == [95]  # stage 1 needs until 190
  cur = curriculum.Curriculum(plateau_config(min_steps=40))
  assert run(cur, [1.0] * 200) == [40, 80]


def test_plateau_improvement_resets_patience():
  cur = curriculum.Curriculum(plateau_config())
  losses = [1.0] * 30 + [0.5] * 10 + [0.5] * 30
  # Baseline at 10, bad at 20, 30; improved at 40; bad at 50, 60, 70.
  assert run(cur, losses) == [70]


def test_plateau_ema_smooths_noise():
  rng = np.random.default_rng(0)
  noisy = 1.0 + 0.5 * rng.standard_normal(3000)
  cur = curriculum.Curriculum(plateau_config(ema_decay=0.99, window=200, patience=3,
                                             min_steps=1000))
  advanced = run(cur, noisy)
  assert advanced and 1000 <= advanced[0] <= 2000


def test_plateau_max_steps():
  cur = curriculum.Curriculum(plateau_config(max_steps=25))
  losses = 10.0 * 0.95 ** np.arange(200)  # always improving
  assert run(cur, losses) == [25, 50]  # not in the last stage
  assert cur.stage_index == 2
  assert cur.steps_left(60) is None
  cur = curriculum.Curriculum(plateau_config(max_steps=25))
  assert cur.steps_left(10) == 15


def test_plateau_irregular_steps():
  cur = curriculum.Curriculum(plateau_config(window=100, patience=3, min_steps=0))
  # Calls every 50 steps: windows at 100 (baseline), 200, 300, 400.
  assert run_at(cur, range(50, 800, 50), 1.0) == [400]  # stage 1: 800
  # Calls every 250 steps cross 2 or 3 boundaries each: 250 (baseline), 500
  # (+3 bad windows) -> advance.
  cur = curriculum.Curriculum(plateau_config(window=100, patience=3, min_steps=0))
  assert run_at(cur, range(250, 1000, 250), 1.0) == [500]


def run_at(cur, steps, loss):
  return [step for step in steps if cur.update(step, loss)]


def test_plateau_ema_uses_step_gaps():
  cur = curriculum.Curriculum(plateau_config(ema_decay=0.5))
  cur.update(1, 0.0)
  cur.update(2, 8.0)
  assert cur.ema == pytest.approx(4.0)
  cur.update(5, 0.0)  # 3 steps later: weight 0.5 ** 3 on the old average
  assert cur.ema == pytest.approx(0.5)


# State.

def json_round_trip(cur):
  return json.loads(json.dumps(cur.state_dict(), allow_nan=False))


@pytest.mark.parametrize('config', [
    plateau_config(ema_decay=0.9, min_steps=50, max_steps=300),
    Config(stages=three_stages(), advance='steps', stage_steps=(70, 90, 100)),
], ids=['plateau', 'steps'])
def test_state_round_trip_continues_identically(config):
  rng = np.random.default_rng(1)
  # Falling, then flat with noise: several plateaus.
  losses = [float(5.0 * 0.99 ** min(i % 150, 60) + 0.05 * rng.standard_normal())
            for i in range(600)]
  reference = curriculum.Curriculum(config)
  expected = [(reference.update(step, loss), reference.stage_index, reference.done,
               reference.state_dict()) for step, loss in enumerate(losses, 1)]
  assert reference.stage_index == 2  # the sequence exercises the advances

  for cut in (1, 37, 70, 133, 250, 599):
    first = curriculum.Curriculum(config)
    for step, loss in enumerate(losses[:cut], 1):
      first.update(step, loss)
    restored = curriculum.Curriculum(config, json_round_trip(first))
    got = [(restored.update(step, loss), restored.stage_index, restored.done,
            restored.state_dict()) for step, loss in enumerate(losses[cut:], cut + 1)]
    assert got == expected[cut:], cut


def test_from_state_and_load_state_dict():
  cur = curriculum.Curriculum(plateau_config())
  run(cur, [1.0] * 45)
  state = json_round_trip(cur)
  other = curriculum.Curriculum.from_state(plateau_config(), state)
  assert other.state_dict() == cur.state_dict()
  fresh = curriculum.Curriculum(plateau_config())
  fresh.load_state_dict(state)
  assert fresh.stage_index == 1 and fresh.stage_start_step == 40


def test_state_validation():
  cur = curriculum.Curriculum(plateau_config())
  run(cur, [1.0] * 15)
  state = json_round_trip(cur)
  with pytest.raises(ValueError, match='state has 3 stages but the config has 5'):
    curriculum.Curriculum(Config(), state)
  with pytest.raises(ValueError, match=r"lacks \['best'\]"):
    curriculum.Curriculum(plateau_config(), {k: v for k, v in state.items() if k != 'best'})
  with pytest.raises(ValueError, match='stage_index 3 is out of range'):
    curriculum.Curriculum(plateau_config(), dict(state, stage_index=3))
  with pytest.raises(ValueError, match='version'):
    curriculum.Curriculum(plateau_config(), dict(state, version=99))
  with pytest.raises(ValueError, match='state ema must be a number'):
    curriculum.Curriculum(plateau_config(), dict(state, ema='x'))
  with pytest.raises(ValueError, match='must be a dict'):
    curriculum.Curriculum(plateau_config(), [1, 2])


def test_done_semantics():
  # 'plateau' is never done, even in the last stage.
  cur = curriculum.Curriculum(plateau_config(max_steps=10))
  run(cur, [1.0] * 500)
  assert cur.stage_index == 2 and not cur.done and not cur.finite
  # 'steps' with an endless last stage is never done.
  cur = curriculum.Curriculum(Config(stages=three_stages(), advance='steps',
                                     stage_steps=(5, 5, 0)))
  run(cur, [1.0] * 500)
  assert cur.stage_index == 2 and not cur.done
  # 'steps' with a finite last stage: done at the end of it, and the call that
  # finishes it returns False (no new stage); the done flag survives a restore.
  cur = curriculum.Curriculum(Config(stages=three_stages(), advance='steps',
                                     stage_steps=(5, 5, 5)))
  assert run(cur, [1.0] * 14) == [5, 10] and not cur.done
  assert not cur.update(15, 1.0) and cur.done
  restored = curriculum.Curriculum(cur.config, json_round_trip(cur))
  assert restored.done and restored.stage_index == 2


def test_metrics():
  cur = curriculum.Curriculum(plateau_config())
  cur.update(1, 2.0)
  metrics = cur.metrics()
  assert metrics['curriculum/unrolls'] == 2 and metrics['curriculum/batch'] == 8
  assert metrics['curriculum/loss_ema'] == 2.0
  assert all(isinstance(v, float) for v in metrics.values())
