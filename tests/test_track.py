"""Tests of tracking any video: `re3_jax.track`'s library functions and its command line."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys

import cv2
import numpy as np
from PIL import Image
import pytest

from re3_jax.media import drawing
from re3_jax.media import synthetic_clips
from re3_jax.media import video
from re3_jax.model import checkpoints
from re3_jax.tracking import shipped
from re3_jax.tracking import track_files
from re3_jax.tracking import tracker as tracker_lib

import cli_signals  # tests/cli_signals.py

ROOT = pathlib.Path(__file__).resolve().parents[1]
N_FRAMES = 10
BOXES = ([20.0, 15.0, 70.0, 60.0], [60.0, 30.0, 120.0, 90.0])


@pytest.fixture(scope='module')
def checkpoint(steady, tmp_path_factory):
  return checkpoints.save_params(tmp_path_factory.mktemp('ckpt'), *steady)


@pytest.fixture(scope='module')
def clip():
  return synthetic_clips.synthetic_clip(N_FRAMES, seed=3, size=(96, 128))


@pytest.fixture(scope='module')
def folder(clip, tmp_path_factory):
  """The clip as img1.png ... img10.png: a plain sort would put img10 second."""
  path = tmp_path_factory.mktemp('frames')
  for i, frame in enumerate(clip.frames):
    Image.fromarray(frame).save(path / f'img{i + 1}.png')
  return path


def expected_boxes(steady, frames, boxes):
  """Each object tracked alone, frame by frame, through the per-frame API."""
  out = []
  for box in boxes:
    tr = tracker_lib.Re3Tracker(*steady)
    out.append([tr.track('x', frames[0], box)] + [tr.track('x', f) for f in frames[1:]])
  return np.asarray(out).transpose(1, 0, 2)  # (T, N, 4)


CLI_ENV = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS='cpu')


def run_cli(*args, cwd):
  return subprocess.run([sys.executable, '-m', 're3_jax.track', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=120, env=CLI_ENV)


def write_mp4(path, frames, fps=15.0):
  height, width = frames[0].shape[:2]
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
  assert writer.isOpened(), 'this OpenCV build cannot encode mp4v'
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()


def gif_frames(path):
  with Image.open(path) as im:
    frames = []
    for k in range(im.n_frames):
      im.seek(k)
      frames.append(np.asarray(im.convert('RGB')))
  return frames


def test_batched_objects_match_one_by_one(steady, clip, tmp_path):
  boxes = BOXES + ([5.0, 50.0, 45.0, 92.0],)
  result = track_files.track_frames(tracker_lib.Re3Tracker(*steady), iter(clip.frames), boxes,
                                    boxes_out=tmp_path / 'b.csv')
  assert result.boxes.shape == (N_FRAMES, 3, 4) and result.object_ids == [0, 1, 2]
  np.testing.assert_array_equal(result.boxes[0], np.asarray(boxes, np.float32))
  expected = expected_boxes(steady, clip.frames, boxes)
  # Batched vs one by one: float rounding that the random network carries from frame to frame.
  # Measured 1.0e-3 px on this clip (its boxes move up to 18.5 px; 1.8e-4 px on the clip before
  # `synthetic_clips`, whose boxes moved 7.5 px), this CPU, 2026-12-01.
  np.testing.assert_allclose(result.boxes, expected, atol=3e-3)
  assert np.abs(expected[-1] - expected[0]).max() > 1  # the boxes did move
  csv_boxes, ids = track_files.read_boxes_csv(tmp_path / 'b.csv')
  assert ids == [0, 1, 2]
  np.testing.assert_allclose(csv_boxes, result.boxes, atol=1e-3)
  assert result.tracker_fps > 0 and result.decode_fps > 0


def expected_scores(params, config, frames, boxes):
  """Each object's scores tracked alone through the per-frame API: (T, N)."""
  out = []
  for box in boxes:
    tr = tracker_lib.Re3Tracker(params, config)
    out.append([tr.track('x', frames[0], box, with_score=True)[1]]
               + [tr.track('x', f, with_score=True)[1] for f in frames[1:]])
  return np.asarray(out).T


def test_scores_written_beside_the_boxes_and_read_back(scored, clip, tmp_path):
  params, config = scored
  kwargs = dict(output=tmp_path / 'o.gif', score_threshold=0.9)
  result = track_files.track_frames(tracker_lib.Re3Tracker(*scored), iter(clip.frames), BOXES,
                                    boxes_out=tmp_path / 'b.csv', **kwargs)
  again = track_files.track_frames(tracker_lib.Re3Tracker(*scored), iter(clip.frames), BOXES,
                                   boxes_out=tmp_path / 'b.json')
  want = expected_scores(params, config, clip.frames, BOXES)
  assert result.scores.shape == (N_FRAMES, 2)
  np.testing.assert_allclose(result.scores, want, atol=1e-4)
  np.testing.assert_allclose(result.scores[0], 1.0, atol=1e-5)
  assert np.ptp(result.scores) > 1e-3  # the scores do change
  # CSV: the reader, and NumPy in the one line of the docs.
  boxes, ids, scores = track_files.read_boxes_csv(tmp_path / 'b.csv', with_scores=True)
  assert ids == [0, 1]
  np.testing.assert_allclose(boxes, result.boxes, atol=1e-3)
  np.testing.assert_allclose(scores, result.scores, atol=1e-4)
  table = np.loadtxt(tmp_path / 'b.csv', delimiter=',', skiprows=1, ndmin=2)
  assert table.shape == (2 * N_FRAMES, 7)
  np.testing.assert_allclose(table[:, 6], result.scores.ravel(), atol=1e-4)
  # JSON.
  doc = json.loads((tmp_path / 'b.json').read_text())
  np.testing.assert_allclose(np.array([o['scores'] for o in doc['objects']]).T, again.scores,
                             atol=1e-4)
  # The drawn video: a box is dashed where its score is below the threshold (0.9 here).
  frames = gif_frames(tmp_path / 'o.gif')
  for t in range(N_FRAMES):
    for k, box in enumerate(result.boxes[t]):
      x1, y1, x2, y2 = box.astype(int)  # PIL truncates; the outline is 2 px wide here
      edge = frames[t][(y1 + y2) // 2:y2 - 2, x1 + 1].astype(int)  # the left edge's lower half
      ink = np.abs(edge - drawing.color(k)).max(axis=1) < 40
      assert ink.mean() < 0.8 if result.scores[t, k] < 0.9 else ink.mean() > 0.9, (t, k)
  assert (result.scores < 0.9).any() and (result.scores >= 0.9).any()


def test_boxes_files_of_a_model_without_a_score(steady, clip, tmp_path):
  result = track_files.track_frames(tracker_lib.Re3Tracker(*steady), iter(clip.frames[:3]),
                                    BOXES[:1], boxes_out=tmp_path / 'b.json')
  assert np.isnan(result.scores).all()
  assert json.loads((tmp_path / 'b.json').read_text())['objects'][0]['scores'] == [None] * 3
  # A CSV file of the versions before the score column reads, its scores NaN.
  (tmp_path / 'old.csv').write_text('frame,object_id,x1,y1,x2,y2\n0,0,1,2,3,4\n1,0,2,3,4,5\n')
  boxes, ids, scores = track_files.read_boxes_csv(tmp_path / 'old.csv', with_scores=True)
  assert boxes.shape == (2, 1, 4) and ids == [0] and np.isnan(scores).all()
  (tmp_path / 'bad.csv').write_text('frame,object_id,x1,y1,x2,y2,score\n0,0,1,2,3,4\n')
  with pytest.raises(ValueError, match='rows of 6 fields under a header of 7'):
    track_files.read_boxes_csv(tmp_path / 'bad.csv')


def test_cli_folder_to_gif_and_csv(steady, checkpoint, clip, folder, tmp_path):
  proc = run_cli(f'--tracker.checkpoint={checkpoint}', f'--input={folder}',
                 '--box=' + ','.join(map(str, BOXES[0])), '--box', ' 60, 30, 120, 90',
                 '--output=out.gif', '--boxes_out=boxes.csv', cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert f'tracked 2 object(s) through {N_FRAMES} frames' in proc.stdout
  assert f'frame {N_FRAMES}/{N_FRAMES}: tracker' in proc.stderr
  assert 'decode' in proc.stderr and 'frames/s' in proc.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ['boxes.csv', 'out.gif']
  lines = (tmp_path / 'boxes.csv').read_text().splitlines()
  assert lines[0] == 'frame,object_id,x1,y1,x2,y2,score' and len(lines) == 1 + 2 * N_FRAMES
  # The tiny model has no score: nan (its features lack the tower's last activation).
  assert lines[1:3] == ['0,0,20.000,15.000,70.000,60.000,nan',
                        '0,1,60.000,30.000,120.000,90.000,nan']
  # Natural order (img2 before img10), and the same boxes as tracking in this process.
  got, _ = track_files.read_boxes_csv(tmp_path / 'boxes.csv')
  np.testing.assert_allclose(got, expected_boxes(steady, clip.frames, BOXES), atol=2e-3)
  frames = gif_frames(tmp_path / 'out.gif')
  assert len(frames) == N_FRAMES and frames[0].shape == (96, 128, 3)
  # Object 1's box is drawn in its own colour on frame 0 (its left edge, x = 60).
  edge = frames[0][40:80, 60].astype(int)
  assert np.abs(edge - drawing.color(1)).max(axis=1).min() < 40


def test_cli_video_file_to_mp4_and_json(checkpoint, clip, tmp_path):
  src = tmp_path / 'clip.mp4'
  write_mp4(src, clip.frames)
  (tmp_path / 'out').mkdir()
  proc = run_cli(f'--tracker.checkpoint={checkpoint}', f'--input={src}', '--box=30,20,90,80',
                 '--output=out/tracked.mp4', '--boxes_out=out/boxes.json', '--output_scale=0.5',
                 '--max_frames=8', '--noprogress', cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert 'frame 8' not in proc.stderr  # --noprogress
  doc = json.loads((tmp_path / 'out/boxes.json').read_text())
  assert (doc['width'], doc['height'], doc['num_frames']) == (128, 96, 8)
  assert doc['fps'] == pytest.approx(15.0) and doc['input'] == str(src)
  assert [o['object_id'] for o in doc['objects']] == [0]
  boxes = np.asarray(doc['objects'][0]['boxes'])
  assert boxes.shape == (8, 4) and boxes[0].tolist() == [30, 20, 90, 80]
  assert np.all(boxes[:, 2:] > boxes[:, :2])
  capture = cv2.VideoCapture(str(tmp_path / 'out/tracked.mp4'))
  count = 0
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    assert frame.shape == (48, 64, 3)  # --output_scale=0.5
    count += 1
  assert count == 8 and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
  capture.release()


@pytest.mark.parametrize('args, message', [
    (['--box=1,2,3'], r"--box number 1: malformed box '1,2,3': expected 4 comma-separated "
                      'numbers x1,y1,x2,y2, got 3'),
    (['--box=10,10,50,50', '--box=a,b,c,d'], r"--box number 2: malformed box 'a,b,c,d'"),
    (['--box=500,10,600,50'], r'--box number 1 in the first frame of .*frames.*: \[500.0, 10.0, '
                              r'600.0, 50.0\] lies entirely outside the 128x96'),
    # --box_format: the flag and its value named, and the box in the user's own fields.
    (['--box_format=xywh', '--box=10,10,0,50'], r"--box number 1 \(--box_format=xywh\): box "
     r"'10,10,0,50' \(x,y,w,h\) has width 0 and height 50"),
    (['--box_format=otb', '--box=1,2,3'], r"--box number 1 \(--box_format=otb\): malformed box "
     r"'1,2,3': expected 4 comma-separated numbers x,y,w,h, got 3"),
    (['--box_format=xywh', '--box=500,10,20,20'], r"--box number 1 \(--box_format=xywh\) in the "
     r'first frame of .*, as x1,y1,x2,y2: \[500.0, 10.0, 520.0, 30.0\] lies entirely outside'),
    (['--box_format=ltwh', '--box=1,1,9,9'], r"error: flag --box_format=ltwh: value should be one "
     r'of <xyxy\|xywh\|otb>'),
    (['--box=1,1,9,9', '--output=o.avi'], r"unknown output video extension '\.avi' in o\.avi: "
                                          r'use \.mp4 or \.gif'),
    ([], r'give at least one --box'),
    # Settings: checked before the model's set-up (an mp4v frame needs sides of 2 pixels).
    (['--box=1,1,9,9', '--output=o.mp4', '--output_scale=1e-4'],
     r'error: output_scale 0.0001 makes the 128x96 frames 1x1, but \.mp4 frames must be 2 to 8191 '
     r'pixels a side: for o\.mp4 use an output_scale from 0\.0208 to 64$'),
    (['--box=1,1,9,9', '--output=o.mp4', '--output_scale=100'], r'frames 12800x9600, but'),
    (['--box=1,1,9,9', '--output_scale=0'], r'error: output_scale must be > 0, got 0$'),
    (['--box=1,1,9,9', '--output=o.gif', '--fps=0'],
     r"error: the output video's frames/s \(fps\) must be > 0, got 0$"),
    (['--box=1,1,9,9', '--boxes_out=b.csv', '--max_frames=-1'],
     r'error: --max_frames must be >= 0 \(0: every frame\), got -1$'),
    (['--box=1,1,9,9', '--output=o.gif', '--score_threshold=nan'],
     r'error: score_threshold must be a finite number .*, got nan$'),
])
def test_cli_errors_before_any_work(folder, tmp_path, args, message):
  proc = run_cli(f'--input={folder}', '--tracker.random_model=tiny', *args, cwd=tmp_path)
  assert proc.returncode == 1
  assert re.search(message, proc.stderr.strip(), re.MULTILINE), proc.stderr
  assert 'tracking with' not in proc.stderr  # the model was not set up
  assert 'Traceback' not in proc.stderr
  assert not list(tmp_path.iterdir())


def test_cli_read_only_output_folder_is_refused_before_the_model(folder, tmp_path):
  if os.geteuid() == 0:  # root writes through a folder's modes; sysfs takes no new files
    read_only = pathlib.Path('/sys')
  else:
    read_only = tmp_path / 'read_only'
    read_only.mkdir()
    read_only.chmod(0o555)
  proc = run_cli(f'--input={folder}', '--tracker.random_model=tiny', '--box=1,1,9,9',
                 f'--output={read_only}/o.gif', '--boxes_out=b.csv', cwd=tmp_path)
  assert proc.returncode == 1, proc.stderr
  assert re.search(rf'error: cannot write output video {read_only}/o\.gif: folder {read_only} is '
                   r'not writable \(.+\)$', proc.stderr.strip()), proc.stderr
  assert 'tracking with' not in proc.stderr and 'Traceback' not in proc.stderr
  assert not (tmp_path / 'b.csv').exists()


def test_cli_box_format_xywh_tracks_the_same_box(checkpoint, folder, tmp_path):
  # OpenCV's x,y,w,h (0-based) and an OTB line (1-based) start the box x1,y1,x2,y2 starts.
  outs = {}
  for fmt, box in (('xyxy', '20,15,70,60'), ('xywh', '20,15,50,45'), ('otb', '21,16,50,45')):
    proc = run_cli(f'--tracker.checkpoint={checkpoint}', f'--input={folder}', f'--box_format={fmt}',
                   f'--box={box}', '--max_frames=4', f'--boxes_out={fmt}.csv', '--noprogress',
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    outs[fmt] = (tmp_path / f'{fmt}.csv').read_text()
  assert outs['xyxy'].splitlines()[1] == '0,0,20.000,15.000,70.000,60.000,nan'
  assert outs['xywh'] == outs['xyxy'] == outs['otb']


def test_cli_model_choice(folder, tmp_path):
  # No model given: the shipped one, named on stderr.
  proc = run_cli(f'--input={folder}', '--box=20,15,70,60', '--max_frames=3', '--boxes_out=s.csv',
                 '--noprogress', cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert (f'no --tracker.checkpoint: tracking with the shipped model {shipped.PRETRAINED}'
          in proc.stderr)
  assert len((tmp_path / 's.csv').read_text().splitlines()) == 1 + 3
  proc = run_cli(f'--input={folder}', '--box=20,15,70,60', '--tracker.random_model=tiny',
                 '--max_frames=3', '--boxes_out=b.json', '--noprogress', cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert ("WARNING: tracking with RANDOM weights of model config 'tiny', seed 0 (no checkpoint)"
          in proc.stderr)
  assert json.loads((tmp_path / 'b.json').read_text())['num_frames'] == 3


def test_input_errors(steady, folder, tmp_path):
  tr = tracker_lib.Re3Tracker(*steady)
  with pytest.raises(video.VideoError, match=r'input .*nothing\.mp4 does not exist'):
    track_files.track_video_file(tr, tmp_path / 'nothing.mp4', [BOXES[0]])
  (tmp_path / 'junk.mp4').write_bytes(b'junk' * 50)
  with pytest.raises(video.VideoError, match=r'cannot read .*junk\.mp4'):
    track_files.track_video_file(tr, tmp_path / 'junk.mp4', [BOXES[0]])
  (tmp_path / 'empty').mkdir()
  with pytest.raises(video.VideoError, match=r'folder .*empty holds no images'):
    track_files.track_video_file(tr, tmp_path / 'empty', [BOXES[0]])
  with pytest.raises(ValueError, match=r'box 1 \(object 1\) in the first frame of .*frames.*'
                     r'lies entirely outside the 128x96'):
    track_files.track_video_file(tr, folder, [BOXES[0], [-50, 10, -5, 40]])
  with pytest.raises(ValueError, match='no boxes to track'):
    track_files.track_video_file(tr, folder, [])
  with pytest.raises(ValueError, match='has no frames'):
    track_files.track_frames(tr, [], [BOXES[0]])
  with pytest.raises(ValueError, match=r"unknown boxes file extension '\.txt'"):
    track_files.track_video_file(tr, folder, [BOXES[0]], boxes_out=tmp_path / 'b.txt')
  with pytest.raises(ValueError, match=r'cannot write output video .*no/o\.gif: folder .*no does '
                     'not exist'):
    track_files.track_video_file(tr, folder, [BOXES[0]], output=tmp_path / 'no' / 'o.gif')
  with pytest.raises(ValueError, match='not both'):
    tracker_lib.load_tracker('somewhere', 'tiny')
  # A frame rate of 0 is an error, not the default (mp4v needs frames of 2x2 pixels or more).
  with pytest.raises(ValueError, match=r"the output video's frames/s \(fps\) must be > 0, got 0"):
    track_files.track_video_file(tr, folder, [BOXES[0]], output=tmp_path / 'o.gif', output_fps=0)
  with pytest.raises(ValueError, match=r'output_scale 0.01 makes the 128x96 frames 1x1, but \.mp4'):
    track_files.track_video_file(tr, folder, [BOXES[0]], output=tmp_path / 'o.mp4',
                                 output_scale=0.01)
  assert track_files.output_size('o.gif', (96, 128), 0.01) == (1, 1)
  assert sorted(p.name for p in tmp_path.iterdir()) == ['empty', 'junk.mp4']


def test_failure_mid_run_leaves_no_output(steady, clip, tmp_path):
  frames_dir = tmp_path / 'frames'
  frames_dir.mkdir()
  for i, frame in enumerate(clip.frames):
    Image.fromarray(frame).save(frames_dir / f'{i:03d}.png')
  (frames_dir / '006.png').write_bytes(b'truncated')
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'old.gif').write_bytes(b'an earlier result')
  tr = tracker_lib.Re3Tracker(*steady)
  seen = []

  def interrupt_at_frame_3(p):
    if p.frame == 3:
      raise KeyboardInterrupt

  with pytest.raises(video.VideoError, match=r'frame 6: cannot read frame .*006\.png'):
    track_files.track_video_file(tr, frames_dir, [BOXES[0]], output=out / 'new.mp4',
                                 boxes_out=out / 'b.json', progress=lambda p: seen.append(p.frame))
  assert seen == [1, 2, 3, 4, 5, 6]  # it failed mid-run, after writing frames
  with pytest.raises(KeyboardInterrupt):  # Ctrl-C at frame 3
    track_files.track_video_file(tr, frames_dir, [BOXES[0]], output=out / 'old.gif',
                                 boxes_out=out / 'b.csv',
                                 progress=interrupt_at_frame_3)
  assert sorted(p.name for p in out.iterdir()) == ['old.gif']  # no partial files
  assert (out / 'old.gif').read_bytes() == b'an earlier result'
  # The same failure through the command line.
  proc = run_cli(f'--input={frames_dir}', '--tracker.random_model=tiny', '--box=20,15,70,60',
                 f'--output={out}/old.gif', f'--boxes_out={out}/b.csv', cwd=tmp_path)
  assert proc.returncode == 1 and '006.png' in proc.stderr
  assert sorted(p.name for p in out.iterdir()) == ['old.gif']
  assert (out / 'old.gif').read_bytes() == b'an earlier result'


class _FullDiskWriter:
  """cv2.VideoWriter on a full disk: it reports nothing, and its file ends up truncated."""

  def __init__(self, path, *args):
    self._path = path
    self._writer = _REAL_VIDEO_WRITER(path, *args)

  def __getattr__(self, name):
    return getattr(self._writer, name)

  def release(self):
    self._writer.release()
    with open(self._path, 'r+b') as f:
      f.truncate(48)  # the header only: no moov atom


_REAL_VIDEO_WRITER = cv2.VideoWriter


def test_a_failed_video_write_keeps_the_old_file(steady, clip, tmp_path, monkeypatch):
  (tmp_path / 'old.mp4').write_bytes(b'an earlier result')
  monkeypatch.setattr(cv2, 'VideoWriter', _FullDiskWriter)
  tr = tracker_lib.Re3Tracker(*steady)
  with pytest.raises(video.VideoError, match=rf'writing {tmp_path}/old\.mp4 failed: {N_FRAMES} '
                     r'frames were written but it does not open as a video \(48 bytes; a full '
                     r'disk\?\)'):
    track_files.track_frames(tr, iter(clip.frames), [BOXES[0]], output=tmp_path / 'old.mp4',
                             boxes_out=tmp_path / 'b.csv')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['old.mp4']  # no partial files
  assert (tmp_path / 'old.mp4').read_bytes() == b'an earlier result'
  # Frames lost on the way (the moov atom written, counting fewer frames) are caught too.
  monkeypatch.setattr(cv2, 'VideoWriter', _REAL_VIDEO_WRITER)
  monkeypatch.setattr(video.Mp4Writer, '_write',
                      lambda self, frame: None if self.count % 2 else
                      self._writer.write(frame[..., ::-1]))
  with pytest.raises(video.VideoError, match=rf'{N_FRAMES} frames were written but it holds '
                     rf'{N_FRAMES // 2} frames'):
    track_files.track_frames(tr, iter(clip.frames), [BOXES[0]], output=tmp_path / 'old.mp4')
  assert (tmp_path / 'old.mp4').read_bytes() == b'an earlier result'


@pytest.mark.parametrize('signum, status, said', [(signal.SIGTERM, 143, 'terminated (SIGTERM)'),
                                                  (signal.SIGINT, 130, 'interrupted')])
def test_cli_stopped_by_a_signal_leaves_no_output(clip, tmp_path, signum, status, said):
  src = tmp_path / 'long.mp4'
  write_mp4(src, [clip.frames[t % N_FRAMES] for t in range(300)])  # still tracking at the signal
  out = tmp_path / 'out'
  out.mkdir()
  returncode, _, stderr = cli_signals.signal_when(
      [sys.executable, '-m', 're3_jax.track', '--tracker.random_model=tiny', f'--input={src}',
       '--box=20,15,70,60', f'--output={out}/tracked.mp4', f'--boxes_out={out}/boxes.csv'],
      lambda: bool(list(out.glob('.tracked.partial-*.mp4'))),  # the video is being written
      signum, what='partial video', cwd=tmp_path, env=CLI_ENV)
  assert returncode == status, stderr[-3000:]
  assert stderr.splitlines()[-1] == f're3_jax.track: {said}' and 'Traceback' not in stderr
  assert not list(out.iterdir())  # neither partial files nor a half-written output
