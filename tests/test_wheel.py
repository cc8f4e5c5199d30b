"""The installable wheel (README.md, "Installing as a package"): built and installed by README's
commands as written, outside the checkout, it carries the shipped models and tracks.

The wheel is built from a copy of the checkout's files (so the build's `build/`, `dist/` and
egg-info stay out of the checkout) and installed into a virtualenv in a temporary folder. The
virtualenv gets the test environment's packages (JAX, OpenCV, ...) through a ``.pth`` file that
names their folders: a path line in a ``.pth`` file adds the folder without running the
``.pth`` files inside it, so the test environment's editable install of re3_jax (setuptools'
``__editable__`` finder, or a path line to the checkout) is not active there, and no network
is needed (`--no-build-isolation` builds with the test environment's setuptools, `--no-index`
forbids downloads). The programs run with a temporary folder as their working directory and no
PYTHONPATH; the API script checks that every re3_jax module it imported came from the
virtualenv, and the command line must name the virtualenv's copy of the shipped model.
"""

import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
from PIL import Image
import pytest

from re3_jax.evaluation import metrics
from re3_jax.datasets import sequences
from re3_jax.media import synthetic_clips
from re3_jax.tracking import shipped
from re3_jax.tracking import track_files
from re3_jax.tracking import tracker as tracker_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The real sequences beside the checkout (conftest.SEQUENCES); a user's clone has none.
SEQUENCES = ROOT.parent / 'shared' / 'sequences'
N_FRAMES = 40
REAL_SEQUENCE, REAL_FRAMES = 'vot15_bag', 30
FRAME_SIZE = (360, 480)  # (H, W), as vot15_bag's frames

# What the installed package is asked to run (cwd: the run folder; argv: the frame folder,
# its first box and, where present, the real sequence's folder). It prints one JSON line.
TRACK_SCRIPT = textwrap.dedent('''\
    import json, pathlib, sys
    import numpy as np
    from PIL import Image
    import re3_jax
    from re3_jax.datasets import sequences
    from re3_jax.tracking import shipped, tracker

    frames = [np.asarray(Image.open(p).convert('RGB'))
              for p in sorted(pathlib.Path(sys.argv[1]).glob('*.jpg'))]
    tr = tracker.Re3Tracker.pretrained()
    boxes = [tr.track('patch', frames[0], json.loads(sys.argv[2]))]
    boxes += [tr.track('patch', frame) for frame in frames[1:]]
    out = {'file': re3_jax.__file__, 'weights': str(shipped.PRETRAINED_DIR),
           'boxes': np.asarray(boxes).tolist()}
    tr.remove('patch')
    if len(sys.argv) > 3:
      seq = sequences.load_sequence(sys.argv[3], max_frames=int(sys.argv[4]))
      real = [tr.track('real', seq.frames[0], seq.boxes[0])]
      real += [tr.track('real', frame) for frame in seq.frames[1:]]
      out['real_boxes'] = np.asarray(real).tolist()
    out['modules'] = sorted({m.__file__ for name, m in sys.modules.items()
                             if name.split('.')[0] == 're3_jax' and getattr(m, '__file__', None)})
    print(json.dumps(out))
''')


def _copy_source(dest: pathlib.Path) -> None:
  """What the build reads: the top-level files (pyproject.toml, README.md, any setup.cfg or
  MANIFEST.in) and the package folder, without caches."""
  dest.mkdir()
  for path in ROOT.iterdir():
    if path.is_file():
      shutil.copy2(path, dest / path.name)
  shutil.copytree(ROOT / 're3_jax', dest / 're3_jax',
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info'))


def _make_venv(venv: pathlib.Path, env) -> pathlib.Path:
  """A virtualenv whose Python sees the test environment's packages through a `.pth` file of
  path lines (not its `.pth` files: no editable re3_jax); its site-packages comes first."""
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True,
                 env=env, timeout=120)
  python = venv / 'bin' / 'python'
  purelib = pathlib.Path(subprocess.run(
      [str(python), '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
      check=True, capture_output=True, text=True, env=env, timeout=60).stdout.strip())
  assert purelib.is_relative_to(venv), purelib
  outer = list(site.getsitepackages())
  if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
    outer.append(site.getusersitepackages())
  assert not any(pathlib.Path(p).resolve().is_relative_to(ROOT) for p in outer), outer
  (purelib / '_re3_jax_test_environment.pth').write_text(''.join(f'{p}\n' for p in outer))
  return python


def _run(args, cwd, env, timeout=300):
  run = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
  assert run.returncode == 0, (f'{args} failed ({run.returncode}):\n{run.stdout[-3000:]}\n'
                               f'{run.stderr[-3000:]}')
  return run


def _check_wheel_contents(wheel: pathlib.Path, source: pathlib.Path) -> None:
  """Every module, every shipped model's files (checked against its SHA256SUMS), licence
  notice and README, and the TFDS builders' metadata; nothing else of size."""
  with zipfile.ZipFile(wheel) as z:
    infos = {i.filename: i for i in z.infolist()}
    want_modules = {p.relative_to(source).as_posix() for p in (source / 're3_jax').rglob('*.py')}
    assert want_modules - set(infos) == set(), sorted(want_modules - set(infos))
    shipped_files = set()
    for name in shipped.SHIPPED:
      folder = f're3_jax/weights/{name}'
      assert {f'{folder}/config.json', f'{folder}/README.md', f'{folder}/SHA256SUMS'} <= set(infos)
      assert any(n.startswith(f'{folder}/LICENCE_') for n in infos), f'{name}: no licence notice'
      on_disk = {p.relative_to(source).as_posix() for p in (source / folder).rglob('*')
                 if p.is_file()}
      assert on_disk - set(infos) == set(), sorted(on_disk - set(infos))
      shipped_files |= on_disk
      # The repository's budget for a shipped model, as it lies in the wheel (re3_nano: 17.0 MB;
      # bfloat16 weights barely deflate, so the wheel is ~30 MB with both models).
      stored = sum(infos[n].compress_size for n in on_disk)
      assert stored < 25e6, f'{name}: {stored} bytes in the wheel'
      listed = z.read(f'{folder}/SHA256SUMS').decode().splitlines()
      assert len(listed) >= 5, listed
      for line in listed:
        digest, rel = line.split(maxsplit=1)
        member = f'{folder}/{rel.lstrip("*")}'
        assert member in infos, f'{member}: in SHA256SUMS, not in the wheel'
        assert hashlib.sha256(z.read(member)).hexdigest() == digest, member
    for builder in ('imagenet_vid', 'alov300', 'imagenet_det'):
      for f in ('README.md', 'CITATIONS.bib'):
        assert f're3_jax/input/builders/{builder}/{f}' in infos
  # Nothing else large rides along (a run folder, frames, a stray checkpoint): the code, the
  # builders' texts and the metadata are well under 2 MB.
  rest = sum(i.file_size for n, i in infos.items() if n not in shipped_files)
  assert rest < 2e6, sorted((i.file_size, n) for n, i in infos.items()
                            if n not in shipped_files)[-10:]


def _write_clip(folder: pathlib.Path):
  """A textured patch moving and resizing over a textured background, as JPEG files (the real
  sequence's size: the tracker compiles once for both)."""
  clip = synthetic_clips.synthetic_clip(N_FRAMES, seed=0, size=FRAME_SIZE)
  folder.mkdir()
  for t, frame in enumerate(clip.frames):
    Image.fromarray(frame).save(folder / f'{t + 1:04d}.jpg', quality=90)
  return clip.boxes


def _assert_from_venv(files, venv, what):
  outside = [f for f in files if not pathlib.Path(f).resolve().is_relative_to(venv.resolve())]
  assert not outside, (f'{what} imported re3_jax from outside the virtualenv {venv} (the '
                       f'checkout or an editable install shadows the wheel): {outside}')


@pytest.mark.slow
def test_wheel_built_and_installed_as_readme_says_tracks_outside_the_checkout(
    tmp_path, readme_commands):
  [build] = readme_commands('pip wheel')
  [install] = readme_commands('pip install dist/')
  assert build[:4] == ['python3', '-m', 'pip', 'wheel'] and build[-1] == '.', build
  assert install[:4] == ['python3', '-m', 'pip', 'install'], install
  try:
    setuptools_version = importlib.metadata.version('setuptools')
  except importlib.metadata.PackageNotFoundError:
    setuptools_version = None
  if setuptools_version is None or int(setuptools_version.split('.')[0]) < 68:
    pytest.skip(f'the build backend, setuptools>=68 (pyproject.toml; requirements/test.txt '
                f'pins it), is not installed here ({setuptools_version}): building offline '
                '(--no-build-isolation) needs it')
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP')}
  env.update(JAX_PLATFORMS='cpu', PYTHONNOUSERSITE='1', PIP_DISABLE_PIP_VERSION_CHECK='1')

  # Build as README says (offline: the test environment's setuptools, no index).
  source = tmp_path / 'checkout'
  _copy_source(source)
  _run([sys.executable, *build[1:], '--no-build-isolation', '--no-index'], source, env)
  wheels = sorted((source / 'dist').glob('*.whl'))
  assert [w.relative_to(source).as_posix() for w in wheels] == [install[-1]], (
      f'README installs {install[-1]}; the build made {wheels}')
  _check_wheel_contents(wheels[0], source)

  # Install as README says, into a virtualenv (its dependencies found installed).
  venv = tmp_path / 'venv'
  python = _make_venv(venv, env)
  _run([python, *install[1:], '--no-index'], source, env)
  shutil.rmtree(source)  # nothing of the build is left to import from

  # The shipped model through the API, on a written clip and (beside the checkout) real frames.
  run_dir = tmp_path / 'run'
  run_dir.mkdir()
  truth = _write_clip(run_dir / 'frames')
  first = truth[0].tolist()
  real = SEQUENCES / REAL_SEQUENCE
  args = [run_dir / 'frames', json.dumps(first)]
  if real.is_dir():
    args += [real, REAL_FRAMES]
  (run_dir / 'track_clip.py').write_text(TRACK_SCRIPT)
  run = _run([python, 'track_clip.py', *args], run_dir, env)
  out = json.loads(run.stdout.strip().splitlines()[-1])
  _assert_from_venv(out['modules'] + [out['file'], out['weights']], venv, 'the API script')
  boxes = np.asarray(out['boxes'])
  assert boxes.shape == (N_FRAMES, 4) and np.isfinite(boxes).all()
  # Measured (2026-12-07, this 2-core CPU): IoU with the drawn patch 0.815 at worst, 0.891 on
  # average (seeds 1-3: worst 0.812-0.875, average 0.888-0.921). A box left where it started scores
  # 0.220 at worst and 0.448 on average (the patch moves ~60 px and changes size), so both
  # bounds need tracking.
  still = metrics.iou(np.repeat(truth[:1], N_FRAMES, axis=0), truth)
  assert still.min() < 0.5 and still.mean() < 0.7, still.round(3).tolist()
  ious = metrics.iou(boxes, truth)
  assert ious.min() > 0.5 and ious.mean() > 0.7, ious.round(3).tolist()
  if real.is_dir():
    # The installed package's model is the checkout's: the same boxes on real frames.
    seq = sequences.load_sequence(real, max_frames=REAL_FRAMES)
    tr = tracker_lib.Re3Tracker.pretrained()
    want = [tr.track('real', seq.frames[0], seq.boxes[0])]
    want += [tr.track('real', frame) for frame in seq.frames[1:]]
    np.testing.assert_allclose(np.asarray(out['real_boxes']), np.asarray(want), atol=1e-3)
  else:
    print(f'real frames not found at {real} (they sit beside the checkout): the clip only')

  # The command line of the installed package (README's `python3 -m re3_jax.track`).
  run = _run([python, '-m', 're3_jax.track', '--input=frames', '--box=' + ','.join(map(str, first)),
              '--output=tracked.gif', '--boxes_out=boxes.csv', '--noprogress'], run_dir, env)
  assert 'tracking with the shipped model re3_nano' in run.stderr, run.stderr[-2000:]
  assert str(venv) in run.stderr or str(venv.resolve()) in run.stderr, (
      f'track names weights outside the virtualenv {venv}: {run.stderr[-2000:]}')
  cli_boxes, ids = track_files.read_boxes_csv(run_dir / 'boxes.csv')
  assert ids == [0] and cli_boxes.shape == (N_FRAMES, 1, 4)
  # Batched (multi_track) against the per-frame API: the same network, float rounding apart
  # (5e-4 px measured; tests/test_track.py allows 3e-3).
  np.testing.assert_allclose(cli_boxes[:, 0], boxes, atol=3e-3)
  with Image.open(run_dir / 'tracked.gif') as gif:
    assert (gif.n_frames, gif.size) == (N_FRAMES, FRAME_SIZE[::-1])
  assert sorted(p.name for p in run_dir.iterdir()) == [
      'boxes.csv', 'frames', 'track_clip.py', 'tracked.gif']
