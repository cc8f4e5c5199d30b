"""Tests of the training loop and its command line: checkpoints, exact resume, NaN stop."""

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from re3_jax import model
from re3_jax.core import digests
from re3_jax.input import pipeline
from re3_jax.model import checkpoints
from re3_jax.training import loop
from re3_jax.training import records
from re3_jax.training import stages as stages_lib
from re3_jax.training import train_step

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIG = loop.TrainConfig(
    model='tiny', seed=3, steps=0,
    optim=train_step.OptimConfig(learning_rate=1e-3),
    curriculum=stages_lib.CurriculumConfig(stages=stages_lib.parse_stages('2x4,3x2', '0.5,0.5'),
                                          advance='steps', stage_steps=(3, 3)),
    data=pipeline.PipelineConfig(frame_size=(120, 160), sim_size=(96, 128), num_distractors=4,
                                 num_threads=1, prefetch=1),
    log_every=2, checkpoint_every=2, keep_checkpoints=5, eval_every=0)


def _params(workdir):
  params, config = checkpoints.load_params(pathlib.Path(workdir) / 'checkpoints')
  return jax.tree.map(np.asarray, params), config


@pytest.mark.slow
def test_train_runs_the_curriculum_and_writes_checkpoints(tmp_path, caplog):
  result = loop.train(CONFIG, tmp_path)
  assert result['step'] == 6 and result['stage'] == 1
  steps = sorted(int(p.name) for p in (tmp_path / 'checkpoints').iterdir() if p.name.isdigit())
  assert steps == [2, 4, 6]
  caplog.clear()
  with caplog.at_level('WARNING'):
    params, config = _params(tmp_path)
  assert config.name == 'tiny'
  # Loading a training checkpoint from Python says nothing (orbax warned of a metadata file
  # that lives in the step folder, not in params/: issue 28 item 8).
  assert not [r for r in caplog.records if 'Metadata file' in r.getMessage()], caplog.text
  assert json.loads((tmp_path / 'train_config.json').read_text())['model'] == 'tiny'
  assert list((tmp_path / 'tb').glob('events.out.tfevents.*'))
  # The tracker restores the parameters alone.
  from re3_jax.tracking import tracker
  tr = tracker.Re3Tracker.from_checkpoint(tmp_path / 'checkpoints')
  box = tr.track('a', np.zeros((60, 80, 3), np.uint8), [10, 10, 30, 40])
  np.testing.assert_allclose(box, [10, 10, 30, 40])



def test_validation_runs_at_start_periodically_and_at_the_end(tmp_path):
  calls = []

  def hook(params):
    calls.append(jax.tree.map(np.asarray, params))
    return {'val_metric': float(len(calls))}

  result = loop.train(CONFIG.replace(eval_every=4), tmp_path, validation=hook)
  assert len(calls) == 3  # steps 0, 4 and the last (6)
  assert result['val_metric'] == 3.0
  logged = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in logged if 'val_metric' in r] == [0, 4, 6]
  # The last call saw the final parameters, those of the final checkpoint.
  final, _ = _params(tmp_path)
  jax.tree.map(np.testing.assert_array_equal, calls[-1], final)
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(calls[0]),
                                                       jax.tree.leaves(final)))

_INTERRUPTED = textwrap.dedent('''
    import os, sys, pickle
    from re3_jax.training import loop
    config = pickle.loads(bytes.fromhex(sys.argv[2]))
    loop.train(config, sys.argv[1], should_stop=lambda step: step >= 4)
    os._exit(3)  # a hard stop: no cleanup, nothing flushed after the step-4 checkpoint
''')


def test_init_params_starts_from_a_checkpoint(tmp_path, tiny):
  params, config = tiny
  source = checkpoints.save_params(tmp_path / 'source', params, config)
  seen = []
  loop.train(CONFIG.replace(init_params=str(source), eval_every=100, steps=1), tmp_path / 'run',
             validation=lambda p: seen.append(jax.tree.map(np.asarray, p)) or {'v': 0.0})
  jax.tree.map(np.testing.assert_array_equal, seen[0], jax.tree.map(np.asarray, params))
  small = model.get_config('tiny', lstm_units=8)
  other = checkpoints.save_params(tmp_path / 'other', model.init(jax.random.key(0), small), small)
  with pytest.raises(ValueError, match='not the architecture of'):
    loop.train(CONFIG.replace(init_params=str(other)), tmp_path / 'run2')
  # The failed run leaves no checkpoints/ folder it made and wrote no checkpoint in.
  assert (tmp_path / 'run2').is_dir() and not (tmp_path / 'run2/checkpoints').exists()
  # init_params wins over a flagfile's pretrained_tower (README's fine-tune command): both
  # may be given; train does not read the tower (tests/test_readme_commands.py runs it).
  both = loop.TrainConfig(model='squeeze', init_params='x', pretrained_tower='y')
  assert both.init_params == 'x'


def test_a_run_failing_before_its_first_checkpoint_leaves_no_checkpoints_folder(tmp_path):
  config = CONFIG.replace(steps=1, eval_every=1, eval_dataset=f'otb:{tmp_path / "none"}')
  with pytest.raises(OSError, match='is not a folder'):
    loop.train(config, tmp_path / 'run')
  assert not (tmp_path / 'run/checkpoints').exists()
  # A folder it did not make stays, as it was.
  (tmp_path / 'kept/checkpoints').mkdir(parents=True)
  with pytest.raises(OSError, match='is not a folder'):
    loop.train(config, tmp_path / 'kept')
  assert (tmp_path / 'kept/checkpoints').is_dir()


def test_arch_overrides_the_named_model_config_field_by_field():
  squeeze = model.get_config('squeeze')
  assert loop.TrainConfig(model='squeeze').model_config() == squeeze  # float32: its own
  config = loop.TrainConfig(model='squeeze', arch=model.ModelOverrides(
      crop_size=111)).model_config()
  # 111 px: conv1 7x7/2 -> 53, two 3x3/2 ceil pools -> 26 -> 13; (8 + 16 + 32) * 13 * 13.
  assert config.crop_size == 111 and config.features_per_crop == 56 * 13 * 13
  config = loop.TrainConfig(model='squeeze', arch=model.ModelOverrides(
      crop_size=111, lstm_units=64, peepholes='full', correlation=True)).model_config()
  assert config == squeeze.replace(crop_size=111, lstm_units=64, peepholes='full',
                                   correlation=True)
  # The precision's dtypes first, then arch's: the most specific setting wins.
  assert loop.TrainConfig(model='tiny', precision='bfloat16').model_config().dtype == 'bfloat16'
  assert loop.TrainConfig(model='tiny', precision='bfloat16', arch=model.ModelOverrides(
      dtype='float32')).model_config().dtype == 'float32'
  with pytest.raises(ValueError, match='227-pixel crops'):
    CONFIG.replace(arch=model.ModelOverrides(crop_size=95))
  with pytest.raises(ValueError, match="peepholes must be one of .*'none'"):
    CONFIG.replace(arch=model.ModelOverrides(peepholes='none'))


def test_every_model_config_field_is_an_override():
  # Derived from ModelConfig: a field added there is an override (and a flag) by itself.
  fields = [f.name for f in dataclasses.fields(model.ModelConfig)]
  assert [f.name for f in dataclasses.fields(model.ModelOverrides)] == fields
  assert all(getattr(model.ModelOverrides(), name) is None for name in fields)
  assert model.ModelOverrides().apply(model.get_config('nano')) == model.get_config('nano')


def test_pretrained_tower_needs_the_squeezenet_tower():
  with pytest.raises(ValueError, match='squeezenet tower'):
    CONFIG.replace(pretrained_tower='weights.net')


@pytest.mark.slow
def test_resume_after_a_hard_stop_continues_exactly(tmp_path):
  import pickle
  loop.train(CONFIG, tmp_path / 'straight')
  run = subprocess.run([sys.executable, '-c', _INTERRUPTED, str(tmp_path / 'resumed'),
                        pickle.dumps(CONFIG).hex()], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
  assert run.returncode == 3, run.stderr[-3000:]
  assert checkpoints.resolve(tmp_path / 'resumed/checkpoints').name == '4'
  result = loop.train(CONFIG, tmp_path / 'resumed')
  assert result['step'] == 6
  a, _ = _params(tmp_path / 'straight')
  b, _ = _params(tmp_path / 'resumed')
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


def test_nonfinite_loss_stops_with_the_step_and_keeps_the_good_checkpoint(tmp_path, monkeypatch):
  real = train_step.shard_batch
  calls = []

  def poisoned(mesh, host):
    calls.append(1)
    if len(calls) == 3:  # step 3
      host = host._replace(boxes=np.full_like(host.boxes, np.nan))
    return real(mesh, host)
  monkeypatch.setattr(train_step, 'shard_batch', poisoned)
  with pytest.raises(FloatingPointError, match='not finite at step 3'):
    loop.train(CONFIG, tmp_path)
  assert checkpoints.resolve(tmp_path / 'checkpoints').name == '2'


# Two stages of one shape (one compile); the plateau rule, reading the logged loss means, ends
# the first at step 6 (min_rel_improvement=1: no window improves). Logs at 3, 6, 9, checkpoints
# at 4, 8 and the end (9): a run stopped at 5 or 6 resumes from 4, between two logs.
PLATEAU = CONFIG.replace(
    steps=9, log_every=3, checkpoint_every=4,
    curriculum=stages_lib.CurriculumConfig(
        stages=stages_lib.parse_stages('2x4,2x4', '0.5,0.25'), advance='plateau', window=3,
        patience=1, min_steps=3, ema_decay=0.5, min_rel_improvement=1.0))
_TIMING = ('steps_per_s', 'frames_per_s')


def _logged(workdir):
  """metrics.jsonl's rows without the timings (which no two runs share)."""
  rows = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  return [{k: v for k, v in r.items() if k not in _TIMING} for r in rows]


def _meta(workdir, step):
  return json.loads((workdir / 'checkpoints' / str(step) / 'meta' / 'metadata').read_text())


@pytest.fixture(scope='module')
def plateau_straight(tmp_path_factory):
  """An uninterrupted PLATEAU run's workdir."""
  workdir = tmp_path_factory.mktemp('straight')
  loop.train(PLATEAU, workdir)
  return workdir


def _assert_same_run(workdir, straight):
  """The run in `workdir` logged and computed what the uninterrupted one did, bit for bit."""
  assert _logged(workdir) == _logged(straight)
  assert _meta(workdir, 9)['curriculum'] == _meta(straight, 9)['curriculum']
  a, _ = _params(straight)
  b, _ = _params(workdir)
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.slow
@pytest.mark.parametrize('stop', [5, 6])
def test_resume_between_logs_logs_what_an_uninterrupted_run_logs(tmp_path, plateau_straight,
                                                                 stop):
  """The metric sums since the last log are part of the checkpoint, and lines logged after it
  (step 6, when the run stopped there) are dropped and logged again: no step twice."""
  rows = _logged(plateau_straight)
  assert [r['step'] for r in rows] == [3, 6, 9] and [r['stage'] for r in rows] == [0, 0, 1]
  loop.train(PLATEAU, tmp_path, should_stop=lambda step: step >= stop)
  assert checkpoints.resolve(tmp_path / 'checkpoints').name == '4'
  assert [r['step'] for r in _logged(tmp_path)] == [3, 6][:stop // 3]
  assert loop.train(PLATEAU, tmp_path)['step'] == 9
  _assert_same_run(tmp_path, plateau_straight)


def _truncate_largest(directory):
  largest = max((f for f in directory.rglob('*') if f.is_file()), key=lambda f: f.stat().st_size)
  data = largest.read_bytes()
  largest.write_bytes(data[:len(data) // 2])


def _poison(step_dir, aside):
  """Rewrites a checkpoint's parameters with a NaN in fc6/w (the original moved to `aside`)."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  params, _ = checkpoints.load_params(step_dir)
  params['fc6']['w'] = params['fc6']['w'].at[0, 0].set(np.nan)
  shutil.move(step_dir / 'params', aside)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(step_dir / 'params', params)
  checkpointer.wait_until_finished()
  checkpointer.close()


@pytest.mark.slow
def test_a_damaged_newest_checkpoint_resumes_from_the_previous_one(tmp_path, plateau_straight,
                                                                    caplog):
  ckpt = tmp_path / 'checkpoints'
  loop.train(PLATEAU, tmp_path, should_stop=lambda step: step >= 8)  # checkpoints 4, 8; logs 3, 6
  _truncate_largest(ckpt / '8' / 'params')
  with caplog.at_level('WARNING'):
    assert loop.train(PLATEAU, tmp_path)['step'] == 9
  # Named, resumed from 4 (exactly: the run from 4 is the uninterrupted run's), kept aside
  # (never deleted) out of the way of the new checkpoint 8.
  assert any(f'checkpoint {ckpt / "8"} is damaged' in r.getMessage() for r in caplog.records)
  assert any(f'kept as {ckpt / "8.damaged"}' in r.getMessage() for r in caplog.records)
  assert (ckpt / '8.damaged' / 'params').is_dir()
  _assert_same_run(tmp_path, plateau_straight)
  # An empty metadata file, then non-finite parameters: each time, back to 8 and on to 9.
  # (Without the step's manifest, as a step of an earlier version: these checks, not the
  # checksum, find them.)
  (ckpt / '9' / digests.MANIFEST).unlink()
  (ckpt / '9' / 'meta' / 'metadata').write_bytes(b'')
  loop.train(PLATEAU, tmp_path)
  _poison(ckpt / '9', tmp_path / 'good_params_9')
  (ckpt / '9' / digests.MANIFEST).unlink()
  caplog.clear()
  with caplog.at_level('WARNING'):
    loop.train(PLATEAU, tmp_path)
  assert any('fc6/w is not finite' in r.getMessage() for r in caplog.records)
  assert (ckpt / '9.damaged' / 'meta').is_dir() and (ckpt / '9.damaged.2' / 'params').is_dir()
  _assert_same_run(tmp_path, plateau_straight)
  # None restores: an error naming the directory; nothing is moved.
  for step in (4, 8, 9):
    (ckpt / str(step) / digests.MANIFEST).unlink()
    (ckpt / str(step) / 'meta' / 'metadata').write_bytes(b'')
  with pytest.raises(ValueError, match=f'no checkpoint in {ckpt} restores: checkpoint '
                     f'{ckpt / "9"} is damaged: JSONDecodeError'):
    loop.train(PLATEAU, tmp_path)
  assert all((ckpt / str(step) / 'params').is_dir() for step in (4, 8, 9))
  # The command line says so in one line, without a traceback.
  run = subprocess.run([sys.executable, '-m', 're3_jax.train', f'--workdir={tmp_path}',
                        '--config.model=tiny', '--config.steps=9'], cwd=REPO,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert run.returncode == 1, run.stderr[-3000:]
  assert f're3_jax.train: error: no checkpoint in {ckpt} restores' in run.stderr
  assert 'Traceback' not in run.stderr, run.stderr[-3000:]


def test_workdir_of_another_model_is_refused_and_keeps_its_flags(tmp_path):
  loop.train(CONFIG.replace(steps=2), tmp_path, flagfile='--config.steps=2\n')
  config_json = (tmp_path / 'train_config.json').read_text()
  other = CONFIG.replace(model='small', steps=4)
  with pytest.raises(ValueError, match=r'holds checkpoints of another model: conv_channels \(8, 16'):
    loop.train(other, tmp_path, flagfile='--config.model=small\n')
  # The refused command wrote nothing: flags.txt still reruns the run in the workdir.
  assert (tmp_path / 'flags.txt').read_text() == '--config.steps=2\n'
  assert (tmp_path / 'train_config.json').read_text() == config_json


def test_a_second_run_in_a_held_workdir_is_refused_naming_the_first(tmp_path):
  # Another run holds the workdir: a process that took the lock and waits.
  holder = subprocess.Popen(
      [sys.executable, '-c', textwrap.dedent(f"""
          import sys
          from re3_jax.training import records
          with records.lock_workdir({str(tmp_path)!r}):
            print('held', flush=True)
            sys.stdin.read()
          """)],
      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
      env=dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS='cpu'))
  try:
    assert holder.stdout.readline() == 'held\n'
    with pytest.raises(records.WorkdirInUseError,
                       match=rf'^workdir {tmp_path} is in use by another training run \(process '
                             rf'{holder.pid} on [^,]+, holding {tmp_path}/\.lock\): wait for it '
                             'to end or use another workdir$'):
      loop.train(CONFIG.replace(steps=2), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.lock']  # nothing else written
  finally:
    holder.kill()  # a dead holder's lock is released by the kernel: its file locks nothing
    holder.wait()
  with records.lock_workdir(tmp_path):
    assert (tmp_path / '.lock').read_text() == f'{os.getpid()} on {os.uname().nodename}\n'
    with pytest.raises(records.WorkdirInUseError, match=rf'\(process {os.getpid()} on '):
      loop.train(CONFIG.replace(steps=2), tmp_path)  # held by this process: refused too


@pytest.mark.slow
def test_command_line_writes_effective_flags_and_rejects_unknown_ones(tmp_path):
  base = [sys.executable, '-m', 're3_jax.train', '--flagfile=experiments/smoke.flags',
          f'--workdir={tmp_path}', '--config.curriculum.stages=2x8@0.5',
          '--config.curriculum.stage_steps=4', '--config.eval_every=0', '--config.log_every=2',
          '--config.checkpoint_every=2']
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  run = subprocess.run(base, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  assert 'done: step 4' in run.stdout
  # Progress lines and warnings only: no INFO records of JAX, orbax or absl ('I1201 10:50:21...').
  records = [line for line in run.stderr.splitlines() if re.match(r'[IV]\d{4} ', line)]
  assert not records, records[:3]
  written = (tmp_path / 'flags.txt').read_text()
  for line in ('--config.curriculum.stage_steps=4', '--config.curriculum.stages=2x8@0.5',
               '--config.model=tiny', '--config.optim.learning_rate=0.001'):
    assert line in written.splitlines(), (line, written)
  # Unknown: named, with the --config flag of the same last name when there is one.
  for flag, message in [('--no_such_flag=1',
                         "(?m)^re3_jax.train: error: Unknown command line flag 'no_such_flag' "
                         r'\(--helpshort lists the flags\)$'),
                        ('--learning_rate=1', 'did you mean --config.optim.learning_rate?'),
                        ('--config.optim.learnig_rate=1', "'config.optim.learnig_rate'"),
                        ('--config.model=huge', "unknown model config 'huge'"),
                        ('--config.curriculum.stages=2x8@2', "probability 0 '2'.*not in")]:
    bad = subprocess.run(base + [flag], cwd=REPO, capture_output=True, text=True,
                         timeout=600, env=env)
    assert bad.returncode != 0 and re.search(message, bad.stderr), (flag, bad.stderr[-2000:])


_PARSE_FLAGFILES = textwrap.dedent('''
    import json, sys
    from absl import flags
    from absl.testing import flagsaver
    from re3_jax import train
    out = {}
    for name in sys.argv[1:]:
      with flagsaver.flagsaver():
        flags.FLAGS.unparse_flags()
        flags.FLAGS(['train', f'--flagfile=experiments/{name}.flags', '--workdir=/tmp/unused'])
        c = train.config_from_flags()
      out[name] = {'stages': [[s.unrolls, s.batch] for s in c.curriculum.stages],
                   'lr': c.optim.learning_rate, 'wd': c.optim.weight_decay, 'model': c.model,
                   'mixture': [list(m) for m in c.data.mixture], 'tower_lr': c.optim.tower_lr_scale,
                   'pretrained': c.pretrained_tower, 'eval': c.eval_dataset,
                   'precision': c.precision,
                   'decay_end': c.optim.decay_start + c.optim.decay_steps,
                   'steps': sum(c.curriculum.stage_steps)}
    print(json.dumps(out))
''')


def test_experiment_flagfiles_parse():
  # In a fresh process: an entry point's flags must not meet another's (absl flags are global).
  # Every flagfile of experiments/ (a new one is checked as soon as it lands).
  names = sorted(p.stem for p in (REPO / 'experiments').glob('*.flags'))
  assert {'smoke', 'synthetic', 'paper', 'real_nano_cpu', 'real_nano_ft_cpu',
          'real_nano_template_cpu', 'real_nano_template_long_cpu'} <= set(names)
  run = subprocess.run([sys.executable, '-c', _PARSE_FLAGFILES] + names, cwd=REPO,
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  configs = json.loads(run.stdout.strip().splitlines()[-1])
  for name in names:
    text = (REPO / 'experiments' / f'{name}.flags').read_text()
    assert text.startswith('#') and 'python -m re3_jax.train' in text.split('\n--')[0], name
    config = configs[name]
    if name.startswith('paper') or name == 'small':
      assert [tuple(s) for s in config['stages']] == list(stages_lib.CURRICULUM), name
      assert config['lr'] == 1e-5 and config['wd'] == 5e-4, name
      sources = dict(config['mixture'])
      assert ('alov300' in sources) == (name != 'paper_no_alov'), name
      assert config['model'] == ('small' if name == 'small' else 'paper'), name
    elif name.startswith(('real', 'ablate')):
      # The squeeze model from ImageNet, the nano model from NanoTrack's backbone, on the real
      # sequences, validated on the val split.
      tower = 'backbone.onnx' if 'nano' in name else '.net'
      # The shipped recipe's model (nano_template) in its CPU flagfile and the GPU one.
      template = '_template_' in name or name == 'real_nano_gpu'
      assert config['model'] == ('squeeze' if 'nano' not in name else
                                 'nano_template' if template else 'nano'), name
      assert config['pretrained'].endswith(tower), name
      root = '../shared/real_sequences/'
      assert dict(config['mixture']) == {f'otb:{root}train': 0.5, f'otb_sim:{root}train': 0.3,
                                         'procedural': 0.2}, name
      assert config['eval'] == f'otb:{root}val', name
      cpu = name.endswith('_cpu')
      # Frozen, but fine-tuned at a tenth of the rate in the _ft_ recipe and for the squeeze
      # model on a GPU (the nano model's GPU recipe keeps the frozen tower that won on the CPU).
      fine_tuned = '_ft_' in name or name == 'real_gpu'
      assert config['tower_lr'] == (0.1 if fine_tuned else 0.0), name
      assert config['precision'] == ('float32' if cpu else 'mixed_bfloat16'), name
      # The learning rate decays to 0 at the run's last step, not before.
      assert config['decay_end'] == config['steps'], name
    else:
      assert config['mixture'] == [['procedural', 1.0]], name


@pytest.mark.slow
def test_two_processes_with_jax_distributed_train_and_agree(tmp_path, cpu_devices_env):
  import socket
  with socket.socket() as s:
    s.bind(('localhost', 0))
    port = s.getsockname()[1]
  env = cpu_devices_env(1)
  # One curriculum stage (the curriculum is tested above): one compile per process.
  procs = [subprocess.Popen(
      [sys.executable, '-m', 're3_jax.train', '--flagfile=experiments/smoke.flags',
       f'--workdir={tmp_path / "run"}', '--config.curriculum.stages=2x8@0.5',
       '--config.curriculum.stage_steps=4', '--config.eval_every=0', '--config.log_every=1',
       '--config.checkpoint_every=2', f'--coordinator_address=localhost:{port}',
       '--num_processes=2',
       f'--process_id={i}'], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  outs = []
  for p in procs:
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    outs.append(out)
  losses = [[line.split('loss ')[1].split()[0] for line in out.splitlines() if ' loss ' in line]
            for out in outs]
  assert len(losses[0]) == 4 and losses[0] == losses[1], losses
  assert '2 process(es)' in outs[0] and 'on 2 cpu device(s)' in outs[0]
  params, _ = _params(tmp_path / 'run')
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))


_WITHOUT_TEST_PACKAGES = textwrap.dedent('''
    import sys
    # What README command 1 leaves out (requirements/train.txt): importing any of them fails.
    sys.modules.update(dict.fromkeys(
        ['tensorflow', 'tf_keras', 'tensorflow_datasets', 'got10k', 'nbclient', 'nbformat',
         'ipykernel', 'pytest', 'xdist', 'torch'], None))
    import importlib
    importlib.import_module(f're3_jax.{sys.argv[1]}')  # one command line a process (absl flags)
    from re3_jax.training import loop
    from re3_jax.tracking import tracker
    from re3_jax.input import pipeline
    config = pipeline.PipelineConfig(frame_size=(96, 128), sim_size=(96, 128), num_threads=1)
    with pipeline.Pipeline(config, seq_len=2, batch_size=2, seed=0, process_index=0,
                           process_count=1) as inputs:
      assert next(inputs).frames.shape == (2, 2, 96, 128, 3)
    print('OK')
''')


@pytest.mark.parametrize('entry', ['train', 'track', 'evaluate'])
def test_training_and_tracking_need_no_test_only_packages(entry):
  run = subprocess.run([sys.executable, '-c', _WITHOUT_TEST_PACKAGES, entry], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 0 and 'OK' in run.stdout, run.stderr[-3000:]


PRE_LAYOUT = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'pre_layout'
# The configuration tests/data/pre_layout/workdir_tiny was trained with (its README).
PRE_LAYOUT_CONFIG = loop.TrainConfig(
    model='tiny', seed=3, steps=4, optim=train_step.OptimConfig(learning_rate=1e-3),
    curriculum=stages_lib.CurriculumConfig(stages=stages_lib.parse_stages('2x2', '0.5'),
                                          advance='steps', stage_steps=(4,)),
    data=pipeline.PipelineConfig(frame_size=(96, 128), sim_size=(96, 128), num_distractors=2,
                                 num_threads=1, prefetch=1),
    log_every=1, checkpoint_every=2, keep_checkpoints=1, eval_every=0)


def test_params_written_before_the_layout_move_load():
  params, config = checkpoints.load_params(PRE_LAYOUT / 'params_tiny_seed0')
  assert config == model.get_config('tiny')
  # They were model.init(key(0)); init's draws are the same bits everywhere, its float
  # arithmetic may round differently on another CPU by an ulp or so.
  expected = model.init(jax.random.key(0), config)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               params, expected)


@pytest.mark.slow
def test_resumes_a_workdir_written_before_the_layout_move(tmp_path):
  # A run checkpointed at step 2 by the flat package's code resumes here to step 4.
  shutil.copytree(PRE_LAYOUT / 'workdir_tiny', tmp_path / 'old')
  assert loop.train(PRE_LAYOUT_CONFIG, tmp_path / 'old')['step'] == 4
  loop.train(PRE_LAYOUT_CONFIG, tmp_path / 'straight')

  def losses(workdir):
    rows = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
    return {r['step']: r['loss'] for r in rows if 'loss' in r}
  old, straight = losses(tmp_path / 'old'), losses(tmp_path / 'straight')
  assert sorted(old) == [1, 2, 3, 4]  # steps 1-2 logged by the old code, 3-4 after the resume
  # The saved input state is where this code's pipeline stands after two batches.
  meta = json.loads((PRE_LAYOUT / 'workdir_tiny/checkpoints/2/meta/metadata').read_text())
  with pipeline.Pipeline(PRE_LAYOUT_CONFIG.data, seq_len=2, batch_size=2, seed=3,
                         process_index=0, process_count=1) as inputs:
    next(inputs), next(inputs)
    assert json.loads(json.dumps(inputs.get_state())) == meta['input']
  # Steps 3 and 4 then compute what a straight run computes: the same numbers on the CPU
  # that wrote the checkpoint (measured: losses 3.144, 1.253, 1.889, 1.289 for steps 1-4,
  # equal to the last digit); on another CPU, steps 1-2 round differently (parameters
  # apart by up to ~lr = 1e-3 in the few elements where Adam met ~0 gradients), which
  # moves a loss of ~1-2 by orders of magnitude less than the 1% allowed here.
  for step in (3, 4):
    np.testing.assert_allclose(old[step], straight[step], rtol=1e-2, err_msg=f'step {step}')
  params, _ = _params(tmp_path / 'old')
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))


def _flip_bytes(directory):
  """Inverts 64 bytes in the middle of the largest file under `directory` (same size: only a
  checksum tells)."""
  largest = max((f for f in directory.rglob('*') if f.is_file()), key=lambda f: f.stat().st_size)
  data = bytearray(largest.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
  largest.write_bytes(bytes(data))


def test_checkpoints_carry_manifests_and_a_changed_one_resumes_from_the_previous(tmp_path,
                                                                               caplog):
  """Issue 29, item 6: each step's SHA256SUMS lists its files (coreutils' sha256sum agrees);
  a step whose bytes changed is damaged, named with its file, and set aside."""
  ckpt = tmp_path / 'checkpoints'
  loop.train(CONFIG.replace(steps=4), tmp_path)
  for step in (2, 4):
    listed = digests.read_manifest(ckpt / str(step) / digests.MANIFEST)
    assert any(n.startswith('params/') for n in listed)
    assert any(n.startswith('opt_state/') for n in listed)
    if shutil.which('sha256sum'):
      subprocess.run(['sha256sum', '--check', '--strict', '--quiet', digests.MANIFEST],
                     cwd=ckpt / str(step), check=True)
  _flip_bytes(ckpt / '4' / 'params')
  with caplog.at_level('WARNING'):
    assert loop.train(CONFIG.replace(steps=4), tmp_path)['step'] == 4
  assert any(re.search(rf'checkpoint {ckpt / "4"} is damaged: .*{ckpt / "4"}/params/\S+ does not '
                       r'match its checksum: SHA-256 [0-9a-f]{64}, the manifest', r.getMessage())
             for r in caplog.records)
  assert (ckpt / '4.damaged' / 'params').is_dir() and (ckpt / '4' / digests.MANIFEST).exists()


_FULL_DISK = textwrap.dedent('''\
    import errno, runpy, sys
    from re3_jax.training import records
    write = records.Checkpoints._write
    def full_disk(self, step, state, meta):
      if step < 4:
        return write(self, step, state, meta)
      (self.directory / f'{step}.orbax-checkpoint-tmp-1' / 'params').mkdir(parents=True)
      print('Traceback (most recent call last): an orbax thread', file=sys.stderr)
      raise OSError(errno.ENOSPC, 'No space left on device')
    records.Checkpoints._write = full_disk
    sys.argv = ['train'] + sys.argv[1:]
    runpy.run_module('re3_jax.train', run_name='__main__', alter_sys=True)
    ''')


def test_a_checkpoint_that_fails_to_write_keeps_the_previous_ones(tmp_path):
  """Issue 29, item 9 (training on a full disk): one error line naming the step, the earlier
  checkpoints intact (their manifests still match), orbax's temporary folder removed."""
  ckpt = tmp_path / 'checkpoints'
  run = subprocess.run([sys.executable, '-c', _FULL_DISK, f'--workdir={tmp_path}',
                        '--config.model=tiny', '--config.steps=6', '--config.checkpoint_every=2',
                        '--config.log_every=2', '--config.eval_every=0',
                        '--config.curriculum.stages=2x2', '--config.data.frame_size=120,160',
                        '--config.data.sim_size=96,128', '--config.data.num_threads=1'],
                       cwd=REPO, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=str(REPO)))
  assert run.returncode == 1, run.stderr[-3000:]
  errors = [l for l in run.stderr.splitlines() if 'error' in l.lower() or 'Traceback' in l]
  assert errors == [f're3_jax.train: error: cannot write the checkpoint of step 4 in {ckpt}: No '
                    'space left on device; the checkpoints of steps 2 are kept'], run.stderr
  assert sorted(p.name for p in ckpt.iterdir()) == ['2', 'config.json']
  assert digests.verify_manifest(ckpt / '2')
  params, _ = checkpoints.load_params(ckpt)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))
