"""Walking the download layouts of ImageNet VID, ALOV300++ and ImageNet DET for
the dataset builders (``re3_jax/input/builders/``): finding a dataset's root folder,
listing its videos and images, loading each one (every xml and JPEG read and checked
once) into tracks or boxes, and reading ahead in threads. Pure Python and NumPy: no
TensorFlow, no tfds.

What counts as damage (raised as `annotations.AnnotationError`, naming the
file) and what is skipped and counted (in an `annotations.SkipCounter`) is the
error/skip rule in the module docstring of `re3_jax.datasets.annotations`, which holds
the parsers used here; `re3_jax.datasets.tracks` assembles the tracks.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import os
import pathlib
import re
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from re3_jax.datasets import annotations
from re3_jax.datasets import tracks as tracks_lib

PathLike = annotations.PathLike

# DET boxes under this fraction of the image area are dropped (reference sec. 6).
MIN_DET_AREA_FRACTION = 0.01

VID_FRAME_SUFFIX = '.JPEG'
DET_IMAGE_SUFFIX = '.JPEG'
ALOV_FRAME_SUFFIX = '.jpg'


# ----------------------------------------------------------------------------
# Dataset layouts (file system).


def resolve_root(manual_dir: PathLike, names: Sequence[str], required: Sequence[str],
                 dataset: str) -> pathlib.Path:
  """Finds a dataset's root folder under (or at) `manual_dir`.

  Args:
    manual_dir: the folder the user gave.
    names: accepted names of the root folder inside `manual_dir` (e.g.
      ``['ILSVRC2015']``); empty if `manual_dir` itself is the root.
    required: sub-paths the root must contain.
    dataset: the dataset's name, for the error.

  Returns:
    The first of ``manual_dir/name`` or `manual_dir` itself that contains all of
    `required`.

  Raises:
    FileNotFoundError: naming the paths that were expected.
  """
  manual_dir = pathlib.Path(manual_dir)
  candidates = [manual_dir / name for name in names] + [manual_dir]
  for root in candidates:
    if all((root / r).is_dir() for r in required):
      return root
  expected = ' or '.join(
      '{' + ', '.join(str(root / r) for r in required) + '}' for root in candidates)
  raise FileNotFoundError(
      f'{dataset} not found under manual_dir {manual_dir}: expected the folders {expected}')


def _sorted_files(folder: pathlib.Path, suffix: str) -> list[str]:
  """The names of the files in `folder` ending in `suffix`, sorted."""
  with os.scandir(folder) as entries:
    return sorted(e.name for e in entries if e.name.endswith(suffix) and e.is_file())


def _subdirs(folder: pathlib.Path) -> list[str]:
  with os.scandir(folder) as entries:
    return sorted(e.name for e in entries if e.is_dir())


def _vid_video_folders(split_dir: pathlib.Path) -> list[str]:
  videos = []
  for name in _subdirs(split_dir):
    sub = split_dir / name
    children = _subdirs(sub)
    if children and not _sorted_files(sub, VID_FRAME_SUFFIX):
      videos.extend(f'{name}/{child}' for child in children)
    else:
      videos.append(name)
  return videos


def vid_videos(data_split_dir: PathLike, ann_split_dir: PathLike) -> list[str]:
  """The video folders of a VID split, relative to the split folder.

  Train videos sit one level deeper (``ILSVRC2015_VID_train_0000/<video>``)
  than val videos (``<video>``): a folder that holds JPEG files, or no
  sub-folders at all (an empty video), is a video.

  Raises:
    annotations.AnnotationError: for an annotation folder without its frames folder.
  """
  data_split_dir, ann_split_dir = pathlib.Path(data_split_dir), pathlib.Path(ann_split_dir)
  videos = _vid_video_folders(data_split_dir)
  known = set(videos)
  for video in _vid_video_folders(ann_split_dir):
    if video not in known and _sorted_files(ann_split_dir / video, '.xml'):
      raise annotations.AnnotationError(
          f'{data_split_dir / video}: frames folder of annotations {ann_split_dir / video} '
          'is missing')
  return videos


@dataclasses.dataclass
class Video:
  """The tracks of one video with the frame bytes they need.

  Attributes:
    name: the video folder relative to the split folder.
    height: frame height.
    width: frame width.
    tracks: the tracks (examples) of the video.
    frames: frame index -> the original JPEG bytes.
    skips: the skips counted while loading it.
  """
  name: str
  height: int
  width: int
  tracks: list[tracks_lib.Track]
  frames: dict[int, bytes]
  skips: annotations.SkipCounter


def _frame_number(name: str, path: pathlib.Path) -> int:
  stem = name.split('.', 1)[0]
  if not re.fullmatch(r'\d+', stem):
    raise annotations.AnnotationError(f'{path / name}: frame file name is not a number')
  return int(stem)


def load_vid_video(data_split_dir: PathLike, ann_split_dir: PathLike, video: str) -> Video:
  """Reads one VID video: every xml and JPEG once, checked; returns its tracks.

  Args:
    data_split_dir: ``.../Data/VID/<split>``.
    ann_split_dir: ``.../Annotations/VID/<split>``.
    video: the video folder relative to both.

  Raises:
    annotations.AnnotationError: for damage (see the rule in `re3_jax.datasets.annotations`), naming the
      file.
  """
  skips = annotations.SkipCounter()
  data_dir = pathlib.Path(data_split_dir) / video
  ann_dir = pathlib.Path(ann_split_dir) / video
  jpegs = _sorted_files(data_dir, VID_FRAME_SUFFIX)
  if not ann_dir.is_dir():
    if not jpegs:
      skips.add('empty_videos', video)
      return Video(video, 0, 0, [], {}, skips)
    raise annotations.AnnotationError(
        f'{ann_dir}: annotation folder of video {data_dir} is missing')
  xmls = _sorted_files(ann_dir, '.xml')
  stems_j = [j[:-len(VID_FRAME_SUFFIX)] for j in jpegs]
  stems_x = [x[:-len('.xml')] for x in xmls]
  if stems_j != stems_x:
    only_x = sorted(set(stems_x) - set(stems_j))
    only_j = sorted(set(stems_j) - set(stems_x))
    if only_x:
      raise annotations.AnnotationError(
          f'{ann_dir / (only_x[0] + ".xml")}: annotation without its frame '
          f'{data_dir / (only_x[0] + VID_FRAME_SUFFIX)} ({len(only_x)} such in the video)')
    raise annotations.AnnotationError(
        f'{data_dir / (only_j[0] + VID_FRAME_SUFFIX)}: frame without its annotation '
        f'{ann_dir / (only_j[0] + ".xml")} ({len(only_j)} such in the video)')
  if not jpegs:
    skips.add('empty_videos', video)
    return Video(video, 0, 0, [], {}, skips)
  index = [_frame_number(j, data_dir) for j in jpegs]
  frame_anns, frames = [], {}
  height = width = None
  for j, x, t in zip(jpegs, xmls, index):
    ann = annotations.parse_vid_xml(ann_dir / x)
    data = (data_dir / j).read_bytes()
    size = annotations.check_jpeg(data, data_dir / j)
    if size != (ann.height, ann.width):
      raise annotations.AnnotationError(
          f'{data_dir / j}: JPEG is {size[1]} x {size[0]} but {ann_dir / x} says '
          f'{ann.width} x {ann.height} (width x height)')
    if height is None:
      height, width = size
    elif size != (height, width):
      raise annotations.AnnotationError(
          f'{data_dir / j}: frame is {size[1]} x {size[0]}, the video\'s first frame '
          f'{width} x {height} (width x height)')
    frame_anns.append(ann)
    frames[t] = data
  if not any(a.objects for a in frame_anns):
    skips.add('videos_without_objects', video)
    return Video(video, height, width, [], {}, skips)
  tracks = tracks_lib.vid_tracks(frame_anns, index, skips, video)
  used = {int(t) for track in tracks for t in track.frame_index}
  return Video(video, height, width, tracks, {t: frames[t] for t in sorted(used)}, skips)


def alov_videos(frames_root: PathLike, ann_root: PathLike) -> list[str]:
  """The ALOV videos (``<category>/<video>``) found in the frames and .ann trees.

  Raises:
    annotations.AnnotationError: for a video folder without its .ann or an .ann without
      its video folder, naming the missing path.
  """
  frames_root, ann_root = pathlib.Path(frames_root), pathlib.Path(ann_root)
  videos = set()
  for category in _subdirs(frames_root):
    for video in _subdirs(frames_root / category):
      videos.add(f'{category}/{video}')
  anns = set()
  for category in _subdirs(ann_root):
    for name in _sorted_files(ann_root / category, '.ann'):
      anns.add(f'{category}/{name[:-len(".ann")]}')
  for video in sorted(videos - anns):
    raise annotations.AnnotationError(
        f'{ann_root / (video + ".ann")}: annotation of video {frames_root / video} is missing')
  for video in sorted(anns - videos):
    raise annotations.AnnotationError(
        f'{frames_root / video}: frames folder of annotation {ann_root / (video + ".ann")} '
        'is missing')
  return sorted(videos)


def load_alov_video(frames_root: PathLike, ann_root: PathLike, video: str) -> Video:
  """Reads one ALOV video (``<category>/<video>``): its .ann and the frames it covers.

  Raises:
    annotations.AnnotationError: for damage (see the rule in `re3_jax.datasets.annotations`), naming the
      file.
  """
  skips = annotations.SkipCounter()
  frames_dir = pathlib.Path(frames_root) / video
  ann_path = pathlib.Path(ann_root) / f'{video}.ann'
  names = _sorted_files(frames_dir, ALOV_FRAME_SUFFIX)
  if not names:
    skips.add('empty_videos', video)
    return Video(video, 0, 0, [], {}, skips)
  by_number = {_frame_number(n, frames_dir): n for n in names}
  numbers, boxes = annotations.parse_alov_ann(ann_path)
  for number in range(int(numbers[0]), int(numbers[-1]) + 1):
    if number not in by_number:
      last = max(by_number)
      raise annotations.AnnotationError(
          f'{ann_path}: frame {number} (annotated frames {numbers[0]}..{numbers[-1]}) is not in '
          f'{frames_dir}, which has frames up to {last} ({len(by_number)} frames)')
  frames, height, width = {}, None, None
  for number in range(int(numbers[0]), int(numbers[-1]) + 1):
    path = frames_dir / by_number[number]
    data = path.read_bytes()
    size = annotations.check_jpeg(data, path)
    if height is None:
      height, width = size
    elif size != (height, width):
      raise annotations.AnnotationError(
          f'{path}: frame is {size[1]} x {size[0]}, the video\'s first annotated frame '
          f'{width} x {height} (width x height)')
    frames[number - 1] = data
  track = tracks_lib.alov_track(numbers, boxes, height, width, video.split('/', 1)[0], skips,
                                 video)
  if track is None:
    return Video(video, height, width, [], {}, skips)
  used = {int(t) for t in track.frame_index}
  return Video(video, height, width, [track], {t: frames[t] for t in sorted(used)}, skips)


@dataclasses.dataclass
class DetImage:
  """One DET image kept for the dataset.

  Attributes:
    image_id: the path relative to the split folder, without extension.
    data: the original JPEG bytes.
    height: image height.
    width: image width.
    boxes: (N, 4) float32 xyxy boxes with area >= 1% of the image, N >= 1.
    labels: the N wnids.
  """
  image_id: str
  data: bytes
  height: int
  width: int
  boxes: np.ndarray
  labels: list[str]


def det_images(data_split_dir: PathLike) -> list[str]:
  """The image ids (relative paths without ``.JPEG``) of a DET split, sorted."""
  data_split_dir = pathlib.Path(data_split_dir)
  ids = []
  for dirpath, dirnames, filenames in os.walk(data_split_dir):
    dirnames.sort()
    rel = pathlib.Path(dirpath).relative_to(data_split_dir).as_posix()
    prefix = '' if rel == '.' else rel + '/'
    ids.extend(prefix + f[:-len(DET_IMAGE_SUFFIX)]
               for f in sorted(filenames) if f.endswith(DET_IMAGE_SUFFIX))
  return ids


def load_det_image(data_split_dir: PathLike, ann_split_dir: PathLike,
                   image_id: str) -> tuple[DetImage | None, annotations.SkipCounter]:
  """Reads one DET image and its xml; keeps boxes of at least 1% of the image.

  Returns:
    (the image or None if skipped, the skips counted).

  Raises:
    annotations.AnnotationError: for a corrupt xml or JPEG or a size mismatch, naming the file.
  """
  skips = annotations.SkipCounter()
  jpeg_path = pathlib.Path(data_split_dir) / (image_id + DET_IMAGE_SUFFIX)
  xml_path = pathlib.Path(ann_split_dir) / (image_id + '.xml')
  if not xml_path.is_file():
    skips.add('images_without_xml', image_id)
    return None, skips
  ann = annotations.parse_det_xml(xml_path)
  data = jpeg_path.read_bytes()
  size = annotations.check_jpeg(data, jpeg_path)
  if size != (ann.height, ann.width):
    raise annotations.AnnotationError(
        f'{jpeg_path}: JPEG is {size[1]} x {size[0]} but {xml_path} says '
        f'{ann.width} x {ann.height} (width x height)')
  if not ann.objects:
    skips.add('images_without_objects', image_id)
    return None, skips
  height, width = size
  clipped, valid = tracks_lib.clip_boxes(np.stack([o.box for o in ann.objects]), height, width)
  skips.add('degenerate_boxes', image_id, int(np.sum(~valid)))
  areas = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
  big = valid & (areas >= MIN_DET_AREA_FRACTION * height * width)
  skips.add('small_boxes', image_id, int(np.sum(valid & ~big)))
  if not big.any():
    skips.add('images_only_small_boxes', image_id)
    return None, skips
  labels = [o.name for o, keep in zip(ann.objects, big) if keep]
  return DetImage(image_id, data, height, width, clipped[big], labels), skips


# ----------------------------------------------------------------------------
# Reading ahead.

_T = TypeVar('_T')
_R = TypeVar('_R')


def threaded_map(fn: Callable[[_T], _R], items: Iterable[_T], *, workers: int = 8,
                 lookahead: int | None = None) -> Iterator[_R]:
  """``map(fn, items)`` in order, with up to `lookahead` calls running in threads.

  File reads release the GIL, so this overlaps the I/O of many videos while
  the caller serialises examples. Exceptions are raised in order.
  """
  if workers <= 1:
    yield from map(fn, items)
    return
  lookahead = lookahead or 2 * workers
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    try:
      for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= lookahead:
          yield pending.popleft().result()
      while pending:
        yield pending.popleft().result()
    finally:
      for future in pending:
        future.cancel()
