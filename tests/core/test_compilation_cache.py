"""The persistent compilation cache: where it goes, what turns it off, what it saves."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# A fresh process makes the tiny tracker and tracks two frames, then says where the cache is
# and how many entries it holds.
_TRACK = textwrap.dedent('''
    import pathlib, jax, numpy as np
    from re3_jax import model
    from re3_jax.tracking import tracker
    config = model.get_config('tiny')
    tr = tracker.Re3Tracker(model.init(jax.random.key(0), config), config)
    frame = np.zeros((48, 64, 3), np.uint8)
    tr.track(0, frame, [4, 4, 20, 20]); tr.track(0, frame)
    folder = jax.config.jax_compilation_cache_dir
    print(folder, len(list(pathlib.Path(folder).iterdir())) if folder else 0)
''')


def _run(tmp_path, **env_changes):
  env = {k: v for k, v in os.environ.items()
         if k not in ('JAX_COMPILATION_CACHE_DIR', 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS')}
  env.update(env_changes, XDG_CACHE_HOME=str(tmp_path / 'xdg'), JAX_PLATFORMS='cpu')
  run = subprocess.run([sys.executable, '-c', _TRACK], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  folder, entries = run.stdout.split()
  return folder, int(entries)


@pytest.mark.parametrize('setting, expected', [
    (None, 'xdg/re3_jax/xla'),                   # the default: under the user's cache folder
    ('mine', 'mine'),                            # RE3_JAX_COMPILATION_CACHE
    ('off', None),
])
def test_the_tracker_turns_the_cache_on(tmp_path, setting, expected):
  env = {} if setting is None else {'RE3_JAX_COMPILATION_CACHE': (
      setting if setting == 'off' else str(tmp_path / setting))}
  folder, entries = _run(tmp_path, **env)
  if expected is None:
    assert folder == 'None' and entries == 0
    assert not (tmp_path / 'xdg').exists()
  else:
    assert folder == str(tmp_path / expected)
    assert entries > 0  # the tracker's executables, each compiled in under a second


def test_a_folder_jax_already_has_wins(tmp_path):
  folder, entries = _run(tmp_path, JAX_COMPILATION_CACHE_DIR=str(tmp_path / 'jax'),
                         RE3_JAX_COMPILATION_CACHE=str(tmp_path / 'mine'),
                         JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  assert folder == str(tmp_path / 'jax') and entries > 0
  assert not (tmp_path / 'mine').exists()


@pytest.mark.parametrize('flag', ['folder', 'off'])
def test_the_command_lines_flag(tmp_path, flag, sequences_dir):
  # --compilation_cache=off must hold for the tracker the command line makes, too.
  setting = str(tmp_path / 'flagged') if flag == 'folder' else 'off'
  env = {k: v for k, v in os.environ.items()
         if k not in ('JAX_COMPILATION_CACHE_DIR', 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS')}
  env.update(XDG_CACHE_HOME=str(tmp_path / 'xdg'), JAX_PLATFORMS='cpu')
  run = subprocess.run(
      [sys.executable, '-m', 're3_jax.track', f'--compilation_cache={setting}',
       '--tracker.random_model=tiny',
       f'--input={sequences_dir / "otb_crossing" / "img"}', '--box=204,150,221,200',
       '--max_frames=2', f'--boxes_out={tmp_path / "boxes.csv"}'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  assert not (tmp_path / 'xdg').exists()
  if flag == 'folder':
    assert len(list((tmp_path / 'flagged').iterdir())) > 0


def test_turning_it_on_is_logged_once(tmp_path):
  # A process-global JAX setting: making a tracker says so (INFO), once per process.
  script = textwrap.dedent('''
      import jax
      from absl import logging
      logging.set_verbosity(logging.INFO)
      from re3_jax import model
      from re3_jax.tracking import tracker
      config = model.get_config('tiny')
      params = model.init(jax.random.key(0), config)
      tracker.Re3Tracker(params, config); tracker.Re3Tracker(params, config)
      print(jax.config.jax_compilation_cache_dir)
  ''')
  env = {k: v for k, v in os.environ.items()
         if k not in ('JAX_COMPILATION_CACHE_DIR', 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS')}
  env.update(XDG_CACHE_HOME=str(tmp_path / 'xdg'), JAX_PLATFORMS='cpu')
  run = subprocess.run([sys.executable, '-c', script], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  folder = str(tmp_path / 'xdg' / 're3_jax' / 'xla')
  assert run.stdout.split() == [folder]
  logged = [l for l in run.stderr.splitlines() if 'persistent compilation cache is on' in l]
  assert len(logged) == 1 and folder in logged[0], run.stderr[-3000:]
