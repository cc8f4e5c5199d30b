"""Tiny fake ImageNet VID, ALOV300++ and ImageNet DET downloads and OTB-layout sequence folders,
in the real layouts (the other benchmarks' roots: `fake_benchmarks`).

Each writer fills a folder exactly as the real download is laid out (reference
section 9) with real JPEG frames and real-format annotations, and returns the
folder to pass to the dataset builders as ``manual_dir``. The frames show
something a tracker can learn from: a smooth random background that pans
slowly, with each object a textured rectangle drawn at its box, moving and
changing size smoothly (drawn with `re3_jax.media.synthetic_clips`). Everything is
deterministic for a seed.

Used by the builder tests and by the input-pipeline benchmark (which writes a
VID-like fake at 1280x720), so this module does not import pytest.
"""

from __future__ import annotations

import os
import pathlib

import cv2
import numpy as np

from re3_jax.core import noise
from re3_jax.datasets import sequences
from re3_jax.media import synthetic_clips

PathLike = str | os.PathLike

# A few real VID / DET WordNet ids (lizard, dog, domestic cat, car, airplane).
VID_WNIDS = ('n01674464', 'n02084071', 'n02121808', 'n02958343', 'n02691156')
DET_WNID = 'n01440764'  # tench: the first DET/CLS training folder.
ALOV_CATEGORIES = ('01-Light', '02-SurfaceCover', '03-Specularity', '04-Transparency')


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
  """A smooth random background: coarse, muted colours plus finer detail.

  Returns:
    float32 (height, width, 3) in [0, 255].
  """
  base = np.clip(noise.smooth_noise(rng, (height, width, 3), 6) * 255, 0, 255)
  base = 0.6 * base + 0.4 * base.mean(axis=-1, keepdims=True)  # less saturated than objects
  detail = np.clip(noise.smooth_noise(rng, (height, width, 3), 24) * 255, 0, 255) - 127.5
  return np.clip(base * 0.8 + detail * 0.25, 0, 255)


def _texture(rng: np.random.Generator, size: int = 48) -> np.ndarray:
  """A distinctive object texture: a colour, stripes, blotches and a dark border.

  Returns:
    uint8 (size, size, 3).
  """
  colour = rng.uniform(30, 225, 3).astype(np.float32)
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  angle, period = rng.uniform(0, np.pi), rng.uniform(6, 14)
  stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
  blotches = np.clip(noise.smooth_noise(rng, (size, size, 3), 4) * 255, 0, 255) - 127.5
  tex = colour + 45 * stripes[..., None] + 0.35 * blotches
  # A dark border makes the box's extent visible.
  tex[:2], tex[-2:], tex[:, :2], tex[:, -2:] = 20, 20, 20, 20
  return np.clip(tex, 0, 255).astype(np.uint8)


def _reflect(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
  """Folds x into [lo, hi] (bouncing off the ends)."""
  span = np.maximum(hi - lo, 1e-6)
  y = np.mod(x - lo, 2 * span)
  return lo + np.where(y > span, 2 * span - y, y)


def _trajectories(rng: np.random.Generator, n_objects: int, frames: int, height: int,
                  width: int, min_side: int = 4) -> np.ndarray:
  """(n_objects, frames, 4) int xyxy boxes moving smoothly inside the image."""
  t = np.arange(frames, dtype=np.float64)
  out = np.zeros((n_objects, frames, 4), np.int64)
  for i in range(n_objects):
    base = rng.uniform(0.2, 0.4, 2) * (width, height)
    scale = 1 + 0.15 * np.sin(t[:, None] * rng.uniform(0.05, 0.2) + rng.uniform(0, 6.3))
    size = np.maximum(base * scale, min_side)  # (frames, 2)
    start = rng.uniform(0, 1, 2) * (width, height)
    velocity = rng.uniform(-0.02, 0.02, 2) * (width, height)
    wobble = rng.uniform(0, 0.03, 2) * (width, height)
    centre = start + velocity * t[:, None] + wobble * np.sin(t[:, None] * 0.3 + rng.uniform(0, 6.3))
    lo, hi = size / 2, np.array([width, height]) - size / 2
    centre = _reflect(centre, lo, hi)
    x1y1 = np.round(centre - size / 2)
    x2y2 = np.round(centre + size / 2)
    x1y1 = np.clip(x1y1, 0, [width - min_side, height - min_side])
    x2y2 = np.clip(np.maximum(x2y2, x1y1 + min_side), 0, [width, height])
    out[i] = np.concatenate([x1y1, x2y2], axis=-1).astype(np.int64)
  return out


class _Renderer:
  """Draws frames: a panning background with textured boxes on top (`synthetic_clips.draw_boxes`)."""

  def __init__(self, rng: np.random.Generator, height: int, width: int, n_objects: int):
    self.height, self.width = height, width
    self.margin = max(4, min(height, width) // 16)
    self.background = _background(rng, height + 2 * self.margin, width + 2 * self.margin)
    self.textures = [_texture(rng) for _ in range(n_objects)]
    self.pan_phase = rng.uniform(0, 6.3, 2)

  def frame(self, t: int, boxes: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) frame `t` with object k drawn at int xyxy `boxes[k]`."""
    m = self.margin
    dx, dy = np.round(m * np.sin(0.05 * t + self.pan_phase)).astype(int) + m
    image = self.background[dy:dy + self.height, dx:dx + self.width].astype(np.uint8)
    synthetic_clips.draw_boxes(image, self.textures, boxes)
    return image


def _write_jpeg(path: pathlib.Path, image: np.ndarray, quality: int) -> None:
  ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise RuntimeError(f'could not encode {path}')
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(data.tobytes())


def _voc_object(name: str, box, extra_before: str = '', extra_after: str = '') -> str:
  x1, y1, x2, y2 = box
  return (f'\t<object>\n{extra_before}\t\t<name>{name}</name>\n'
          f'\t\t<bndbox>\n\t\t\t<xmax>{x2}</xmax>\n\t\t\t<xmin>{x1}</xmin>\n'
          f'\t\t\t<ymax>{y2}</ymax>\n\t\t\t<ymin>{y1}</ymin>\n\t\t</bndbox>\n'
          f'{extra_after}\t</object>\n')


def _voc_xml(folder: str, filename: str, database: str, height: int, width: int,
             objects: list[str]) -> str:
  return (f'<annotation>\n\t<folder>{folder}</folder>\n\t<filename>{filename}</filename>\n'
          f'\t<source>\n\t\t<database>{database}</database>\n\t</source>\n'
          f'\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t</size>\n'
          + ''.join(objects) + '</annotation>\n')


def _intersects(a, b) -> bool:
  return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def write_vid(root: PathLike, *, split: str = 'train', videos: int = 2, frames: int = 6,
              size: tuple[int, int] = (72, 96), tracks_per_video: int = 2, seed: int = 0,
              quality: int = 90) -> pathlib.Path:
  """Writes a fake ImageNet VID (ILSVRC2015) split under `root`.

  Layout (``N`` = video number from 0)::

    root/ILSVRC2015/Data/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_0000000N/000000.JPEG
    root/ILSVRC2015/Annotations/VID/train/ILSVRC2015_VID_train_0000/
        ILSVRC2015_train_0000000N/000000.xml
    root/ILSVRC2015/Data/VID/val/ILSVRC2015_val_0000000N/000000.JPEG  (and Annotations/...)

  Every object (trackid 0..tracks_per_video-1, wnid ``VID_WNIDS[k % 5]``) is
  inside the image and present in every frame; its xml box is the integer
  pixel box it is drawn at. ``<occluded>`` is 1 where a later-drawn object
  overlaps it; ``<generated>`` is 1 on random frames (about 30%).

  Args:
    root: the folder to write into (the builders' manual_dir).
    split: ``'train'`` or ``'val'``.
    videos: number of videos.
    frames: frames per video.
    size: (height, width) of the frames.
    tracks_per_video: objects per video.
    seed: random seed (videos use seed, seed + 1, ...).
    quality: JPEG quality.

  Returns:
    `root` as a Path.
  """
  if split not in ('train', 'val'):
    raise ValueError(f"split must be 'train' or 'val', got {split!r}")
  root = pathlib.Path(root)
  height, width = size
  for v in range(videos):
    rng = np.random.default_rng([seed, v, 1])
    if split == 'train':
      rel = f'ILSVRC2015_VID_train_0000/ILSVRC2015_train_{v:08d}'
    else:
      rel = f'ILSVRC2015_val_{v:08d}'
    data_dir = root / 'ILSVRC2015/Data/VID' / split / rel
    ann_dir = root / 'ILSVRC2015/Annotations/VID' / split / rel
    ann_dir.mkdir(parents=True, exist_ok=True)
    renderer = _Renderer(rng, height, width, tracks_per_video)
    boxes = _trajectories(rng, tracks_per_video, frames, height, width)
    generated = rng.uniform(size=(tracks_per_video, frames)) < 0.3
    for t in range(frames):
      _write_jpeg(data_dir / f'{t:06d}.JPEG', renderer.frame(t, boxes[:, t]), quality)
      objects = []
      for k in range(tracks_per_video):
        occluded = any(_intersects(boxes[k, t], boxes[j, t])
                       for j in range(k + 1, tracks_per_video))
        objects.append(_voc_object(
            VID_WNIDS[k % len(VID_WNIDS)], boxes[k, t].tolist(),
            extra_before=f'\t\t<trackid>{k}</trackid>\n',
            extra_after=(f'\t\t<occluded>{int(occluded)}</occluded>\n'
                         f'\t\t<generated>{int(generated[k, t])}</generated>\n')))
      (ann_dir / f'{t:06d}.xml').write_text(
          _voc_xml(rel, f'{t:06d}', 'ILSVRC_2015', height, width, objects))
  return root


def alov_annotated_frames(frames: int, every: int = 5) -> list[int]:
  """The 1-based frame numbers `write_alov` annotates: 1, 1 + every, ..., and the last."""
  numbers = list(range(1, frames + 1, every))
  if numbers[-1] != frames:
    numbers.append(frames)
  return numbers


def write_alov(root: PathLike, *, videos: int = 2, frames: int = 11,
               size: tuple[int, int] = (72, 96), seed: int = 0,
               quality: int = 90) -> pathlib.Path:
  """Writes a fake ALOV300++ under `root`.

  Layout (video ``i`` goes to category ``ALOV_CATEGORIES[i % 4]``, numbered
  from 1 within it)::

    root/imagedata++/01-Light/01-Light_video00001/00000001.jpg ...
    root/alov300++_rectangleAnnotation_full/01-Light/01-Light_video00001.ann

  The ``.ann`` annotates frames `alov_annotated_frames(frames)` with lines
  ``frame Ax Ay Bx By Cx Cy Dx Dy``: the corners of a slightly rotated
  rectangle whose min/max is the box the object is drawn at.

  Returns:
    `root` as a Path.
  """
  root = pathlib.Path(root)
  height, width = size
  per_category: dict[str, int] = {}
  for v in range(videos):
    rng = np.random.default_rng([seed, v, 2])
    category = ALOV_CATEGORIES[v % len(ALOV_CATEGORIES)]
    per_category[category] = per_category.get(category, 0) + 1
    name = f'{category}_video{per_category[category]:05d}'
    frames_dir = root / 'imagedata++' / category / name
    ann_path = root / 'alov300++_rectangleAnnotation_full' / category / f'{name}.ann'
    renderer = _Renderer(rng, height, width, 1)
    boxes = _trajectories(rng, 1, frames, height, width, min_side=6)[0]
    for t in range(frames):
      _write_jpeg(frames_dir / f'{t + 1:08d}.jpg', renderer.frame(t, boxes[t:t + 1]), quality)
    lines = []
    for number in alov_annotated_frames(frames):
      x1, y1, x2, y2 = boxes[number - 1].astype(float)
      a = round(rng.uniform(0, 0.2) * (x2 - x1), 2)
      b = round(rng.uniform(0, 0.2) * (y2 - y1), 2)
      corners = [x1 + a, y1, x2, y1 + b, x2 - a, y2, x1, y2 - b]
      lines.append(f'{number} ' + ' '.join(f'{c:.2f}' for c in corners))
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    ann_path.write_text('\n'.join(lines) + '\n')
  return root


def write_det(root: PathLike, *, split: str = 'train', images: int = 4,
              size: tuple[int, int] = (72, 96), seed: int = 0,
              quality: int = 90) -> pathlib.Path:
  """Writes a fake ImageNet DET split under `root` (the Kaggle ``ILSVRC/`` layout).

  Layout::

    root/ILSVRC/Data/DET/train/ILSVRC2013_train/n01440764/n01440764_0000N.JPEG
    root/ILSVRC/Annotations/DET/train/ILSVRC2013_train/n01440764/n01440764_0000N.xml
    root/ILSVRC/Data/DET/val/ILSVRC2012_val_0000000N.JPEG  (and Annotations/...)

  Each image has 2 or 3 objects of about 3% of the image area or more (the first
  labelled with the folder's wnid in train) and, last in its xml, one box of
  under 1% of the image area (also drawn).

  Returns:
    `root` as a Path.
  """
  if split not in ('train', 'val'):
    raise ValueError(f"split must be 'train' or 'val', got {split!r}")
  root = pathlib.Path(root)
  height, width = size
  for i in range(images):
    rng = np.random.default_rng([seed, i, 3])
    if split == 'train':
      folder = f'ILSVRC2013_train/{DET_WNID}'
      stem = f'{DET_WNID}_{i + 1:05d}'
    else:
      folder, stem = '', f'ILSVRC2012_val_{i + 1:08d}'
    rel = f'{folder}/{stem}' if folder else stem
    n_big = int(rng.integers(2, 4))
    boxes = _trajectories(rng, n_big, 1, height, width)[:, 0].tolist()
    # The small box: about 0.5% of the image area.
    side_w = max(1, int(width * 0.07))
    side_h = max(1, int(height * 0.07))
    sx, sy = int(rng.integers(0, width - side_w)), int(rng.integers(0, height - side_h))
    boxes.append([sx, sy, sx + side_w, sy + side_h])
    renderer = _Renderer(rng, height, width, len(boxes))
    _write_jpeg(root / 'ILSVRC/Data/DET' / split / f'{rel}.JPEG',
                renderer.frame(0, np.asarray(boxes)), quality)
    names = [DET_WNID if (split == 'train' and k == 0)
             else VID_WNIDS[int(rng.integers(len(VID_WNIDS)))] for k in range(len(boxes))]
    extra = ('\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n'
             '\t\t<difficult>0</difficult>\n')
    objects = [_voc_object(name, box, extra_after=extra) for name, box in zip(names, boxes)]
    xml_path = root / 'ILSVRC/Annotations/DET' / split / f'{rel}.xml'
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    xml_path.write_text(_voc_xml(folder.rsplit('/', 1)[-1] if folder else 'val', stem,
                                 'ILSVRC_2013' if split == 'train' else 'ILSVRC_2012',
                                 height, width, objects))
  return root


def write_otb_sequence(root: PathLike, name: str, rows, size: tuple[int, int] = (48, 64),
                       lines: list[str] | None = None, seed: int = 0) -> pathlib.Path:
  """An OTB sequence folder: noise frames with a red box where ``rows`` say.

  Args:
    root: the dataset root; the sequence is ``root/name`` (``img/0001.jpg ...``
      and ``groundtruth_rect.txt``).
    rows: (T, 4) ``x, y, w, h`` boxes, 1-based pixels as OTB writes them;
      non-finite rows are written as ``NaN`` (out of view) and drawn nowhere.
    size: (height, width) of the frames.
    lines: the ground-truth file's text lines (default: one per row).
    seed: seeds the noise.

  Returns:
    The sequence folder.
  """
  folder = pathlib.Path(root) / name
  write_box_frames(folder / 'img', rows, size, seed)
  if lines is None:
    lines = xywh_lines(rows)
  (folder / sequences.OTB_GROUNDTRUTH).write_text('\n'.join(lines) + '\n')
  return folder


def xywh_lines(rows) -> list[str]:
  """``x,y,w,h`` text lines of (T, 4) rows; non-finite values as ``NaN``."""
  return [','.join('NaN' if np.isnan(v) else repr(float(v)) for v in row) for row in rows]


def write_box_frames(folder: PathLike, rows, size: tuple[int, int] = (48, 64), seed: int = 0,
                     digits: int = 4, first: int = 1) -> pathlib.Path:
  """Noise JPEG frames ``first, first + 1, ...`` (``digits`` wide) with a red box at each row.

  Args:
    folder: where the frames go (made if missing).
    rows: (T, 4) ``x, y, w, h`` boxes, 1-based pixels; non-finite or empty
      rows are drawn nowhere.
    size: (height, width) of the frames.
    seed: seeds the noise.
    digits, first: the file names' number width and first number.
  """
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  for t, row in enumerate(rows):
    frame = rng.integers(60, 190, tuple(size) + (3,), dtype=np.uint8)
    if np.isfinite(row).all() and row[2] > 0 and row[3] > 0:
      x, y, w, h = (int(round(v)) for v in row)
      frame[max(y - 1, 0):max(y - 1 + h, 0), max(x - 1, 0):max(x - 1 + w, 0)] = (0, 0, 230)  # BGR
    cv2.imwrite(str(folder / f'{t + first:0{digits}d}.jpg'), frame)
  return folder
