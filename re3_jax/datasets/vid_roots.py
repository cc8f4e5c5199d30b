"""ImageNet VID validation as sequences: the ``vid`` layout of `layouts.LAYOUTS`.

The raw layout ``ILSVRC2015/Data/VID/val/<video>/000000.JPEG`` with
``ILSVRC2015/Annotations/VID/val/<video>/000000.xml``; one sequence per track
(``<video>/<trackid>``), from the object's first to its last visible frame, NaN truth where
it is not visible (the track rules of `re3_jax.datasets.tracks.vid_tracks`, which is why this
reader sits beside the training input's). got10k's `ImageNetVID` class is not used: it scans
the whole split into a cache file before the first sequence.
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np

from re3_jax.datasets import annotations
from re3_jax.datasets import downloads
from re3_jax.datasets import tracks as tracks_lib
from re3_jax.datasets import dataset_roots
from re3_jax.datasets import sequences
from re3_jax.datasets import toolkit_roots

SequenceError = sequences.SequenceError
VID_FRAME_SUFFIX = downloads.VID_FRAME_SUFFIX


def _vid_video_sequences(data_dir: pathlib.Path, ann_dir: pathlib.Path,
                         video: str) -> list[sequences.SequenceFiles]:
  """The tracks of one VID video as sequences (reads its xmls, not its frames)."""
  frames_dir, xml_dir = data_dir / video, ann_dir / video
  jpegs = sorted(p for p in frames_dir.glob('*' + VID_FRAME_SUFFIX))
  if not jpegs:
    return []
  if not xml_dir.is_dir():
    raise SequenceError(f'sequence {video}: annotation folder {xml_dir} is missing')
  xmls = {p.stem: p for p in xml_dir.glob('*.xml')}
  for j in jpegs:
    if j.stem not in xmls:
      raise SequenceError(f'sequence {video}: frame {j} has no annotation '
                          f'{xml_dir / (j.stem + ".xml")}')
  extra = sorted(set(xmls) - {j.stem for j in jpegs})
  if extra:
    raise SequenceError(f'sequence {video}: annotation {xmls[extra[0]]} has no frame '
                        f'{frames_dir / (extra[0] + VID_FRAME_SUFFIX)}')
  jpegs = sequences.select_frames(video, jpegs)
  index = [sequences.frame_number(j) for j in jpegs]
  try:
    frames = [annotations.parse_vid_xml(xmls[j.stem]) for j in jpegs]
  except annotations.AnnotationError as e:
    raise SequenceError(f'sequence {video}: {e}') from e
  by_index = dict(zip(index, jpegs))
  out = []
  for track in tracks_lib.vid_tracks(frames, index, annotations.SkipCounter(), video):
    boxes = np.where(track.visible[:, None], track.boxes, np.nan).astype(np.float32)
    paths = tuple(by_index[int(t)] for t in track.frame_index)
    out.append(sequences.SequenceFiles(f'{video}/{track.track_id}', paths, boxes,
                                       xmls[jpegs[0].stem].parent))
  return out


def vid(root: str | pathlib.Path, videos: Sequence[str] | None = None,
        workers: int = 8) -> dataset_roots.Dataset:
  """ImageNet VID validation tracks (see the module docstring).

  Args:
    root: the folder holding ``ILSVRC2015/`` (or ``ILSVRC2015`` itself).
    videos: read only these videos (names or ``video/trackid`` names select
      their video); default all. Only the selected videos' xmls are parsed.
    workers: threads reading xmls.
  """
  root = pathlib.Path(root)
  toolkit_roots.check_root(root, 'ImageNet VID')
  base = downloads.resolve_root(root, ['ILSVRC2015'], ['Data/VID/val', 'Annotations/VID/val'],
                              'ImageNet VID')
  data_dir, ann_dir = base / 'Data/VID/val', base / 'Annotations/VID/val'
  names = downloads.vid_videos(data_dir, ann_dir)
  if videos is not None:
    wanted = {v.split('/')[0] for v in videos}
    names = [n for n in names if n in wanted]
  per_video = downloads.threaded_map(lambda v: _vid_video_sequences(data_dir, ann_dir, v), names,
                                   workers=workers)
  return dataset_roots.Dataset('vid', root, dataset_roots.unique(
      [s for seqs in per_video for s in seqs], root))
