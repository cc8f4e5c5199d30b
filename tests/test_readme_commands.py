"""Every command README.md shows runs as written.

`test_every_readme_command_is_run_by_a_test` claims each ``python3 -m`` line of README.md's
bash blocks for one test: those below, which run the line as written from a scratch folder
holding what it names (a video, a link to ``experiments/`` or to ``../shared``), or a test
elsewhere that does (the val table, the fine-tune recipe). A command added to README without
a test fails it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from re3_jax.core import boxes as boxes_lib
from re3_jax.core import noise
from re3_jax.media import synthetic_clips

from readme_lines import readme_command_lines  # tests/readme_lines.py

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'

# The README line's start -> the test that runs it as written.
CLAIMS = {
    'python3 -m pip install -r requirements.txt -e . && python3 -m re3_jax.train '
    '--flagfile=experiments/synthetic.flags': 'test_command_1_trains_as_written',
    'python3 -m pip install -r requirements/test.txt -e . && python3 -m pytest':
        '.ci/run (README command 2 is the CI run itself)',
    'python3 -m re3_jax.track --input=video.mp4': 'test_track_command_runs_as_written',
    'python3 -m re3_jax.evaluate --dataset=otb:../shared/real_sequences/val --tracker=re3 '
    '--tracker=re3_squeeze': 'test_readme_results.py::test_readme_val_table_command_runs_as_written',
    'python3 -m re3_jax.evaluate --dataset=otb:../shared/real_sequences/val --tracker=re3 '
    '--score_threshold=0.35': 'test_readme_results.py::test_readme_score_command_runs_as_written',
    'python3 -m re3_jax.train --flagfile=experiments/real_nano_template_long_cpu.flags '
    '--workdir=runs/real_nano_template_long_cpu': 'test_shipped_recipe_command_starts_as_written',
    'python3 -m re3_jax.train --flagfile=experiments/real_nano_template_long_cpu.flags '
    '--workdir=runs/mine':
        'test_fine_tune.py::test_readme_fine_tune_command_runs_as_written',
    'python3 -m re3_jax.evaluate --dataset=otb:my_val':
        'test_fine_tune.py::test_readme_fine_tune_command_runs_as_written',
    'python3 -m re3_jax.export --out=re3_nano.re3x': 'test_export_command_runs_as_written',
    'python3 -m pip wheel --no-deps -w dist .':
        'test_wheel.py::test_wheel_built_and_installed_as_readme_says_tracks_outside_the_checkout',
    'python3 -m pip install dist/re3_jax-':
        'test_wheel.py::test_wheel_built_and_installed_as_readme_says_tracks_outside_the_checkout',
}


def _line(start: str) -> str:
  [line] = [line for line in readme_command_lines() if line.startswith(start)]
  return line


def _env():
  return dict(os.environ, PYTHONPATH=os.pathsep.join(
      p for p in (str(REPO), os.environ.get('PYTHONPATH')) if p), JAX_PLATFORMS='cpu')


def _argv(line: str) -> list[str]:
  """The README line's re3_jax command (after any install step), run by this interpreter."""
  command = shlex.split(line.split(' && ')[-1])
  assert command[:2] == ['python3', '-m'], line
  return [sys.executable] + command[1:]


def test_every_readme_command_is_run_by_a_test():
  lines = readme_command_lines()
  assert len(lines) >= 8
  for line in lines:
    claimed = [start for start in CLAIMS if line.startswith(start)]
    assert len(claimed) == 1, f'README command without exactly one test: {line}'
  for start in CLAIMS:  # and no claim outlives its command
    assert any(line.startswith(start) for line in lines), start


def _start_and_stop(argv, cwd, ready: str, timeout: float = 900) -> tuple[int, str]:
  """Runs `argv` until a line of its output contains `ready`, then interrupts it as Ctrl-C
  does; returns its status and output."""
  process = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
  seen, deadline = [], time.monotonic() + timeout
  try:
    for line in process.stdout:
      seen.append(line)
      if ready in line or time.monotonic() > deadline:
        break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=600)
  finally:
    if process.poll() is None:
      process.kill()
  output = ''.join(seen) + (rest or '')
  assert any(ready in line for line in seen), output[-3000:]
  return process.returncode, output


@pytest.mark.slow
def test_command_1_trains_as_written(tmp_path):
  # The whole run takes 13-21 minutes; the test runs it as written until its first progress
  # line, then stops it as Ctrl-C does: the flags parse, the data flows, steps train, and an
  # interruption ends it with 130, the flags it ran with written down.
  (tmp_path / 'experiments').symlink_to(REPO / 'experiments')
  argv = _argv(_line('python3 -m pip install -r requirements.txt'))
  status, output = _start_and_stop(argv, tmp_path, ready=' step 50: ')
  assert status == 130, output[-3000:]
  assert 'training tiny' in output and 'step 0: validation' in output
  assert '--config.model=tiny' in (tmp_path / 'runs/synthetic/flags.txt').read_text()


@pytest.mark.slow
def test_shipped_recipe_command_starts_as_written(tmp_path):
  # The 49-minute recipe of the shipped model, from a folder beside a link to ../shared:
  # its flags parse, the pretrained NanoTrack tower loads, the run's flags are written and
  # its first validation (on the nine val sequences, a few minutes) is scored.
  if not (SHARED / 'real_sequences/train').is_dir() or not (
      SHARED / 'weights/nanotrack_v2/backbone.onnx').is_file():
    pytest.skip(f'real sequences or the NanoTrack backbone not found in {SHARED}')
  (tmp_path / 'shared').symlink_to(SHARED)
  (tmp_path / 'here').mkdir()
  (tmp_path / 'here/experiments').symlink_to(REPO / 'experiments')
  argv = _argv(_line('python3 -m re3_jax.train '
                     '--flagfile=experiments/real_nano_template_long_cpu.flags '
                     '--workdir=runs/real_nano_template_long_cpu'))
  status, output = _start_and_stop(argv, tmp_path / 'here', ready='step 0: validation')
  assert status == 130, output[-3000:]
  assert 'training nano_template' in output
  flags = (tmp_path / 'here/runs/real_nano_template_long_cpu/flags.txt').read_text()
  assert '--config.model=nano_template' in flags and 'backbone.onnx' in flags


def _write_video(path: pathlib.Path, first_xywh, n_frames: int, step=(2, 1)):
  """A 640x360 mp4 of a textured 40x60 patch moving `step` pixels a frame over value noise;
  returns the true xyxy boxes."""
  rng = np.random.default_rng(0)
  background = (noise.smooth_noise(rng, (360, 640, 3), 8) * 160 + 40).astype(np.uint8)
  texture = (np.clip(noise.smooth_noise(rng, (60, 40, 3), 3), 0, 1) * 255).astype(np.uint8)
  x, y, w, h = first_xywh
  truth = np.array([[x + step[0] * k, y + step[1] * k, x + w + step[0] * k, y + h + step[1] * k]
                    for k in range(n_frames)], np.float64)
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 25, (640, 360))
  assert writer.isOpened()
  for box in truth:
    frame = background.copy()
    synthetic_clips.draw_boxes(frame, [texture], box[None])
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  return truth


@pytest.mark.slow
def test_track_command_runs_as_written(tmp_path):
  line = _line('python3 -m re3_jax.track --input=video.mp4')
  first = [float(v) for v in line.split('--box=')[1].split()[0].split(',')]
  truth = _write_video(tmp_path / 'video.mp4', first, n_frames=40)
  run = subprocess.run(_argv(line) + ['--noprogress'], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=900)
  assert run.returncode == 0, run.stderr[-3000:]
  video = cv2.VideoCapture(str(tmp_path / 'tracked.mp4'))
  count = 0
  while video.read()[0]:
    count += 1
  assert count == 40
  rows = np.loadtxt(tmp_path / 'boxes.csv', delimiter=',', skiprows=1, ndmin=2)
  assert rows.shape == (40, 7) and np.isfinite(rows).all()
  # The first row is the given x,y,w,h as x1,y1,x2,y2 (exact); the shipped model follows a
  # plainly textured patch moving 2.2 px a frame over the whole clip: every frame's IoU with
  # the drawn patch above 0.5 (lower only where tracking fails; the mp4's compression
  # blurs the edges by a pixel or two, which costs a 40x60 box under 0.1 IoU).
  np.testing.assert_array_equal(rows[0, 2:6], truth[0])
  iou = np.asarray(boxes_lib.iou(rows[:, 2:6], truth))
  assert iou.min() > 0.5, iou
  assert 0.9 < rows[0, 6] <= 1.0  # the confidence at the start


@pytest.mark.slow
def test_export_command_runs_as_written(tmp_path):
  line = _line('python3 -m re3_jax.export --out=re3_nano.re3x')
  run = subprocess.run(_argv(line), cwd=tmp_path, env=_env(), capture_output=True, text=True,
                       timeout=900)
  assert run.returncode == 0, run.stderr[-3000:]
  artifact = tmp_path / 're3_nano.re3x'
  assert artifact.stat().st_size > 10e6  # the shipped weights are inside
  # README's snippet, with the loader beside the artifact as a user copies it.
  (tmp_path / 'exported.py').write_bytes((REPO / 're3_jax/tracking/exported.py').read_bytes())
  _write_video(tmp_path / 'clip.mp4', (280, 160, 40, 60), n_frames=3)
  script = (
      'import sys\n'
      'sys.modules["re3_jax"] = None  # the loader needs only JAX and NumPy\n'
      'import json, cv2, numpy as np, exported\n'
      'video = cv2.VideoCapture("clip.mp4")\n'
      'frames = [cv2.cvtColor(video.read()[1], cv2.COLOR_BGR2RGB) for _ in range(3)]\n'
      'tracker = exported.load("re3_nano.re3x")\n'
      'state = tracker.init(frames[0], [[280, 160, 320, 220]])\n'
      'for frame in frames[1:]:\n'
      '  boxes, state = tracker.step(state, frame)\n'
      'print(json.dumps(np.asarray(boxes).tolist()))\n')
  check = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=600)
  assert check.returncode == 0, check.stderr[-3000:]
  boxes = np.array(json.loads(check.stdout.strip().splitlines()[-1]))
  assert boxes.shape == (1, 4) and np.isfinite(boxes).all()
  assert np.abs(boxes[0] - [284, 162, 324, 222]).max() < 10


@pytest.mark.slow
def test_track_a_video_snippet_runs(tmp_path):
  # README's Python example under "Track a video", with `frames` the clip the track command's
  # test writes (its first box is the snippet's [280, 160, 320, 220]).
  text = (REPO / 'README.md').read_text()
  section = text[text.index('## Track a video'):text.index('## Results')]
  snippet = section.split('```python\n', 1)[1].split('```', 1)[0]
  truth = _write_video(tmp_path / 'video.mp4', (280, 160, 40, 60), n_frames=20)
  capture = cv2.VideoCapture(str(tmp_path / 'video.mp4'))
  frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(20)]
  scope = {'frames': frames}
  exec(compile(snippet, 'README.md', 'exec'), scope)  # noqa: S102
  assert np.isfinite(scope['box']).all() and -1 <= scope['score'] <= 1
  # The last box against the drawn patch: the same bound as the command's test.
  assert float(boxes_lib.iou(np.asarray(scope['box'], np.float64), truth[-1])) > 0.5
