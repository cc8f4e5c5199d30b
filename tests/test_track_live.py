"""Tests of `re3_jax.track` on live sources (a camera, a stream URL) and on many videos at once.

No camera is needed: ``cv2.VideoCapture`` opens a file path or a ``file://`` URL as a stream,
`live.LiveSource` takes a stand-in for the capture (`open_capture`), and the command line's
camera 0 is a video file where a test says so (`FAKE_CAMERA`).
"""

import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest

from re3_jax.core import signals
from re3_jax.media import inputs
from re3_jax.media import live
from re3_jax.media import synthetic_clips
from re3_jax.media import video
from re3_jax.tracking import track_files
from re3_jax.tracking import track_live
from re3_jax.tracking import track_many
from re3_jax.tracking import tracker as tracker_lib

import cli_signals  # tests/cli_signals.py

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI_ENV = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS='cpu')
BOXES = ([20.0, 15.0, 70.0, 60.0], [60.0, 30.0, 120.0, 90.0])
N_FRAMES = 10


@pytest.fixture(scope='module')
def clip():
  return synthetic_clips.synthetic_clip(N_FRAMES, seed=3, size=(96, 128))


def write_mp4(path, frames, fps=15.0):
  height, width = frames[0].shape[:2]
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
  assert writer.isOpened(), 'this OpenCV build cannot encode mp4v'
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  return path


def mp4_frames(path) -> int:
  """Frames that decode from `path` (0 if it does not open), checked against its header."""
  capture = cv2.VideoCapture(str(path))
  count = 0
  while capture.read()[0]:
    count += 1
  assert not count or int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == count
  capture.release()
  return count


def csv_frames(path, objects: int = 1) -> int:
  lines = pathlib.Path(path).read_text().splitlines()
  assert lines[0] == ','.join(track_files.CSV_HEADER)
  rows = [line.split(',') for line in lines[1:]]
  assert len(rows) % objects == 0
  assert [int(r[0]) for r in rows] == [t for t in range(len(rows) // objects)
                                       for _ in range(objects)]  # complete frames, in order
  return len(rows) // objects


class FakeCapture:
  """A ``cv2.VideoCapture`` over a video file that stops as told: ``KeyboardInterrupt`` (Ctrl-C)
  at read number `interrupt_at` (0-based), or a frame of another size at `resize_at`."""

  def __init__(self, path, interrupt_at=None, resize_at=None, opens=True):
    """`opens` False: a capture that does not open (no such camera)."""
    self._capture = cv2.VideoCapture(str(path)) if opens else None
    self.reads = 0
    self.interrupt_at, self.resize_at = interrupt_at, resize_at

  def isOpened(self):  # pylint: disable=invalid-name  (OpenCV's name)
    return self._capture is not None and self._capture.isOpened()

  def get(self, prop):
    return self._capture.get(prop)

  def read(self):
    if self.reads == self.interrupt_at:
      raise KeyboardInterrupt
    ok, frame = self._capture.read()
    if ok and self.reads == self.resize_at:
      frame = frame[:-8]
    self.reads += 1
    return ok, frame

  def release(self):
    if self._capture is not None:
      self._capture.release()


class NoFrames(FakeCapture):
  """A capture that opens and gives no frame."""

  def read(self):
    return False, None


# ----------------------------------------------------------------------------
# What --input names.


def test_live_sources_are_parsed_and_named():
  assert live.parse_live('0') == 0 and isinstance(live.parse_live('0'), int)
  assert live.parse_live('12') == 12
  for url in ('rtsp://cam.local/stream1', 'HTTPS://x.org/a.m3u8', 'udp://@:1234', 'file:///a.mp4'):
    assert live.parse_live(url) == url
  for path in ('clip.mp4', './0', '-1', '0.5', '１', 'clips/*.mp4', 'c:/videos/a.mp4'):
    assert live.parse_live(path) is None, path
  assert live.describe(0) == 'camera 0'
  assert live.describe('rtsp://admin:hunter2@10.0.0.5:554/live') == \
      'stream rtsp://admin:***@10.0.0.5:554/live'
  assert live.describe('http://user@host/a') == 'stream http://user@host/a'


def test_inputs_resolve(clip, tmp_path):
  assert inputs.resolve('0') == inputs.Input('0', 'live', live=0)
  images = tmp_path / 'frames'
  images.mkdir()
  cv2.imwrite(str(images / '1.png'), clip.frames[0])
  assert inputs.resolve(str(images)).kind == 'one'
  clips = tmp_path / 'clips'
  clips.mkdir()
  for name in ('v10.mp4', 'v2.MOV', 'notes.txt'):
    (clips / name).write_bytes(b'x')
  many = inputs.resolve(str(clips))
  assert many.kind == 'many' and [p.name for p in many.paths] == ['v2.MOV', 'v10.mp4']
  matched = inputs.resolve(f'{tmp_path}/*/v*')
  assert matched.kind == 'many' and [p.name for p in matched.paths] == ['v2.MOV', 'v10.mp4']
  assert inputs.resolve(str(clips / 'v2.MOV')).kind == 'one'
  assert inputs.input_name(clips / 'v2.MOV') == 'v2' and inputs.input_name(images) == 'frames'
  with pytest.raises(video.VideoError, match=r'no file matches .*/\*\.avi'):
    inputs.resolve(f'{tmp_path}/*.avi')
  with pytest.raises(video.VideoError, match=r'input .*missing\.mp4 does not exist \(an input is '
                     'a video file, a folder of images or of videos, a glob, a camera index or a '
                     r'URL\)'):
    inputs.resolve(str(tmp_path / 'missing.mp4'))
  (tmp_path / 'other').mkdir()
  (tmp_path / 'other' / 'v2.mp4').write_bytes(b'x')
  with pytest.raises(video.VideoError, match=r"inputs .*clips/v2\.MOV and .*other/v2\.mp4 of .* "
                     r"are both named 'v2'"):
    inputs.resolve(f'{tmp_path}/*/v2.*')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(video.VideoError, match=r'folder .*empty holds no images .* and no videos'):
    inputs.resolve(str(tmp_path / 'empty'))


# ----------------------------------------------------------------------------
# Live sources.


def test_a_source_that_does_not_open_is_named(clip, tmp_path):
  # No camera 99 here (OpenCV finds none: checked on this machine, which has no camera).
  with pytest.raises(video.VideoError, match=r'^cannot open camera 99: OpenCV finds no camera it '
                     r'can read at index 99 \(none there, in use by another program, or no '
                     r'permission; cameras count from 0\)$'):
    live.LiveSource(99)
  with pytest.raises(video.VideoError, match=r'^cannot open stream '
                     r'rtsp://me:\*\*\*@127\.0\.0\.1:1/x: '
                     r'OpenCV could not connect to it within 2 s, or does not decode it$'):
    live.LiveSource('rtsp://me:secret@127.0.0.1:1/x', timeout_ms=2000)  # nothing listens there
  src = write_mp4(tmp_path / 'c.mp4', clip.frames[:2])
  with pytest.raises(video.VideoError, match=r'^cannot open camera 0: '):
    live.LiveSource(0, open_capture=lambda s: FakeCapture(src, opens=False))
  with pytest.raises(video.VideoError, match=r'^camera 0 opened but gave no frame within 10 s$'):
    live.LiveSource(0, open_capture=lambda s: NoFrames(src))


def test_stream_tracks_as_the_file_does_and_writes_as_it_goes(steady, clip, tmp_path):
  src = write_mp4(tmp_path / 'c.mp4', clip.frames)
  with video.open_frames(src) as frames:
    want = track_files.track_frames(tracker_lib.Re3Tracker(*steady), frames, BOXES)
  # A URL, up to --max_frames; the CSV grows frame by frame (read while tracking).
  seen = []
  with live.LiveSource(f'file://{src}') as source:
    assert (source.name, source.fps, source.num_frames) == (f'stream file://{src}', 15.0, None)
    result = track_live.track_stream(
        tracker_lib.Re3Tracker(*steady), source, BOXES, output=tmp_path / 'o.mp4',
        boxes_out=tmp_path / 'b.csv', fps=source.fps, max_frames=6, input_name=source.name,
        progress=lambda p: seen.append((p.frame, csv_frames(tmp_path / 'b.csv', 2))))
  assert seen == [(k, k) for k in range(1, 7)]
  assert (result.num_frames, result.stopped, result.width, result.height) == (6, 'max_frames',
                                                                             128, 96)
  assert result.written == [tmp_path / 'o.mp4', tmp_path / 'b.csv']
  assert mp4_frames(tmp_path / 'o.mp4') == 6 and csv_frames(tmp_path / 'b.csv', 2) == 6
  boxes, ids, scores = track_files.read_boxes_csv(tmp_path / 'b.csv', with_scores=True)
  assert ids == [0, 1] and np.isfinite(boxes).all()
  np.testing.assert_allclose(boxes, want.boxes[:6], atol=1e-3)
  # A camera (a stand-in opening the file), to its end.
  with live.LiveSource(0, open_capture=lambda s: cv2.VideoCapture(str(src))) as source:
    assert source.name == 'camera 0'
    result = track_live.track_stream(tracker_lib.Re3Tracker(*steady), source, BOXES[:1],
                                     boxes_out=tmp_path / 'c.csv')
  assert (result.num_frames, result.stopped, result.output) == (N_FRAMES, 'end', None)
  np.testing.assert_allclose(track_files.read_boxes_csv(tmp_path / 'c.csv')[0][:, 0],
                             want.boxes[:, 0], atol=1e-3)
  with pytest.raises(video.VideoError, match=r"boxes file .*b\.json: a live source's boxes are "
                     r'written as its frames arrive, as \.csv'):
    track_live.track_stream(tracker_lib.Re3Tracker(*steady), iter(clip.frames), BOXES,
                            boxes_out=tmp_path / 'b.json')


@pytest.mark.parametrize('when', ['reading', 'after writing'])
def test_ctrl_c_leaves_a_playable_video_and_complete_boxes(steady, clip, tmp_path, when):
  src = write_mp4(tmp_path / 'c.mp4', clip.frames)
  n = 4  # frames tracked before Ctrl-C

  def interrupt(p):
    if when == 'after writing' and p.frame == n:
      raise KeyboardInterrupt

  opener = lambda s: FakeCapture(src, interrupt_at=n if when == 'reading' else None)
  with live.LiveSource(0, open_capture=opener) as source:
    result = track_live.track_stream(tracker_lib.Re3Tracker(*steady), source, BOXES,
                                     output=tmp_path / 'o.mp4', boxes_out=tmp_path / 'b.csv',
                                     progress=interrupt)
  assert (result.num_frames, result.stopped) == (n, 'interrupted')
  assert mp4_frames(tmp_path / 'o.mp4') == n
  assert csv_frames(tmp_path / 'b.csv', 2) == n
  assert sorted(p.name for p in tmp_path.iterdir()) == ['b.csv', 'c.mp4', 'o.mp4']


def test_an_error_mid_stream_keeps_the_frames_before_it(steady, clip, tmp_path):
  src = write_mp4(tmp_path / 'c.mp4', clip.frames)
  with live.LiveSource(0, open_capture=lambda s: FakeCapture(src, resize_at=5)) as source:
    with pytest.raises(video.VideoError, match=r'^camera 0: frame 5 is 128x88, frame 0 128x96 '
                       r'\(tracking stopped there; .*o\.gif, .*b\.csv hold the 5 frames before '
                       r'it\)$'):
      track_live.track_stream(tracker_lib.Re3Tracker(*steady), source, BOXES[:1],
                              output=tmp_path / 'o.gif', boxes_out=tmp_path / 'b.csv')
  assert csv_frames(tmp_path / 'b.csv') == 5
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(tmp_path / 'o.gif') as gif:
    assert gif.n_frames == 5


def test_signals_are_held_over_a_deferred_block():
  received = []

  def handler(signum, frame):
    del frame
    received.append(signum)
    raise KeyboardInterrupt

  previous = signal.signal(signal.SIGINT, handler)
  try:
    with pytest.raises(KeyboardInterrupt):
      with signals.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert not received  # held: the block runs to its end
        done = True
    assert done and received == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is handler
  finally:
    signal.signal(signal.SIGINT, previous)


CLI = [sys.executable, '-m', 're3_jax.track']
# Runs ``python -m re3_jax.track ARGS...`` with camera 0 being the video file VIDEO:
# ``python -c FAKE_CAMERA VIDEO ARGS...``.
FAKE_CAMERA = textwrap.dedent('''\
    import runpy, sys, cv2
    real, video = cv2.VideoCapture, sys.argv.pop(1)
    cv2.VideoCapture = lambda source, *a: real(video) if source == 0 else real(source, *a)
    runpy.run_module('re3_jax.track', run_name='__main__', alter_sys=True)
''')


def test_readme_camera_command_runs_as_written(readme_commands, tmp_path):
  [command] = readme_commands('--input=0')
  assert command[:3] == ['python3', '-m', 're3_jax.track']
  camera = synthetic_clips.synthetic_clip(40, seed=5, size=(240, 320))
  src = write_mp4(tmp_path / 'camera0.mp4', camera.frames, fps=30)
  proc = subprocess.run([sys.executable, '-c', FAKE_CAMERA, str(src), *command[3:]], cwd=tmp_path,
                        capture_output=True, text=True, timeout=300, env=CLI_ENV)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'through 40 frames of camera 0 (320x240), stopped: the input ended' in proc.stdout
  assert mp4_frames(tmp_path / 'camera.mp4') == 40 and csv_frames(tmp_path / 'camera.csv') == 40
  boxes, _, scores = track_files.read_boxes_csv(tmp_path / 'camera.csv', with_scores=True)
  assert np.isfinite(boxes).all() and np.isfinite(scores).all()  # the shipped model has scores


@pytest.mark.parametrize('signum, status, said, why', [
    (signal.SIGINT, 130, 'interrupted', 'interrupted (Ctrl-C)'),
    (signal.SIGTERM, 143, 'terminated (SIGTERM)', 'terminated (SIGTERM)')])
def test_cli_live_stream_stopped_by_a_signal(clip, tmp_path, signum, status, said, why):
  src = write_mp4(tmp_path / 'long.mp4', [clip.frames[t % N_FRAMES] for t in range(400)])
  csv = tmp_path / 'live.csv'
  returncode, stdout, stderr = cli_signals.signal_when(
      CLI + ['--tracker.random_model=tiny', f'--input=file://{src}', '--box=20,15,70,60',
             '--output=live.mp4', '--boxes_out=live.csv'],
      lambda: csv.exists() and len(csv.read_text().splitlines()) > 5,
      signum, what='5 frames tracked', cwd=tmp_path, env=CLI_ENV)
  assert returncode == status, stderr[-3000:]
  assert stderr.splitlines()[-1] == f're3_jax.track: {said}' and 'Traceback' not in stderr
  n = int(stdout.split(' through ')[1].split()[0])
  assert 5 <= n < 400, stdout
  assert f'through {n} frames of stream file://{src} (128x96), stopped: {why}: tracker ' in stdout
  assert 'wrote live.mp4, live.csv' in stdout
  assert mp4_frames(tmp_path / 'live.mp4') == n and csv_frames(tmp_path / 'live.csv') == n


@pytest.mark.parametrize('args, message', [
    (['--input=99', '--box=1,1,9,9'], 'cannot open camera 99: OpenCV finds no camera'),
    (['--input=0', '--box=1,1,9,9', '--boxes_out=b.json'],
     r"boxes file b\.json: a live source's boxes are written as its frames arrive, as \.csv"),
    (['--input=clips/*.mp4', '--box=1,1,9,9', '--output=o.mp4'],
     r'output video o\.mp4: with many inputs \(2 in clips/\*\.mp4\), each gets its own file: put '
     r"\{name\} \(the input's name\) in it, e.g. tracked/\{name\}\.mp4"),
    (['--input=clips', '--boxes_in=boxes.txt'], r"boxes\.txt line 2 \(b\): malformed box '1,2,3'"),
])
def test_cli_errors_before_the_model(clip, tmp_path, args, message):
  (tmp_path / 'clips').mkdir()
  for name in ('a', 'b'):
    write_mp4(tmp_path / 'clips' / f'{name}.mp4', clip.frames[:2])
  (tmp_path / 'boxes.txt').write_text('a,1,1,9,9\nb,1,2,3\n')
  before = sorted(tmp_path.rglob('*'))
  proc = subprocess.run(CLI + ['--tracker.random_model=tiny', *args], cwd=tmp_path,
                        capture_output=True, text=True, timeout=120, env=CLI_ENV)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert re.search(r're3_jax\.track: error: ' + message, proc.stderr), proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr and 'RANDOM weights' not in proc.stderr
  assert sorted(tmp_path.rglob('*')) == before


# ----------------------------------------------------------------------------
# Many videos.


def test_many_videos_skip_the_bad_ones_and_stop_at_ctrl_c(steady, clip, tmp_path):
  clips = tmp_path / 'clips'
  clips.mkdir()
  for name, n in (('a', 6), ('b', 4), ('c', 5), ('d', 3)):
    write_mp4(clips / f'{name}.mp4', clip.frames[:n])
  (clips / 'e.mp4').write_bytes(b'junk' * 50)
  paths = inputs.resolve(str(clips)).paths
  boxes = track_many.read_boxes_in(_write(tmp_path / 'boxes.txt', textwrap.dedent('''\
      # name,x,y,w,h
      a,20,15,50,45
      a,60,30,60,60
      b,500,10,20,20
      d,20,15,50,45
      e,1,1,9,9
      ''')), 'xywh')
  assert list(boxes) == ['a', 'b', 'd', 'e'] and len(boxes['a']) == 2
  np.testing.assert_array_equal(boxes['a'][1], [60, 30, 120, 90])
  errors = []
  result = track_many.track_many(
      tracker_lib.Re3Tracker(*steady), paths, boxes, output=f'{tmp_path}/out/{{name}}.gif',
      boxes_out=f'{tmp_path}/out/{{name}}.csv', boxes_name='boxes.txt', on_error=errors.append)
  assert result.stopped is None
  assert [(o.name, o.result is not None) for o in result.outcomes] == [
      ('a', True), ('b', False), ('c', False), ('d', True), ('e', False)]
  assert errors == result.failed
  assert result.outcomes[0].result.boxes.shape == (6, 2, 4)
  assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['a.csv', 'a.gif', 'd.csv',
                                                                  'd.gif']
  assert csv_frames(tmp_path / 'out' / 'd.csv') == 3
  lines = track_many.summary_lines(result)
  assert lines[0] == '2 of 5 inputs tracked, 3 failed:'
  assert lines[1].startswith(f'  {clips}/a.mp4: 6 frames (15 fps), 2 object(s), tracker ')
  assert lines[1].endswith(f'frames/s; wrote {tmp_path}/out/a.gif, {tmp_path}/out/a.csv')
  assert re.fullmatch(rf'  {clips}/b\.mp4: FAILED: box 0 \(object 0\) in the first frame of '
                      rf'{clips}/b\.mp4: \[500\.0, 10\.0, 520\.0, 30\.0\] lies entirely outside '
                      r'the 128x96 .*', lines[2])
  assert lines[3] == f'  {clips}/c.mp4: FAILED: no box for c in boxes.txt'
  assert lines[5].startswith(f'  {clips}/e.mp4: FAILED: cannot read {clips}/e.mp4: ')
  # Ctrl-C in the second video: the first's outputs stay, the second gets none, the rest wait.
  out = tmp_path / 'out2'

  def interrupt(label, p):
    if label.startswith('[2/') and p.frame == 2:
      raise KeyboardInterrupt

  result = track_many.track_many(tracker_lib.Re3Tracker(*steady), paths[:3], BOXES[:1],
                                 output=f'{out}/{{name}}.mp4', progress=interrupt)
  assert result.stopped == 'interrupted'
  assert [o.error for o in result.outcomes] == [
      None, 'interrupted: its outputs were not written', 'not tracked: interrupted before it']
  assert sorted(p.name for p in out.iterdir()) == ['a.mp4'] and mp4_frames(out / 'a.mp4') == 6
  assert track_many.summary_lines(result)[0] == '1 of 3 inputs tracked, 2 failed (interrupted):'
  with pytest.raises(ValueError, match=r'boxes file b\.csv: with many inputs, each gets its own '
                     r'file: put \{name\}'):
    track_many.track_many(tracker_lib.Re3Tracker(*steady), paths, BOXES, boxes_out='b.csv')


def _write(path, text):
  path.write_text(text)
  return path


def test_boxes_in_errors_name_the_line(tmp_path):
  for text, message in (('a\n', r"line 1: expected NAME,box \(the box as x1,y1,x2,y2\), got 'a'"),
                        ('a 1,2,3,4\n', r"line 1 \(a 1\): malformed box '2,3,4'"),
                        ('# only a comment\n', r'holds no boxes'),
                        ('a,1,2,3,4\n\nb,1,2,x,4\n', r"line 3 \(b\): malformed box '1,2,x,4'")):
    with pytest.raises(ValueError, match=rf'{tmp_path}/b\.txt {message}'
                       if 'line' in message else message):
      track_many.read_boxes_in(_write(tmp_path / 'b.txt', text))
  with pytest.raises(ValueError, match=r'cannot read boxes file .*missing\.txt'):
    track_many.read_boxes_in(tmp_path / 'missing.txt')


def test_readme_many_videos_command_runs_as_written(readme_commands, tmp_path):
  [command] = readme_commands('{name}')
  assert command[:3] == ['python3', '-m', 're3_jax.track']
  (tmp_path / 'clips').mkdir()
  for name, seed, n in (('walk', 1, 8), ('drive', 2, 5)):
    frames = synthetic_clips.synthetic_clip(n, seed=seed, size=(240, 320)).frames
    write_mp4(tmp_path / 'clips' / f'{name}.mp4', frames)
  (tmp_path / 'clips' / 'broken.mp4').write_bytes(b'not a video')
  proc = subprocess.run(CLI + command[3:], cwd=tmp_path, capture_output=True, text=True,
                        timeout=300, env=CLI_ENV)
  assert proc.returncode == 1, proc.stderr[-3000:]  # one input failed
  assert 'Traceback' not in proc.stderr
  assert ('re3_jax.track: skipping clips/broken.mp4: cannot read clips/broken.mp4: OpenCV cannot '
          'open it as a video') in proc.stderr
  lines = proc.stdout.splitlines()
  assert lines[0] == '2 of 3 inputs tracked, 1 failed:'
  assert lines[1].startswith('  clips/broken.mp4: FAILED: cannot read clips/broken.mp4')
  assert re.fullmatch(r'  clips/drive\.mp4: 5 frames \(15 fps\), 1 object\(s\), tracker [\d.]+ '
                      r'frames/s; wrote tracked/drive\.mp4, tracked/drive\.csv', lines[2])
  assert lines[3].startswith('  clips/walk.mp4: 8 frames (15 fps)')
  assert sorted(p.name for p in (tmp_path / 'tracked').iterdir()) == [
      'drive.csv', 'drive.mp4', 'walk.csv', 'walk.mp4']
  assert mp4_frames(tmp_path / 'tracked' / 'walk.mp4') == 8
  assert csv_frames(tmp_path / 'tracked' / 'walk.csv') == 8

