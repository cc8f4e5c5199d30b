"""Tests of `re3_jax.training.stages`: the paper's stages, their validation and text form, the
curriculum's config."""

from __future__ import annotations

import pytest

from re3_jax.training import stages as stages_lib

Stage = stages_lib.Stage
Config = stages_lib.CurriculumConfig


def test_the_paper_stages():
  stages = stages_lib.PAPER_STAGES
  assert [(s.unrolls, s.batch) for s in stages] == list(stages_lib.CURRICULUM)
  assert [s.self_train_prob for s in stages] == [0.25, 0.5, 0.75, 0.75, 0.75]


def test_paper_stages_batch_override():
  stages = stages_lib.paper_stages(batches=(64,) * 5)
  assert [(s.unrolls, s.batch) for s in stages] == [(2, 64), (4, 64), (8, 64), (16, 64),
                                                   (32, 64)]
  with pytest.raises(ValueError, match='batches needs 5'):
    stages_lib.paper_stages(batches=(64, 64))


def test_parse_stage():
  assert stages_lib.parse_stage('2x64') == (2, 64)
  assert stages_lib.parse_stage(' 32X4 ') == (32, 4)
  for bad in ('2x', 'x4', '2-64', '2x4x8'):
    with pytest.raises(ValueError, match=f'{bad!r}: expected UNROLLSxBATCH'):
      stages_lib.parse_stage(bad)
  with pytest.raises(ValueError, match='>= 1'):
    stages_lib.parse_stage('0x4')


def test_parse_stages_good():
  assert stages_lib.parse_stages('2x64,4x32,8x16,16x8,32x4') == stages_lib.PAPER_STAGES
  assert stages_lib.parse_stages(' 2X64 , 4x32 ', '0.8') == (Stage(2, 64, 0.8), Stage(4, 32, 0.8))
  assert stages_lib.parse_stages('2x64,4x64', '0, 1') == (Stage(2, 64, 0.0), Stage(4, 64, 1.0))
  # More stages than the paper's: the last probability is repeated.
  stages = stages_lib.parse_stages('1x1,2x1,3x1,4x1,5x1,6x1')
  assert [s.self_train_prob for s in stages] == [0.25, 0.5, 0.75, 0.75, 0.75, 0.75]
  # A stage's own @PROB; the others take the default of their place.
  assert stages_lib.parse_stages('2x64@0.1, 4x32') == (Stage(2, 64, 0.1), Stage(4, 32, 0.5))


def test_format_stages_parses_back_exactly():
  stages = (Stage(2, 64, 1 / 3), Stage(4, 32, 0.1), Stage(8, 16, 1.0), Stage(16, 8, 0))
  assert stages_lib.format_stages(stages) == '2x64@0.3333333333333333,4x32@0.1,8x16@1.0,16x8@0.0'
  assert stages_lib.parse_stages(stages_lib.format_stages(stages)) == stages


@pytest.mark.parametrize('text, self_train, match', [
    ('', None, 'no stages'),
    ('2x64,,4x32', None, "stage 1 ''"),
    ('2x64,4y32', None, "stage 1 '4y32'"),
    ('2x64x3', None, "stage 0 '2x64x3'"),
    ('2x6.5', None, "stage 0 '2x6.5'"),
    ('0x64', None, "stage 0 '0x64'.*>= 1"),
    ('2x64,4x-1', None, "stage 1 '4x-1'.*>= 1"),
    ('2x64,4x32', '0.5,abc', "probability 1 'abc'.*not a number"),
    ('2x64,4x32', '0.5,1.5', "probability 1 '1.5'.*not in"),
    ('2x64,4x32', 'nan', "probability 0 'nan'.*not in"),
    ('2x64,4x32', '0.1,0.2,0.3', '3 self-training probabilities.*2 stages'),
    ('2x64@0.5,4x32', '0.5', 'give them one way'),
    ('2x64@x', None, "stage 0 self-training probability 0 'x' is not a number"),
    ('2x64,4x32@1.5', None, "stage 1 self-training probability 1 '1.5' is not in"),
])
def test_parse_stages_bad(text, self_train, match):
  with pytest.raises(ValueError, match=match):
    stages_lib.parse_stages(text, self_train)


@pytest.mark.parametrize('args, match', [
    ((0, 4, 0.5), 'unrolls must be >= 1'),
    ((2, 0, 0.5), 'batch must be >= 1'),
    ((2.0, 4, 0.5), 'unrolls must be an integer'),
    ((2, 4, -0.1), r'self_train_prob must be in \[0, 1\]'),
    ((2, 4, 1.5), r'self_train_prob must be in \[0, 1\]'),
    ((2, 4, float('nan')), 'self_train_prob must be finite'),
])
def test_stage_validation(args, match):
  with pytest.raises(ValueError, match=match):
    Stage(*args)


# CurriculumConfig.


def _three_stages():
  return stages_lib.parse_stages('2x8,4x4,8x2', '0.1,0.2,0.3')


def test_defaults_are_the_paper_schedule():
  assert Config().stages == stages_lib.PAPER_STAGES and Config().advance == 'plateau'


@pytest.mark.parametrize('kwargs, match', [
    (dict(stages=()), 'stages is empty'),
    (dict(advance='loss'), 'advance must be one of'),
    (dict(advance='steps'), 'one stage_steps value per stage'),
    (dict(advance='steps', stage_steps=(10, 10)), 'one stage_steps value per stage'),
    (dict(advance='steps', stage_steps=(10, 0, 10)), r'stage_steps\[1\] must be >= 1'),
    (dict(advance='steps', stage_steps=(10, 10, -1)), r'stage_steps\[2\] \(the last stage\)'),
    (dict(stage_steps=(10, 10, 10)), "only used with advance='steps'"),
    (dict(ema_decay=1.0), 'ema_decay'),
    (dict(window=0), 'window must be >= 1'),
    (dict(patience=0), 'patience must be >= 1'),
    (dict(min_rel_improvement=-0.1), 'min_rel_improvement'),
    (dict(min_steps=-1), 'min_steps'),
    (dict(max_steps=-1), 'max_steps'),
])
def test_config_validation(kwargs, match):
  with pytest.raises(ValueError, match=match):
    Config(**dict(dict(stages=_three_stages()), **kwargs))


def test_config_accepts_lists():
  config = Config(stages=list(_three_stages()), advance='steps', stage_steps=[1, 2, 0])
  assert isinstance(config.stages, tuple) and config.stage_steps == (1, 2, 0)
  hash(config)
