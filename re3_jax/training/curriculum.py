"""The unroll curriculum as it runs: `Curriculum`, the rule that moves training from one
stage to the next, and its state.

What it runs, the stages (`stages.Stage`, the paper's `stages.CURRICULUM`) and the
settings of the rule (`stages.CurriculumConfig`), is in `re3_jax.training.stages`.

`Curriculum` is a host-side state machine that the training loop calls with
the loss (`Curriculum.update`); it says which stage is current and when it
changes. Its state (`Curriculum.state_dict`) is a small JSON-serialisable dict
for the training checkpoint; a restored curriculum continues exactly as an
uninterrupted one would on the same losses.

Steps: ``update(step, loss)`` takes the number of training steps completed
when ``loss`` was measured (the loss of step ``step``, counting from 1). Stage
0 starts at step 0 (or ``start_step``). Calls may come at irregular steps (for
example only when the loss is fetched to the host for logging); everything is
measured in step numbers, not in calls. The steps must increase strictly from
call to call. When `update` returns True, the steps after ``step`` belong to
the new stage.

Advance modes (`stages.CurriculumConfig.advance`):

* ``'steps'``: stage ``k`` lasts ``stage_steps[k]`` steps, so it ends at step
  ``start_step + sum(stage_steps[:k + 1])`` whatever the call pattern (the next
  stage's start is that boundary, not the step of the call that noticed it; one
  call may cross several boundaries). ``stage_steps[-1] == 0`` runs the last
  stage forever; otherwise the curriculum is `Curriculum.done` once the last
  stage's steps are spent.
* ``'plateau'`` (the paper's rule, made precise):

  1. the loss is smoothed by an exponential moving average with decay
     ``ema_decay`` per step; the average is reset at each stage start and
     initialised with the stage's first loss. A call ``k`` steps after the
     previous one weighs the old average by ``ema_decay ** k`` (so sparse calls
     approximate the per-step average);
  2. the smoothed loss is examined at the window boundaries ``stage_start +
     n * window`` (n >= 1), at the first call at or after each boundary. The
     first examination sets the stage's best smoothed loss. Each later one
     counts as an improvement when ``best - ema > min_rel_improvement *
     |best|``: then ``best = ema`` and the count of windows without improvement
     is reset to 0; otherwise the count grows by the number of boundaries the
     call crossed (one, when calls are at least as frequent as windows).
     Small improvements do not move ``best`` (as in Keras / PyTorch
     ``ReduceLROnPlateau``), so a slow but steady decline adds up and still
     counts as progress;
  3. the stage advances at the first call at which the count has reached
     ``patience`` and the stage has run at least ``min_steps`` steps;
  4. independently, when ``max_steps > 0``, it advances at the first call at
     which the stage has run ``max_steps`` steps;
  5. the last stage never ends by itself (`Curriculum.done` stays False): the
     training loop decides when to stop.

  With the defaults (window 500, patience 3), a stage that has stopped
  improving advances 2000 steps after its start at the earliest: the first
  window sets the baseline, three more find no improvement.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from re3_jax.training import stages as stages_lib

STATE_VERSION = 1


_STATE_KEYS = ('version', 'num_stages', 'stage_index', 'stage_start_step', 'last_step',
               'ema', 'best', 'bad_windows', 'next_check_step', 'done')


class Curriculum:
  """Host-side state machine: the current stage and the plateau statistics.

  Usage::

    curriculum = curriculum_lib.Curriculum(config)  # a stages.CurriculumConfig
    for step in range(1, num_steps + 1):
      stage = curriculum.stage   # build / switch the pipeline on a change
      loss = train_step(...)     # with stage.unrolls, stage.batch, ...
      if curriculum.update(step, float(loss)):
        ...                      # the next step uses curriculum.stage
      if curriculum.done:
        break

  ``update`` may equally be called only at logged steps.
  """

  def __init__(self, config: stages_lib.CurriculumConfig, state: dict[str, Any] | None = None,
               *, start_step: int = 0):
    """Creates a curriculum at its first stage, or restores one.

    Args:
      config: the stages and the advance rule.
      state: a `state_dict` to continue from (then ``start_step`` is unused).
      start_step: the step at which stage 0 starts.

    Raises:
      ValueError: an invalid ``state`` or ``start_step``.
    """
    self._config = config
    stages_lib.check_int('start_step', start_step, 0)
    self._index = 0
    self._done = False
    self._last_step: int | None = None
    self._start_stage(start_step)
    if state is not None:
      self.load_state_dict(state)

  @classmethod
  def from_state(cls, config: stages_lib.CurriculumConfig, state: dict[str, Any]) -> Curriculum:
    """A curriculum restored from a `state_dict`."""
    return cls(config, state)

  @property
  def config(self) -> stages_lib.CurriculumConfig:
    return self._config

  @property
  def stage_index(self) -> int:
    """The current stage's index (the last one once `done`)."""
    return self._index

  @property
  def stage(self) -> stages_lib.Stage:
    """The current stage."""
    return self._config.stages[self._index]

  @property
  def num_stages(self) -> int:
    return len(self._config.stages)

  @property
  def is_last_stage(self) -> bool:
    return self._index == self.num_stages - 1

  @property
  def done(self) -> bool:
    """True once the last stage's steps are spent (only ``'steps'`` with a
    finite last stage; a ``'plateau'`` curriculum is never done)."""
    return self._done

  @property
  def finite(self) -> bool:
    """Whether the curriculum ends by itself (``'steps'``, finite last stage)."""
    return self._config.total_steps is not None

  def steps_left(self, step: int) -> int | None:
    """Steps left in the current stage after ``step``, where known.

    Known with ``'steps'`` (except in an endless last stage), and with
    ``'plateau'`` and ``max_steps > 0`` as an upper bound (not in the last
    stage). Otherwise None. 0 once `done`.
    """
    if self._done:
      return 0
    config = self._config
    if config.advance == 'steps':
      length = config.stage_steps[self._index]
    elif self.is_last_stage:
      length = 0
    else:
      length = config.max_steps
    if length == 0:
      return None
    return max(0, self._stage_start + length - step)

  @property
  def stage_start_step(self) -> int:
    """The step after which the current stage began."""
    return self._stage_start

  @property
  def ema(self) -> float | None:
    """The current stage's smoothed loss (None before its first loss)."""
    return self._ema

  @property
  def best(self) -> float | None:
    """The best smoothed loss examined in the current stage (plateau rule)."""
    return self._best

  @property
  def bad_windows(self) -> int:
    """Windows without improvement since the last improvement (plateau rule)."""
    return self._bad_windows

  def metrics(self) -> dict[str, float]:
    """Scalars for logging."""
    out = {'curriculum/stage': float(self._index),
           'curriculum/unrolls': float(self.stage.unrolls),
           'curriculum/batch': float(self.stage.batch),
           'curriculum/self_train_prob': float(self.stage.self_train_prob)}
    if self._config.advance == 'plateau':
      out['curriculum/bad_windows'] = float(self._bad_windows)
      if self._ema is not None:
        out['curriculum/loss_ema'] = self._ema
    return out

  def _start_stage(self, start_step: int) -> None:
    self._stage_start = start_step
    self._ema: float | None = None
    self._best: float | None = None
    self._bad_windows = 0
    self._next_check = start_step + self._config.window

  def update(self, step: int, loss: float) -> bool:
    """Takes the loss of a step and advances the stage when the rule says so.

    Args:
      step: the number of training steps completed when ``loss`` was measured;
        strictly greater than at the previous call, and than the stage start.
      loss: that step's loss (a Python or NumPy scalar).

    Returns:
      True when the stage changed at this call (the steps after ``step`` use
      the new `stage`). Finishing the last stage sets `done` but returns False.

    Raises:
      ValueError: a non-finite loss (naming the step), or a step that does not
        come after the previous one.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
      raise ValueError(f'step must be an integer, got {step!r}')
    step = int(step)
    try:
      loss = float(loss)
    except (TypeError, ValueError):
      raise ValueError(f'loss at step {step} is not a number: {loss!r}') from None
    if not math.isfinite(loss):
      raise ValueError(f'loss at step {step} is not finite: {loss}')
    if self._last_step is not None and step <= self._last_step:
      raise ValueError(f'step {step} does not come after the previous update\'s step '
                       f'{self._last_step}')
    if step <= self._stage_start:
      raise ValueError(f'step {step} does not come after the start of stage {self._index} '
                       f'(step {self._stage_start})')
    if self._done:
      self._last_step = step
      return False
    if self._config.advance == 'steps':
      changed = self._update_steps(step)
    else:
      changed = self._update_plateau(step, loss)
    self._last_step = step
    return changed

  def _update_steps(self, step: int) -> bool:
    config = self._config
    old_index = self._index
    while True:
      length = config.stage_steps[self._index]
      if length == 0 or step - self._stage_start < length:
        break
      end = self._stage_start + length
      if self.is_last_stage:
        self._done = True
        break
      self._index += 1
      self._start_stage(end)
    return self._index != old_index

  def _update_plateau(self, step: int, loss: float) -> bool:
    config = self._config
    if self._ema is None:
      self._ema = loss
    else:
      # The previous call of this stage set the average (a stage start resets it).
      weight = config.ema_decay ** (step - self._last_step)
      self._ema = weight * self._ema + (1.0 - weight) * loss
    if step >= self._next_check:
      crossed = (step - self._next_check) // config.window + 1
      self._next_check += crossed * config.window
      if self._best is None:
        self._best = self._ema
      elif self._best - self._ema > config.min_rel_improvement * abs(self._best):
        self._best = self._ema
        self._bad_windows = 0
      else:
        self._bad_windows += crossed
    if self.is_last_stage:
      return False
    ran = step - self._stage_start
    plateaued = self._bad_windows >= config.patience and ran >= config.min_steps
    if plateaued or (config.max_steps > 0 and ran >= config.max_steps):
      self._index += 1
      self._start_stage(step)
      return True
    return False

  def state_dict(self) -> dict[str, Any]:
    """The state as a JSON-serialisable dict of ints, floats, None and bools."""
    return {
        'version': STATE_VERSION,
        'num_stages': self.num_stages,
        'stage_index': self._index,
        'stage_start_step': self._stage_start,
        'last_step': self._last_step,
        'ema': self._ema,
        'best': self._best,
        'bad_windows': self._bad_windows,
        'next_check_step': self._next_check,
        'done': self._done,
    }

  def load_state_dict(self, state: dict[str, Any]) -> None:
    """Restores a `state_dict` (for example after a JSON round trip).

    Raises:
      ValueError: a missing or invalid entry, or a state saved with a different
        number of stages than the config's.
    """
    if not isinstance(state, dict):
      raise ValueError(f'curriculum state must be a dict, got {type(state).__name__}')
    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
      raise ValueError(f'curriculum state lacks {missing}')
    if state['version'] != STATE_VERSION:
      raise ValueError(f'curriculum state version {state["version"]!r} is not '
                       f'{STATE_VERSION}')
    if state['num_stages'] != self.num_stages:
      raise ValueError(f'curriculum state has {state["num_stages"]} stages but the config '
                       f'has {self.num_stages}: {", ".join(map(str, self._config.stages))}')
    stages_lib.check_int('state stage_index', state['stage_index'], 0)
    if state['stage_index'] >= self.num_stages:
      raise ValueError(f'state stage_index {state["stage_index"]} is out of range for '
                       f'{self.num_stages} stages')
    stages_lib.check_int('state stage_start_step', state['stage_start_step'], 0)
    stages_lib.check_int('state bad_windows', state['bad_windows'], 0)
    stages_lib.check_int('state next_check_step', state['next_check_step'], 0)
    if state['last_step'] is not None:
      stages_lib.check_int('state last_step', state['last_step'], 0)
    if not isinstance(state['done'], bool):
      raise ValueError(f'state done must be a bool, got {state["done"]!r}')
    floats = {}
    for key in ('ema', 'best'):
      floats[key] = (None if state[key] is None
                     else stages_lib.check_float(f'state {key}', state[key]))
    if floats['ema'] is not None and state['last_step'] is None:
      raise ValueError('curriculum state has an ema but no last_step')
    self._index = int(state['stage_index'])
    self._stage_start = int(state['stage_start_step'])
    self._last_step = None if state['last_step'] is None else int(state['last_step'])
    self._ema = floats['ema']
    self._best = floats['best']
    self._bad_windows = int(state['bad_windows'])
    self._next_check = int(state['next_check_step'])
    self._done = state['done']
