"""Annotation file parsers for the ImageNet VID, ALOV300++ and ImageNet DET dataset
builders (``re3_jax/input/builders/``), the JPEG header check and the error/skip rule
they all follow. Pure Python and NumPy: no TensorFlow, no tfds. Turning per-frame
annotations into tracks is in `re3_jax.datasets.tracks`; walking the download layouts
(finding and loading the videos and images) is in `re3_jax.datasets.downloads`. Both follow
the rule below.

Boxes are re3_jax's ``xyxy`` float32 pixels (see `re3_jax.core.boxes`); the values
of the files are taken as they are (VID/DET ``xmin, ymin, xmax, ymax``; ALOV the
min/max of the four corners), then clipped to the image ``[0, W] x [0, H]``.

The error/skip rule
-------------------
Damage to the download raises `AnnotationError` (a `ValueError`) whose message
names the file (and line) and what is wrong:

* corrupt XML (not parseable, no or a bad ``<size>``, non-numeric or missing
  ``<bndbox>`` values; ``nan``/``inf`` values parse and are counted as
  degenerate boxes) or a corrupt ``.ann`` line (wrong number of fields, not
  numbers, NaN or infinite, frame numbers not increasing) or an empty ``.ann``;
* a truncated or corrupt JPEG (no SOI marker, no frame header, no EOI marker
  after the scan) and a JPEG whose size differs from its xml's ``<size>``;
* VID: an annotation without its frame or a frame without its annotation, a
  video folder on one side (Data/Annotations) without its twin, frames of
  different sizes in one video;
* ALOV: a video folder without its ``.ann`` (and an ``.ann`` without its
  folder), an annotated frame number beyond the frames present (or any frame
  missing between the first and last annotated frame).

Things that occur in the genuine datasets are skipped and counted by reason in
a `SkipCounter` (the builders store the counts in the dataset's metadata):

* ``empty_videos``: a video folder without frames;
* ``videos_without_objects``: a VID video whose xmls hold no object;
* ``degenerate_boxes``: a box that is NaN/infinite or has ``x2 <= x1`` or
  ``y2 <= y1`` after clipping to the image; that frame of the track is marked
  not visible (box zeros);
* ``short_tracks``: tracks with fewer than 2 visible frames;
* ``duplicate_objects``: a second object with the same VID trackid in one frame
  (the first is kept);
* DET: ``small_boxes`` (area under 1% of the image's, dropped),
  ``images_without_objects`` (an xml with no object),
  ``images_only_small_boxes`` (no box left after dropping small ones) and
  ``images_without_xml`` (a DET image with no xml beside it: counted rather
  than raised because, unlike a VID frame, it breaks no sequence; check the
  count after a build).

JPEGs are checked from their headers only (`check_jpeg`); nothing decodes a
full image. Trailing bytes after the final EOI marker are tolerated (some
cameras append data there); a file cut anywhere after its header loses its EOI
and is caught, because entropy-coded data never contains ``FF D9``.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import pathlib
import xml.etree.ElementTree as ET

import numpy as np

PathLike = str | os.PathLike


class AnnotationError(ValueError):
  """A damaged file of a dataset download; the message names the file."""


class SkipCounter:
  """Counts skipped items by reason and keeps a few examples of where.

  Attributes:
    counts: reason -> number of skipped items.
    examples: reason -> up to `max_examples` places (file or video names).
  """

  def __init__(self, max_examples: int = 5):
    self.counts: collections.Counter[str] = collections.Counter()
    self.examples: dict[str, list[str]] = {}
    self._max_examples = max_examples

  def add(self, reason: str, where: str = '', n: int = 1) -> None:
    """Records `n` skips of `reason` at `where`."""
    if n <= 0:
      return
    self.counts[reason] += n
    places = self.examples.setdefault(reason, [])
    if where and len(places) < self._max_examples:
      places.append(where)

  def update(self, other: SkipCounter) -> None:
    """Adds the counts (and examples) of `other`."""
    for reason, n in other.counts.items():
      self.counts[reason] += n
      places = self.examples.setdefault(reason, [])
      room = self._max_examples - len(places)
      places.extend(other.examples.get(reason, [])[:max(room, 0)])

  def __getitem__(self, reason: str) -> int:
    return self.counts[reason]

  def as_dict(self) -> dict[str, int]:
    """The counts as a plain, key-sorted dict (JSON-ready)."""
    return {k: int(v) for k, v in sorted(self.counts.items())}

  def __repr__(self) -> str:
    return f'SkipCounter({self.as_dict()})'


# ----------------------------------------------------------------------------
# XML (VID and DET, PASCAL-VOC style).


@dataclasses.dataclass(frozen=True)
class VidObject:
  """One object of one VID frame (or DET image: trackid -1, flags False).

  Attributes:
    trackid: the VID track id; -1 for DET objects.
    name: the WordNet id, e.g. ``n01674464``.
    box: (4,) float32 xyxy, the xml's xmin, ymin, xmax, ymax as they are.
    occluded: VID ``<occluded>``.
    generated: VID ``<generated>`` (box interpolated by the annotation tool).
  """
  trackid: int
  name: str
  box: np.ndarray
  occluded: bool = False
  generated: bool = False


@dataclasses.dataclass(frozen=True)
class VidFrame:
  """The annotation of one VID frame or DET image.

  Attributes:
    width: ``<size><width>``.
    height: ``<size><height>``.
    objects: the ``<object>`` elements in file order.
  """
  width: int
  height: int
  objects: tuple[VidObject, ...]


def _text(element: ET.Element, tag: str, path: PathLike, what: str) -> str:
  child = element.find(tag)
  if child is None or child.text is None or not child.text.strip():
    raise AnnotationError(f'{path}: {what} has no <{tag}>')
  return child.text.strip()


def _number(element: ET.Element, tag: str, path: PathLike, what: str,
            finite: bool = True) -> float:
  text = _text(element, tag, path, what)
  try:
    value = float(text)
  except ValueError:
    raise AnnotationError(f'{path}: {what} <{tag}> is not a number: {text!r}') from None
  if finite and not math.isfinite(value):
    raise AnnotationError(f'{path}: {what} <{tag}> is not finite: {text!r}')
  return value


def _flag(element: ET.Element, tag: str, path: PathLike, what: str) -> bool:
  child = element.find(tag)
  if child is None or child.text is None or not child.text.strip():
    return False
  text = child.text.strip()
  if text not in ('0', '1'):
    raise AnnotationError(f'{path}: {what} <{tag}> must be 0 or 1, got {text!r}')
  return text == '1'


def _parse_voc(path: PathLike, data: bytes | None, with_tracks: bool) -> VidFrame:
  if data is None:
    data = pathlib.Path(path).read_bytes()
  try:
    root = ET.fromstring(data)
  except ET.ParseError as e:
    raise AnnotationError(f'{path}: corrupt XML: {e}') from None
  size = root.find('size')
  if size is None:
    raise AnnotationError(f'{path}: no <size> element')
  width = _number(size, 'width', path, '<size>')
  height = _number(size, 'height', path, '<size>')
  if width <= 0 or height <= 0 or width != int(width) or height != int(height):
    raise AnnotationError(f'{path}: bad image size {width:g} x {height:g}')
  objects = []
  for i, obj in enumerate(root.iter('object')):
    what = f'object {i}'
    name = _text(obj, 'name', path, what)
    bndbox = obj.find('bndbox')
    if bndbox is None:
      raise AnnotationError(f'{path}: {what} has no <bndbox>')
    # NaN/inf box values parse: track assembly counts them as degenerate boxes.
    box = np.array([_number(bndbox, tag, path, f'{what} <bndbox>', finite=False)
                    for tag in ('xmin', 'ymin', 'xmax', 'ymax')], np.float32)
    if with_tracks:
      text = _text(obj, 'trackid', path, what)
      try:
        trackid = int(text)
      except ValueError:
        raise AnnotationError(f'{path}: {what} <trackid> is not an integer: {text!r}') from None
      objects.append(VidObject(trackid, name, box, _flag(obj, 'occluded', path, what),
                               _flag(obj, 'generated', path, what)))
    else:
      objects.append(VidObject(-1, name, box))
  return VidFrame(int(width), int(height), tuple(objects))


def parse_vid_xml(path: PathLike, data: bytes | None = None) -> VidFrame:
  """Parses one ImageNet VID frame annotation.

  Args:
    path: the xml file (read unless `data` is given; named in errors).
    data: the file's bytes, if already read.

  Returns:
    The frame's size and objects (with trackid, occluded, generated).

  Raises:
    AnnotationError: naming the file, for corrupt XML, a missing or bad
      ``<size>``, or an object with a missing/non-numeric box value or trackid.
  """
  return _parse_voc(path, data, with_tracks=True)


def parse_det_xml(path: PathLike, data: bytes | None = None) -> VidFrame:
  """Parses one ImageNet DET image annotation (objects have trackid -1).

  Raises:
    AnnotationError: as `parse_vid_xml`.
  """
  return _parse_voc(path, data, with_tracks=False)


# ----------------------------------------------------------------------------
# ALOV .ann files.


def parse_alov_ann(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
  """Parses an ALOV300++ ``.ann`` file.

  Each non-blank line is ``frame Ax Ay Bx By Cx Cy Dx Dy``: a 1-based frame
  number and the four corners of a (rotated) rectangle. The box is the min/max
  of the corners, as they are.

  Returns:
    (frame_numbers, boxes): (N,) int64 1-based, strictly increasing frame
    numbers and (N, 4) float32 xyxy boxes.

  Raises:
    AnnotationError: naming ``file:line`` for a line that has not 9 fields, is
      not numbers, has a NaN/infinite value, a frame number below 1 or not
      above the previous one; naming the file if it has no lines.
  """
  frames, boxes = [], []
  text = pathlib.Path(path).read_text(errors='replace')
  for lineno, line in enumerate(text.splitlines(), 1):
    fields = line.split()
    if not fields:
      continue
    where = f'{path}:{lineno}'
    if len(fields) != 9:
      raise AnnotationError(
          f'{where}: expected 9 fields (frame Ax Ay Bx By Cx Cy Dx Dy), '
          f'got {len(fields)}: {line!r}')
    try:
      values = [float(f) for f in fields]
    except ValueError:
      raise AnnotationError(f'{where}: not numbers: {line!r}') from None
    if not all(math.isfinite(v) for v in values):
      raise AnnotationError(f'{where}: NaN or infinite value: {line!r}')
    frame = values[0]
    if frame != int(frame) or frame < 1:
      raise AnnotationError(f'{where}: frame number {fields[0]!r} is not an integer >= 1')
    if frames and frame <= frames[-1]:
      raise AnnotationError(
          f'{where}: frame number {int(frame)} does not follow {frames[-1]} (must increase)')
    xs, ys = values[1::2], values[2::2]
    frames.append(int(frame))
    boxes.append([min(xs), min(ys), max(xs), max(ys)])
  if not frames:
    raise AnnotationError(f'{path}: empty annotation file')
  return np.asarray(frames, np.int64), np.asarray(boxes, np.float32)


# ----------------------------------------------------------------------------
# JPEG headers.

# Start-of-frame markers (baseline, extended, progressive, lossless, ...);
# not DHT (C4), JPG (C8) or DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def check_jpeg(data: bytes, path: PathLike) -> tuple[int, int]:
  """Checks a JPEG's markers and returns its (height, width) from the header.

  Walks the marker segments from SOI up to the first SOS (start of scan),
  reading the size from the SOF segment, then requires an EOI marker
  (``FF D9``) after that scan. Bytes after the final EOI are tolerated. Does not
  decode the image.

  Raises:
    AnnotationError: naming `path`, if the data does not start with SOI, a
      segment runs past the end (truncated header), there is no SOF before the
      scan, the size is zero, or there is no EOI after the scan (truncated).
  """
  n = len(data)
  if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
    raise AnnotationError(f'{path}: not a JPEG (no SOI marker FF D8 at the start)')
  pos, size = 2, None
  while True:
    if pos >= n:
      raise AnnotationError(f'{path}: truncated JPEG (header ends before the image data)')
    if data[pos] != 0xFF:
      raise AnnotationError(f'{path}: corrupt JPEG (no marker at byte {pos})')
    while pos < n and data[pos] == 0xFF:  # Fill bytes.
      pos += 1
    if pos >= n:
      raise AnnotationError(f'{path}: truncated JPEG (header ends before the image data)')
    marker = data[pos]
    pos += 1
    if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # Stand-alone markers.
      continue
    if marker == 0xD9:
      raise AnnotationError(f'{path}: corrupt JPEG (EOI before any image data)')
    if pos + 2 > n:
      raise AnnotationError(f'{path}: truncated JPEG (in marker FF {marker:02X})')
    length = (data[pos] << 8) | data[pos + 1]
    if length < 2 or pos + length > n:
      raise AnnotationError(f'{path}: truncated or corrupt JPEG (segment FF {marker:02X} '
                            f'of length {length} at byte {pos - 2})')
    if marker in _SOF_MARKERS and size is None:
      if length < 8:
        raise AnnotationError(f'{path}: corrupt JPEG (short frame header)')
      height = (data[pos + 3] << 8) | data[pos + 4]
      width = (data[pos + 5] << 8) | data[pos + 6]
      size = (height, width)
    pos += length
    if marker == 0xDA:  # Start of scan: the entropy-coded data follows.
      break
  if size is None:
    raise AnnotationError(f'{path}: corrupt JPEG (no frame header before the image data)')
  if size[0] == 0 or size[1] == 0:
    raise AnnotationError(f'{path}: JPEG with zero size {size[1]} x {size[0]} (width x height)')
  if data.rfind(b'\xff\xd9', pos) < 0:
    raise AnnotationError(f'{path}: truncated JPEG (no EOI marker FF D9 after the image data)')
  return size
