"""What the curriculum runs: its stages (unrolls, batch, self-training probability), their
text form, and `CurriculumConfig` (the stages and the settings of the rule that advances
them; `re3_jax.training.curriculum` runs it).

Re3 trains with short unrolls first and longer ones later (reference section
6): start with 2 unrolls and batch 64, and each time the loss plateaus double
the unrolls and halve the batch, 2x64, 4x32, 8x16, 16x8, 32x4
(`CURRICULUM`). The probability that a sequence places its
crop windows at the network's own previous predictions ("self-training") rises
with the stages.

Self-training schedule (`PAPER_SELF_TRAIN`): the reference gives 0.25 -> 0.5 ->
0.75 as the unrolls double (a secondary source); it is used literally for the
first three stages and kept at 0.75 after them: (0.25, 0.5, 0.75, 0.75, 0.75).
Stage ``i`` of a schedule with more stages gets the last value. The released
code used a constant 0.8 (``parse_stages(text, '0.8')``).

Large accelerators may keep the batch high in every stage; `paper_stages`
takes per-stage batches (``paper_stages(batches=(64,) * 5)``), as does the
text form of `parse_stages` (``'2x64,4x64,8x64,16x64,32x64'``).

`parse_stages` and `format_stages` are the stages' text form
(``'2x64@0.25,4x32@0.5'``): the ``--config.curriculum.stages`` flag and
``flags.txt``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Sequence

# The paper's stages of (unrolls, batch size), reference section 6.
CURRICULUM = ((2, 64), (4, 32), (8, 16), (16, 8), (32, 4))
# Self-training probability per stage: reference section 6 (0.25 -> 0.5 -> 0.75
# as the unrolls double), kept at 0.75 for the last two stages.
PAPER_SELF_TRAIN = (0.25, 0.5, 0.75, 0.75, 0.75)


def check_int(name: str, value: Any, minimum: int) -> None:
  """A ValueError naming `name` unless `value` is an integer >= `minimum` (not a bool)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise ValueError(f'{name} must be an integer, got {value!r}')
  if value < minimum:
    raise ValueError(f'{name} must be >= {minimum}, got {value}')


def check_float(name: str, value: Any) -> float:
  """`value` as a float; a ValueError naming `name` unless it is a finite real (not a bool)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise ValueError(f'{name} must be a number, got {value!r}')
  value = float(value)
  if not math.isfinite(value):
    raise ValueError(f'{name} must be finite, got {value}')
  return value


@dataclasses.dataclass(frozen=True)
class Stage:
  """One stage of the curriculum.

  Attributes:
    unrolls: frames per training sequence (LSTM unroll length).
    batch: sequences per global batch.
    self_train_prob: the probability that a sequence places its crop windows
      at the network's own previous predictions, in [0, 1].
  """
  unrolls: int
  batch: int
  self_train_prob: float

  def __post_init__(self):
    check_int('unrolls', self.unrolls, 1)
    check_int('batch', self.batch, 1)
    prob = check_float('self_train_prob', self.self_train_prob)
    if not 0.0 <= prob <= 1.0:
      raise ValueError(f'self_train_prob must be in [0, 1], got {prob}')

  def __str__(self) -> str:
    return f'{self.unrolls}x{self.batch}@{float(self.self_train_prob)!r}'  # exact: parses back


def default_self_train(num_stages: int) -> tuple[float, ...]:
  """`PAPER_SELF_TRAIN` cut or extended (with its last value) to ``num_stages``."""
  return tuple(PAPER_SELF_TRAIN[min(i, len(PAPER_SELF_TRAIN) - 1)]
               for i in range(num_stages))


def paper_stages(batches: Sequence[int] | None = None,
                 self_train: Sequence[float] | None = None) -> tuple[Stage, ...]:
  """The paper's five stages, optionally with other batches or probabilities.

  Args:
    batches: one batch size per stage (default: 64, 32, 16, 8, 4).
    self_train: one self-training probability per stage (default
      `PAPER_SELF_TRAIN`).

  Returns:
    Five `Stage` s with the unrolls 2, 4, 8, 16, 32.

  Raises:
    ValueError: a sequence of the wrong length, or an invalid value.
  """
  n = len(CURRICULUM)
  if batches is None:
    batches = [batch for _, batch in CURRICULUM]
  if self_train is None:
    self_train = default_self_train(n)
  if len(batches) != n:
    raise ValueError(f'batches needs {n} values (one per stage), got {len(batches)}: '
                     f'{tuple(batches)}')
  if len(self_train) != n:
    raise ValueError(f'self_train needs {n} values (one per stage), got '
                     f'{len(self_train)}: {tuple(self_train)}')
  return tuple(Stage(unrolls, batch, prob) for (unrolls, _), batch, prob
               in zip(CURRICULUM, batches, self_train))


PAPER_STAGES = paper_stages()


def parse_stage(text: str) -> tuple[int, int]:
  """``'2x64'`` -> ``(2, 64)``: one stage's ``UNROLLSxBATCH`` (``x`` or ``X``, spaces allowed).

  Raises:
    ValueError: naming the text that does not parse, or a value below 1.
  """
  fields = text.strip().lower().split('x')
  try:
    if len(fields) != 2:
      raise ValueError
    unrolls, batch = int(fields[0]), int(fields[1])
  except ValueError:
    raise ValueError(f'{text!r}: expected UNROLLSxBATCH such as 4x32') from None
  if unrolls < 1 or batch < 1:
    raise ValueError(f'{text!r}: unrolls and batch must be >= 1')
  return unrolls, batch


def parse_stages(text: str, self_train: str | None = None) -> tuple[Stage, ...]:
  """Parses stages from text; ``','.join(map(str, stages))`` is its inverse.

  Args:
    text: comma-separated stages, each ``UNROLLSxBATCH`` or
      ``UNROLLSxBATCH@PROB`` (spaces allowed, ``x`` or ``X``), e.g.
      ``'2x64@0.25,4x32@0.5'`` or ``'2x64,4x32,8x16,16x8,32x4'``.
    self_train: comma-separated probabilities for the stages without
      ``@PROB``, one per stage, or a single one for every stage (``'0.8'``);
      default `default_self_train`.

  Returns:
    The stages in order.

  Raises:
    ValueError: naming the part that does not parse or is invalid.
  """
  if not text.strip():
    raise ValueError('no stages given: expected e.g. 2x64,4x32,8x16,16x8,32x4')
  parts = [part.strip() for part in text.split(',')]
  pairs, own = [], []
  for i, part in enumerate(parts):
    stage, at, prob = part.partition('@')
    try:
      pairs.append(parse_stage(stage))
      own.append(_parse_prob(prob, i, '') if at else None)
    except ValueError as e:
      raise ValueError(f'stage {i} {e} (in {text!r})') from None
  if self_train is None:
    probs = default_self_train(len(pairs))
  else:
    probs = [_parse_prob(part.strip(), i, f' of {self_train!r}')
             for i, part in enumerate(self_train.split(','))]
    if len(probs) == 1:
      probs = probs * len(pairs)
    if len(probs) != len(pairs):
      raise ValueError(f'{len(probs)} self-training probabilities ({self_train!r}) '
                       f'for {len(pairs)} stages ({text!r}): give one per stage or one '
                       'for all')
    if any(p is not None for p in own):
      raise ValueError(f'stages {text!r} carry @PROB and self-training probabilities '
                       f'{self_train!r} are given too: give them one way')
  return tuple(Stage(unrolls, batch, prob if mine is None else mine)
               for (unrolls, batch), prob, mine in zip(pairs, probs, own))


def format_stages(stages: Sequence[Stage]) -> str:
  """``'2x64@0.25,4x32@0.5'``: the text `parse_stages` reads back."""
  return ','.join(str(stage) for stage in stages)


def _parse_prob(text: str, index: int, context: str) -> float:
  where = f'self-training probability {index} {text!r}{context}'
  try:
    prob = float(text)
  except ValueError:
    raise ValueError(f'{where} is not a number') from None
  if not 0.0 <= prob <= 1.0:  # Also rejects NaN.
    raise ValueError(f'{where} is not in [0, 1]')
  return prob


ADVANCE_MODES = ('plateau', 'steps')


@dataclasses.dataclass(frozen=True)
class CurriculumConfig:
  """The curriculum: its stages and the settings of the rule that moves from one to the next.

  `re3_jax.training.curriculum` runs it (`curriculum.Curriculum`); its module docstring
  gives the exact rules.

  Attributes:
    stages: the stages in order (default: the paper's five, `PAPER_STAGES`).
    advance: ``'plateau'`` (advance when the smoothed loss stops improving) or
      ``'steps'`` (fixed numbers of steps).
    stage_steps: with ``advance='steps'``, the steps to spend in each stage,
      one per stage, each >= 1 except the last, which may be 0 (run until the
      end of training). Must be empty with ``'plateau'``.
    ema_decay: plateau: the per-step decay of the loss's moving average, in
      [0, 1).
    window: plateau: steps between examinations of the smoothed loss.
    patience: plateau: windows without improvement before advancing.
    min_rel_improvement: plateau: the relative decrease of the smoothed loss
      below the best so far that counts as an improvement.
    min_steps: plateau: steps a stage runs at least.
    max_steps: plateau: steps after which a stage (not the last) advances in
      any case; 0 for no limit.
  """
  stages: tuple[Stage, ...] = dataclasses.field(
      default=PAPER_STAGES,
      metadata={'parse': parse_stages, 'format': format_stages})
  advance: str = 'plateau'
  stage_steps: tuple[int, ...] = ()
  ema_decay: float = 0.99
  window: int = 500
  patience: int = 3
  min_rel_improvement: float = 0.01
  min_steps: int = 1000
  max_steps: int = 0

  def __post_init__(self):
    # Lists are accepted and stored as tuples (the config stays hashable).
    object.__setattr__(self, 'stages', tuple(self.stages))
    object.__setattr__(self, 'stage_steps', tuple(self.stage_steps))
    if not self.stages:
      raise ValueError('stages is empty')
    for i, stage in enumerate(self.stages):
      if not isinstance(stage, Stage):
        raise ValueError(f'stages[{i}] is not a Stage: {stage!r}')
    if self.advance not in ADVANCE_MODES:
      raise ValueError(f'advance must be one of {ADVANCE_MODES}, got {self.advance!r}')
    if self.advance == 'steps':
      if len(self.stage_steps) != len(self.stages):
        raise ValueError(f"advance='steps' needs one stage_steps value per stage: "
                         f'{len(self.stages)} stages, stage_steps={self.stage_steps}')
      for i, steps in enumerate(self.stage_steps):
        last = i == len(self.stages) - 1
        check_int(f'stage_steps[{i}]' + (' (the last stage)' if last else ''),
                  steps, 0 if last else 1)
    elif self.stage_steps:
      raise ValueError(f"stage_steps is only used with advance='steps', got "
                       f'{self.stage_steps} with advance={self.advance!r}')
    decay = check_float('ema_decay', self.ema_decay)
    if not 0.0 <= decay < 1.0:
      raise ValueError(f'ema_decay must be in [0, 1), got {decay}')
    check_int('window', self.window, 1)
    check_int('patience', self.patience, 1)
    if check_float('min_rel_improvement', self.min_rel_improvement) < 0:
      raise ValueError(f'min_rel_improvement must be >= 0, got {self.min_rel_improvement}')
    check_int('min_steps', self.min_steps, 0)
    check_int('max_steps', self.max_steps, 0)

  @property
  def total_steps(self) -> int | None:
    """With ``'steps'`` and a finite last stage, the curriculum's length; else None."""
    if self.advance != 'steps' or self.stage_steps[-1] == 0:
      return None
    return sum(self.stage_steps)
