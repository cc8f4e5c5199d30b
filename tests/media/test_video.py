"""Tests of frame sources, video writers and atomic outputs (re3_jax.media.video)."""

import cv2
import numpy as np
from PIL import Image
import pytest

from re3_jax.core import images as images_lib
from re3_jax.media import video

H, W = 48, 64


def solid(rgb, h=H, w=W):
  return np.broadcast_to(np.asarray(rgb, np.uint8), (h, w, 3)).copy()


def write_mp4(path, frames, fps=10.0):
  """Writes RGB frames with OpenCV's mp4v encoder (the one `video.Mp4Writer` uses)."""
  out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                        (frames[0].shape[1], frames[0].shape[0]))
  assert out.isOpened(), 'this OpenCV build cannot encode mp4v'
  for f in frames:
    out.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
  out.release()
  return path


def read_mp4(path):
  capture = cv2.VideoCapture(str(path))
  frames = []
  while True:
    ok, bgr = capture.read()
    if not ok:
      break
    frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
  capture.release()
  return frames


def test_natural_order_and_suffixes(tmp_path):
  for name in ['f10.png', 'f2.jpg', 'f1.JPEG', 'F3.bmp', 'f9.png', 'notes.txt', 'f4.gif']:
    Image.fromarray(solid((1, 2, 3))).save(tmp_path / name, format='PNG')
  (tmp_path / 'sub.png').mkdir()
  assert [p.name for p in video.image_files(tmp_path)] == [
      'f1.JPEG', 'f2.jpg', 'F3.bmp', 'f9.png', 'f10.png']
  assert sorted(['a10b2', 'a2b10', 'a2b3', 'a10'], key=images_lib.natural_key) == [
      'a2b3', 'a2b10', 'a10', 'a10b2']


def test_folder_source_streams_rgb_frames(tmp_path):
  colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
  for i, c in enumerate(colors):
    Image.fromarray(solid(c)).save(tmp_path / f'{i + 1}.png')
  with video.open_frames(tmp_path) as source:
    assert (source.height, source.width, source.num_frames, source.fps) == (H, W, 3, None)
    frames = list(source)
  assert [tuple(f[0, 0]) for f in frames] == colors
  assert all(f.dtype == np.uint8 and f.shape == (H, W, 3) for f in frames)


def test_folder_errors_are_named(tmp_path):
  with pytest.raises(video.VideoError, match=r'input .*missing does not exist'):
    video.open_frames(tmp_path / 'missing')
  (tmp_path / 'readme.txt').write_text('no images here')
  with pytest.raises(video.VideoError, match=r'folder .* holds no images \(\.jpg, \.jpeg'):
    video.open_frames(tmp_path)
  Image.fromarray(solid((9, 9, 9))).save(tmp_path / '1.png')
  Image.fromarray(solid((9, 9, 9), h=20)).save(tmp_path / '2.png')
  (tmp_path / '3.png').write_bytes(b'not a png')
  source = video.open_frames(tmp_path)
  frames = iter(source)
  next(frames)
  with pytest.raises(video.VideoError, match=r'frame 1 .*2\.png is 64x20 but frame 0 1\.png is '
                     r'64x48'):
    next(frames)
  (tmp_path / '2.png').unlink()
  with pytest.raises(video.VideoError, match=r'frame 1: cannot read frame .*3\.png'):
    list(video.open_frames(tmp_path))
  (tmp_path / '1.png').write_bytes(b'')
  with pytest.raises(video.VideoError, match=r'frame 0: cannot read frame .*1\.png'):
    video.open_frames(tmp_path)


def test_video_file_source_converts_bgr_to_rgb(tmp_path):
  colors = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 200, 20)]
  path = write_mp4(tmp_path / 'clip.mp4', [solid(c) for c in colors], fps=12.0)
  with video.open_frames(path) as source:
    assert (source.height, source.width) == (H, W)
    assert source.fps == pytest.approx(12.0)
    assert source.num_frames == 4
    frames = list(source)
  assert len(frames) == 4
  for f, c in zip(frames, colors):
    np.testing.assert_allclose(f.reshape(-1, 3).mean(0), c, atol=12)


def test_unreadable_video_files(tmp_path):
  (tmp_path / 'broken.mp4').write_bytes(b'\x00' * 100)
  with pytest.raises(video.VideoError, match=r'cannot read .*broken\.mp4: OpenCV cannot open it'):
    video.open_frames(tmp_path / 'broken.mp4')
  with pytest.raises(video.VideoError, match=r'input .*nothing\.mp4 does not exist'):
    video.open_frames(tmp_path / 'nothing.mp4')


@pytest.mark.parametrize('suffix', ['.gif', '.mp4'])
def test_writers_round_trip(tmp_path, suffix):
  frames = [solid(c) for c in [(200, 30, 30), (30, 200, 30), (30, 30, 200), (30, 30, 200),
                               (240, 240, 240)]]
  path = tmp_path / f'out{suffix}'
  with video.open_video_writer(path, 10.0, (H, W)) as writer:
    for f in frames:
      writer.write(f)
  if suffix == '.gif':
    with Image.open(path) as im:
      assert im.n_frames == 5 and im.size == (W, H)
      assert im.info['duration'] == 100 and im.info['loop'] == 0
      got = []
      for k in range(im.n_frames):
        im.seek(k)
        got.append(np.asarray(im.convert('RGB')))
  else:
    got = read_mp4(path)
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    capture.release()
  assert len(got) == 5
  for f, g in zip(frames, got):
    assert g.shape == (H, W, 3)
    np.testing.assert_allclose(g.reshape(-1, 3).mean(0), f[0, 0], atol=12)


def test_writer_errors(tmp_path):
  with pytest.raises(video.VideoError, match=r"unknown video extension '\.avi' in .*out\.avi: "
                     r'use \.mp4 or \.gif'):
    video.open_video_writer(tmp_path / 'out.avi', 10, (H, W))
  with pytest.raises(video.VideoError, match=r"extension '\(none\)'"):
    video.check_output_suffix(tmp_path / 'out', video.VIDEO_OUTPUTS, 'video')
  with video.open_video_writer(tmp_path / 'o.gif', 10, (H, W)) as writer:
    with pytest.raises(video.VideoError, match=r'frame 0 is uint8 \(10, 10, 3\), expected uint8 '
                       r'\(48, 64, 3\)'):
      writer.write(solid((1, 1, 1), h=10, w=10))
  with pytest.raises(video.VideoError, match='frames per second must be > 0'):
    video.open_video_writer(tmp_path / 'o.mp4', 0, (H, W))
  # mp4v cannot encode a 1-pixel side (OpenCV's writer fails to open: no encoder to blame).
  with pytest.raises(video.VideoError, match=r'o\.mp4: its frames would be 1x1 \(width x height\), '
                     r'but \.mp4 frames must be 2 to 8191 pixels a side'):
    video.open_video_writer(tmp_path / 'o.mp4', 10, (1, 1))
  with pytest.raises(video.VideoError, match=r'its frames would be 8192x2 '):
    video.open_video_writer(tmp_path / 'o.mp4', 10, (2, 8192))
  for side in video.FRAME_SIDES['.mp4']:  # the limits are the encoder's
    with video.open_video_writer(tmp_path / f'{side}.mp4', 10, (2, side)) as writer:
      writer.write(np.zeros((2, side, 3), np.uint8))
    assert len(read_mp4(tmp_path / f'{side}.mp4')) == 1
  assert not (tmp_path / 'o.mp4').exists()
  # The GIF delay is in 10 ms units and at least 20 ms.
  assert video.GifWriter(tmp_path / 'a.gif', 30, (H, W)).delay_ms == 30
  assert video.GifWriter(tmp_path / 'b.gif', 100, (H, W)).delay_ms == 20
