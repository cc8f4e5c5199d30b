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
from re3_jax import model
from re3_jax.input import pipeline
from re3_jax.tracking import tracker_config
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


def _defined(default=None, **kwargs):
  flag_values = flags.FlagValues()
  get = cli.define_config_flags(loop.TrainConfig() if default is None else default,
                                flag_values=flag_values, **kwargs)
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
  assert len(leaves) >= 52  # keep_prob, mirror_prob, num_distractors, sim_size, split, ...
  # Every field of the model's config, under arch: a field added there is a flag by itself.
  assert {n for n in leaves if n.startswith('config.arch.')} == {
      f'config.arch.{f.name}' for f in dataclasses.fields(model.ModelConfig)}
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


def test_arch_flags_change_the_named_config_and_a_flagfile_writes_only_those_given(tmp_path):
  flag_values, get = _defined()
  flag_values(['prog', '--config.model=nano', '--config.arch.lstm_units=128',
               '--config.arch.skip_channels=4,4,16', '--noconfig.arch.correlation',
               '--config.arch.input_scale=0.015625', '--config.arch.tower_cut=None'])
  config = get()
  assert config.model_config() == model.get_config(
      'nano', lstm_units=128, skip_channels=(4, 4, 16), correlation=False, input_scale=1 / 64)
  written = flag_values.flags_into_string().splitlines()
  assert {line for line in written if line.startswith(('--config.arch', '--noconfig.arch'))} == {
      '--config.arch.input_scale=0.015625', '--config.arch.lstm_units=128',
      '--noconfig.arch.correlation', '--config.arch.skip_channels=4,4,16'}
  flagfile = tmp_path / 'flags.txt'
  flagfile.write_text('\n'.join(written))
  again, get_again = _defined()
  again(['prog', f'--flagfile={flagfile}'])
  assert get_again() == config
  with pytest.raises(flags.IllegalFlagValueError, match='config.arch.fc6_units'):
    _defined()[0](['prog', '--config.arch.fc6_units=wide'])
  flag_values, get = _defined()
  flag_values(['prog', '--config.model=nano', '--config.arch.peepholes=none'])
  with pytest.raises(ValueError, match="peepholes must be one of"):
    get()


# A training run's flags.txt written before the model's fields moved under --config.arch:
# every flag, the moved ones included (tests/data/flags_before_arch.txt: a real run's, its
# absl and orbax flags left out).
OLD_FLAGS = REPO / 'tests' / 'data' / 'flags_before_arch.txt'


def test_a_flags_txt_written_before_the_move_to_arch_still_reruns_its_run(tmp_path):
  train, get = _train_flags()
  train(['prog', f'--flagfile={OLD_FLAGS}'])
  config = get()
  assert config.arch == model.ModelOverrides(crop_size=159, input_scale=1.0)
  assert config.model_config() == model.get_config('nano', crop_size=159)
  # The same settings in the new spelling make the same config; 0 meant "the named config's".
  new, get_new = _train_flags()
  new(['prog', f'--flagfile={OLD_FLAGS}', '--config.crop_size=0',
       '--config.arch.crop_size=159'])
  assert get_new().model_config() == config.model_config()
  # Both spellings, different values: an error naming both.
  both, get_both = _train_flags()
  both(['prog', f'--flagfile={OLD_FLAGS}', '--config.arch.crop_size=127'])
  with pytest.raises(ValueError, match=r'--config.crop_size=159 \(the old spelling\) and '
                     r'--config.arch.crop_size=127 disagree'):
    get_both()
  # The flags.txt this run writes reruns it.
  flagfile = tmp_path / 'flags.txt'
  flagfile.write_text(train.flags_into_string())
  again, get_again = _train_flags()
  again(['prog', f'--flagfile={flagfile}'])
  assert get_again() == config


def _train_flags():
  """train's --config.* flags, with its moved ones, on their own FlagValues."""
  flag_values = flags.FlagValues()
  get = cli.define_config_flags(loop.TrainConfig(), flag_values=flag_values,
                                moved=loop.MOVED_FIELDS)
  return flag_values, get


def test_tracker_flags_are_the_tracker_configs_and_old_flat_flags_name_theirs():
  flag_values = flags.FlagValues()
  get = cli.define_tracker_flags(flag_values)
  assert {n for n in flag_values} == {
      f'tracker.{f.name}' for f in dataclasses.fields(tracker_config.TrackerConfig)
      if f.name != 'compilation_cache'}  # the program's --compilation_cache
  flag_values(['prog'])
  assert get() == tracker_config.TrackerConfig()
  flag_values.unparse_flags()
  flag_values(['prog', '--tracker.random_model=tiny', '--tracker.seed=3',
               '--tracker.precision=bf16_weights', '--tracker.reset_interval=8'])
  assert get() == tracker_config.TrackerConfig(random_model='tiny', seed=3,
                                               precision='bf16_weights', reset_interval=8)
  for old, new in [('--checkpoint=x', '--tracker.checkpoint'), ('--precision=float32',
                   '--tracker.precision'), ('--seed=1', '--tracker.seed'),
                   ('--reset_interval=4', '--tracker.reset_interval'),
                   ('--config=tiny', '--tracker.random_model')]:
    with pytest.raises(flags.UnrecognizedFlagError) as e:
      flag_values(['prog', old])
    assert new in cli.suggest_config_flag(e.value, flag_values), old
  for args, message in [(['--tracker.checkpoint=x', '--tracker.random_model=tiny'], 'not both'),
                        (['--tracker.random_model=huge'], "unknown model config 'huge'"),
                        (['--tracker.precision=fp8'], "unknown precision 'fp8'"),
                        (['--tracker.reset_interval=0'], 'reset_interval must be an integer')]:
    flag_values.unparse_flags()
    flag_values(['prog', *args])
    with pytest.raises(ValueError, match=message):
      get()


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
    (['re3_jax.simulate', '--out={tmp}/s.png', '--image={tmp}/missing.jpg@1,2,30,40'],
     'cannot read frame {tmp}/missing.jpg: '),
    (['re3_jax.simulate', '--out={tmp}/s.png', '--image={tmp}/otb/a/img/0001.jpg@1,2,3'],
     "--image={tmp}/otb/a/img/0001.jpg@1,2,3: malformed box '1,2,3'"),
    (['re3_jax.evaluate', '--dataset=otb:{tmp}/otb', '--sequences=nope', '--out={tmp}/out',
      '--tracker.random_model=tiny'], 'otb:{tmp}/otb has no sequence nope (it has a)'),
    (['re3_jax.evaluate', '--dataset=otb:{tmp}/missing', '--out={tmp}/out',
      '--tracker.random_model=tiny'], 'OTB dataset root {tmp}/missing is not a folder'),
    # A flat flag of old: named with its new spelling, for every program with a tracker.
    (['re3_jax.evaluate', '--dataset=otb:{tmp}/otb', '--out={tmp}/out', '--config=tiny'],
     "Unknown command line flag 'config'; it is --tracker.random_model now"),
    (['re3_jax.track', '--input={tmp}/otb/a/img', '--box=1,1,9,9', '--checkpoint={tmp}'],
     "Unknown command line flag 'checkpoint'; did you mean --tracker.checkpoint?"),
    (['re3_jax.demo', '--out={tmp}/demo', '--precision=float32'],
     "Unknown command line flag 'precision'; did you mean --tracker.precision?"),
    (['re3_jax.export', '--out={tmp}/t.re3x', '--reset_interval=3'],
     "Unknown command line flag 'reset_interval'; did you mean --tracker.reset_interval?"),
    (['re3_jax.benchmark', 'tracker', '--tracker.precision=float32'],
     'benchmark tracker: models and precisions are --configs and --precisions'),
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
