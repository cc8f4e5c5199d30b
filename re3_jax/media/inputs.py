"""What an input names (``python -m re3_jax.track --input=...``): one video, many, or a live
source.

`resolve` reads, in this order:

* a non-negative integer or a URL (``rtsp://...``): a live source (`live.parse_live`);
* an existing folder that holds images: one input, its frames (`video.open_frames`);
* an existing folder that holds no images but videos (`VIDEO_SUFFIXES`, any case): many
  inputs, its videos in natural order (other files in it are not read);
* an existing file: one input;
* a glob pattern (``clips/*.mp4``, ``runs/**/*.avi``) that is not an existing path: many
  inputs, every match (a video file or a folder of images) in natural order.

Each of many inputs has a name (`input_name`: a file's name without its extension, a folder's
name), which names its outputs; two inputs of one name are an error naming both.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pathlib

from re3_jax.core import images as images_lib
from re3_jax.media import live
from re3_jax.media import video

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv',
                  '.flv', '.ts')
# What an input can be, for messages.
KINDS = ('a video file, a folder of images or of videos, a glob, a camera index or a URL')


@dataclasses.dataclass(frozen=True)
class Input:
  """A resolved input.

  Attributes:
    text: the input as given.
    kind: ``'one'`` (a video file or a folder of images), ``'many'`` (videos of a folder, or
      the matches of a glob) or ``'live'`` (a camera or a stream).
    paths: the one path, or the many in order (empty for a live source).
    live: the camera index or URL of a live source (else None).
  """
  text: str
  kind: str
  paths: tuple[pathlib.Path, ...] = ()
  live: int | str | None = None


def input_name(path: str | os.PathLike) -> str:
  """The name an input's outputs take: ``clips/dog.mp4`` -> ``dog``, ``frames/dog/`` -> ``dog``."""
  path = pathlib.Path(path)
  return path.name if path.is_dir() else path.stem


def _natural(paths) -> list[pathlib.Path]:
  return sorted((pathlib.Path(p) for p in paths),
                key=lambda p: [images_lib.natural_key(part) for part in p.parts])


def _check_names(paths: list[pathlib.Path], text: str) -> None:
  seen: dict[str, pathlib.Path] = {}
  for path in paths:
    name = input_name(path)
    if name in seen:
      raise video.VideoError(f'inputs {seen[name]} and {path} of {text} are both named {name!r}: '
                             "each input's outputs are named by its name; give them other names")
    seen[name] = path


def resolve(text: str) -> Input:
  """What `text` names (see the module's docstring).

  Raises:
    video.VideoError: naming `text`: an empty string, a path that does not exist, a folder
      of neither images nor videos, a glob that matches nothing, two inputs of one name.
  """
  if not text:
    raise video.VideoError(f'no input given: {KINDS}')
  source = live.parse_live(text)
  if source is not None:
    return Input(text, 'live', live=source)
  path = pathlib.Path(text)
  if path.is_dir():
    if images_lib.list_images(path):
      return Input(text, 'one', (path,))
    videos = _natural(p for p in path.iterdir()
                      if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
      raise video.VideoError(f'folder {path} holds no images '
                             f'({", ".join(images_lib.IMAGE_SUFFIXES)}) and no videos '
                             f'({", ".join(VIDEO_SUFFIXES)})')
    _check_names(videos, text)
    return Input(text, 'many', tuple(videos))
  if path.exists():
    return Input(text, 'one', (path,))
  if glob.has_magic(text):
    matches = _natural(glob.glob(text, recursive=True))
    if not matches:
      raise video.VideoError(f'no file matches {text}')
    _check_names(matches, text)
    return Input(text, 'many', tuple(matches))
  raise video.VideoError(f'input {text} does not exist (an input is {KINDS})')
