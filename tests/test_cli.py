"""Tests of what the command lines share."""

import dataclasses
import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap

from absl import flags
from absl import logging
from absl.testing import flagsaver
import pytest

from re3_jax import cli
from re3_jax.input import pipeline
from re3_jax.training import loop
from re3_jax.training import stages as stages_lib
from re3_jax.training import train_step
from re3_jax.testing import fake_datasets

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_library_logs_quiet_unless_verbosity_is_given():
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['prog'])
    logging.set_verbosity(logging.INFO)
    cli.quiet_library_logs()
    assert logging.get_verbosity() == logging.WARNING
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['prog', '--verbosity=0'])  # the user asked for INFO records
    cli.quiet_library_logs()
    assert logging.get_verbosity() == logging.INFO


# Settings as flags, on their own FlagValues (absl's global flags belong to the entry points).


def _defined(default=None):
  flag_values = flags.FlagValues()
  get = cli.define_config_flags(loop.TrainConfig() if default is None else default,
                                flag_values=flag_values)
  return flag_values, get


def _leaves(config, prefix='config'):
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if dataclasses.is_dataclass(value):
      yield from _leaves(value, f'{prefix}.{field.name}')
    else:
      yield f'{prefix}.{field.name}', field.name


def test_every_train_setting_is_a_documented_flag():
  flag_values, get = _defined()
  leaves = dict(_leaves(loop.TrainConfig()))
  assert {n for n in flag_values if n.startswith('config.')} == set(leaves)
  assert len(leaves) >= 38  # keep_prob, mirror_prob, num_distractors, sim_size, split, ...
  for name, field in leaves.items():
    help_text = flag_values[name].help
    assert help_text != field and len(help_text) > 10, (name, help_text)  # from the docstring
  flag_values(['prog'])
  assert get() == loop.TrainConfig()  # nothing given: the dataclasses' defaults


def test_flags_set_nested_fields_and_write_back_a_flagfile_of_the_same_config(tmp_path):
  flag_values, get = _defined()
  flag_values(['prog', '--config.model=tiny', '--config.optim.learning_rate=3e-4',
               '--config.optim.keep_prob=0.3', '--config.curriculum.stages=2x8@0.1,4x4',
               '--config.curriculum.advance=steps', '--config.curriculum.stage_steps=5,0',
               '--config.data.mixture=procedural=0.7,imagenet_vid=0.3',
               '--config.data.data_dir=~/tfds', '--config.data.sim_size=300,200',
               '--config.data.num_distractors=3', '--noconfig.centred_head'])
  config = get()
  assert config.model == 'tiny' and not config.centred_head
  assert config.optim == train_step.OptimConfig(learning_rate=3e-4, keep_prob=0.3)
  assert config.curriculum.stages == (stages_lib.Stage(2, 8, 0.1), stages_lib.Stage(4, 4, 0.5))
  assert config.curriculum.stage_steps == (5, 0)
  assert config.data.mixture == (('procedural', 0.7), ('imagenet_vid', 0.3))
  assert config.data.data_dir == '~/tfds' and config.data.sim_size == (300, 200)
  assert config.data.num_distractors == 3
  assert config.data.num_threads == pipeline.PipelineConfig().num_threads  # untouched
  # The written flagfile rebuilds the config exactly (1/3 and 0.1 have no short decimal form).
  config = config.replace(curriculum=dataclasses.replace(
      config.curriculum, stages=(stages_lib.Stage(2, 8, 1 / 3), stages_lib.Stage(4, 4, 0.1))))
  flag_values['config.curriculum.stages'].value = config.curriculum.stages
  flagfile = tmp_path / 'flags.txt'
  flagfile.write_text(flag_values.flags_into_string())
  again, get_again = _defined()
  again(['prog', f'--flagfile={flagfile}'])
  assert get_again() == config


@pytest.mark.parametrize('arg, message', [
    ('--config.optim.learning_rate=fast', 'config.optim.learning_rate'),
    ('--config.data.frame_size=200', 'expected 2 comma-separated numbers'),
    ('--config.data.frame_size=200,x', 'expected comma-separated ints'),
    ('--config.curriculum.stages=2y8', "expected UNROLLSxBATCH"),
    ('--config.data.mixture=vid=x', "weight 'x' is not a number"),
])
def test_a_malformed_value_is_a_flag_error_naming_the_flag(arg, message):
  flag_values, _ = _defined()
  with pytest.raises(flags.IllegalFlagValueError, match=message) as e:
    flag_values(['prog', arg])
  assert arg.split('=')[0][2:] in str(e.value)


@pytest.mark.parametrize('arg, message', [
    ('--config.model=huge', "unknown model config 'huge'"),
    ('--config.precision=float8', "unknown precision 'float8'"),
    ('--config.optim.learning_rate=-1', 'learning_rate must be finite and >= 0'),
    ('--config.data.mirror_prob=2', r'mirror_prob must be in \[0, 1\]'),
])
def test_an_invalid_setting_is_named_by_the_dataclass_check(arg, message):
  flag_values, get = _defined()
  flag_values(['prog', arg])
  with pytest.raises(ValueError, match=message):
    get()


def test_an_unknown_flag_suggests_the_config_flag_of_the_same_name():
  flag_values, _ = _defined()
  with pytest.raises(flags.UnrecognizedFlagError) as e:
    flag_values(['prog', '--learning_rate=1'])
  assert cli.suggest_config_flag(e.value, flag_values).endswith(
      'did you mean --config.optim.learning_rate?')
  with pytest.raises(flags.UnrecognizedFlagError) as e:
    flag_values(['prog', '--nocentred_head'])
  assert cli.suggest_config_flag(e.value, flag_values).endswith(
      'did you mean --config.centred_head?')
  with pytest.raises(flags.UnrecognizedFlagError) as e:
    flag_values(['prog', '--no_such_setting=1'])
  assert 'did you mean' not in cli.suggest_config_flag(e.value, flag_values)


def test_a_field_type_without_a_text_form_is_refused_when_defined():
  @dataclasses.dataclass(frozen=True)
  class Odd:
    """Attributes:
      table: a mapping.
    """
    table: dict = dataclasses.field(default_factory=dict)
  with pytest.raises(TypeError, match=r"Odd.table: no flag for type.*metadata"):
    cli.define_config_flags(Odd(), flag_values=flags.FlagValues())


# A user's mistake, through each command line: one error line, status 1, no traceback.


@pytest.mark.parametrize('args, error', [
    (['re3_jax.train', '--workdir={tmp}/file', '--config.model=tiny'],
     'workdir {tmp}/file is a file, not a folder'),
    (['re3_jax.train', '--workdir={tmp}/file/run', '--config.model=tiny'],
     'workdir {tmp}/file/run cannot be made: {tmp}/file is a file'),
    # A setting the config's checks refuse: its one line, not absl's usage text before it.
    (['re3_jax.train', '--workdir={tmp}/run', '--config.model=tiny',
      '--config.optim.learning_rate=-1'], 'OptimConfig.learning_rate must be finite and >= 0'),
    (['re3_jax.input.builders.build', 'alov300', '--manual_dir={tmp}/missing',
      '--data_dir={tmp}/built'],
     '--manual_dir {tmp}/missing does not exist; alov300 is built from files downloaded by hand:'),
    (['re3_jax.input.builders.build', 'imagenet_vid', '--manual_dir={tmp}/empty',
      '--data_dir={tmp}/built'],
     '--manual_dir {tmp}/empty is empty; imagenet_vid is built from files downloaded by hand:'),
    (['re3_jax.input.builders.build', 'nope', '--manual_dir={tmp}', '--data_dir={tmp}/built'],
     "unknown dataset 'nope': one of imagenet_vid, alov300, imagenet_det"),
    (['re3_jax.input.synthetic', '--out={tmp}/s.png', '--image={tmp}/missing.jpg@1,2,30,40'],
     'cannot read frame {tmp}/missing.jpg: '),
    (['re3_jax.input.synthetic', '--out={tmp}/s.png', '--image={tmp}/otb/a/img/0001.jpg@1,2,3'],
     "--image={tmp}/otb/a/img/0001.jpg@1,2,3: malformed box '1,2,3'"),
    (['re3_jax.evaluate', '--dataset=otb:{tmp}/otb', '--sequences=nope', '--out={tmp}/out',
      '--config=tiny'], 'otb:{tmp}/otb has no sequence nope (it has a)'),
    (['re3_jax.evaluate', '--dataset=otb:{tmp}/missing', '--out={tmp}/out', '--config=tiny'],
     'OTB dataset root {tmp}/missing is not a folder'),
    (['re3_jax.convert', '--source={tmp}/missing', '--format=pytorch', '--out={tmp}/out'],
     'no checkpoint at {tmp}/missing'),
    (['re3_jax.convert', '--source={tmp}/file', '--format=pytorch', '--out={tmp}/out'],
     '{tmp}/file is not a PyTorch state_dict file (not a zip archive, as torch.save writes)'),
    (['re3_jax.convert', '--source={tmp}/file', '--format=pytorch', '--average=3',
      '--out={tmp}/out'], '--average=3 applies to --format=re3 only'),
    (['re3_jax.convert', '--source={tmp}/otb', '--format=re3', '--average=3', '--out={tmp}/out'],
     '{tmp}/otb holds no re3_jax checkpoint'),
])
def test_a_users_mistake_is_one_error_line(tmp_path, args, error):
  if 'build' in args[0] and not importlib.util.find_spec('tensorflow_datasets'):
    pytest.skip('the dataset builders need tensorflow_datasets')
  (tmp_path / 'file').write_text('not a folder')
  (tmp_path / 'empty').mkdir()
  fake_datasets.write_otb_sequence(tmp_path / 'otb', 'a', [[10.0, 10, 20, 20]] * 2)
  before = sorted(tmp_path.rglob('*'))
  args = [a.format(tmp=tmp_path) for a in args]
  proc = subprocess.run([sys.executable, '-m', *args], cwd=REPO, capture_output=True, text=True,
                        timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO),
                                              JAX_PLATFORMS='cpu'))
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  lines = proc.stderr.splitlines()
  message = f'{args[0]}: error: {error.format(tmp=tmp_path)}'
  assert any(line.startswith(message) for line in lines), proc.stderr[-3000:]
  if args[0] == 're3_jax.train':
    assert len(lines) == 1, proc.stderr[-3000:]  # no usage text
  assert 'RANDOM weights' not in proc.stderr  # no model was set up
  assert sorted(tmp_path.rglob('*')) == before  # nothing written


_SWALLOWED_SIGNAL = textwrap.dedent('''\
    import gc, os, signal, sys
    from re3_jax import cli
    from re3_jax.tracking import export
    SIGNUM = getattr(signal, sys.argv[1])
    OUT = sys.argv[2]

    def gc_callback(phase, info):
      """Sends the signal from inside a gc callback, as it arrives inside JAX's
      _xla_gc_callback: Python runs the handler here and drops what it raises."""
      if phase == 'start' and not getattr(gc_callback, 'sent', False):
        gc_callback.sent = True
        os.kill(os.getpid(), SIGNUM)
        for _ in range(1000):  # bytecodes: the handler runs within the callback
          pass

    def main(argv):
      gc.callbacks.append(gc_callback)
      gc.collect()  # the signal arrives and its exception is ignored
      gc.callbacks.remove(gc_callback)
      print('main went on', flush=True)
      export.write(OUT, b'new output')  # what every command's output goes through

    sys.argv = ['export']
    cli.run(main)
    ''')


@pytest.mark.parametrize('name, status', [('SIGTERM', 143), ('SIGINT', 130)])
def test_a_signal_swallowed_in_a_gc_callback_still_ends_the_command(tmp_path, name, status):
  """Issue 29, item 8: the signal is recorded when it arrives, so its exception being dropped
  (Python's "Exception ignored in" a gc callback) does not let the command replace its output
  and exit 0. The moment is controlled: the process signals itself inside the callback."""
  out = tmp_path / 'out.re3x'
  out.write_bytes(b'old output')
  run = subprocess.run([sys.executable, '-c', _SWALLOWED_SIGNAL, name, str(out)],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS='cpu'))
  assert 'Exception ignored' in run.stderr, run.stderr  # it was swallowed where it arrived
  assert 'main went on' in run.stdout
  assert run.returncode == status, run.stderr[-3000:]
  assert out.read_bytes() == b'old output'
  assert [p.name for p in tmp_path.iterdir()] == ['out.re3x']  # no partial file left
