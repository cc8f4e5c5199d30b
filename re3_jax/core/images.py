"""Reading, checking and normalising images: RGB uint8 (H, W, 3), on the device.

Rules (documented in README):
* uint8 only. Float images are rejected, because their scale is ambiguous
  (0..1 or 0..255); convert them yourself, e.g.
  ``(np.clip(img, 0, 1) * 255).round().astype(np.uint8)``. Other integer or bool
  dtypes are rejected too.
* Grayscale (H, W) or (H, W, 1) is repeated to three channels; RGBA (H, W, 4)
  drops its alpha channel. A stack of frames is (T, H, W, C) with C in 1, 3, 4
  (a 3-D stack would be ambiguous with one (H, W, 3) frame). Channel order is
  RGB (OpenCV reads BGR: convert with ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)``).

Image files (`read_frame`, `image_size`: the one reader of frame files, through Pillow) are
checked as they are opened: an empty (0-byte) file, one Pillow cannot identify or decode,
and one of more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``,
89 million by default: a 14000x14000 frame; Pillow only warns below twice the limit, here it
is an error too) raise a ValueError naming the file. Raise ``PIL.Image.MAX_IMAGE_PIXELS`` (or
set it to None) to read larger frames.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import warnings
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def natural_key(path: str | pathlib.Path) -> tuple:
  """Sort key comparing the digit runs of a file name as numbers (``f2`` < ``f10``)."""
  name = pathlib.Path(path).name
  parts = tuple((0, int(part), '') if part.isdigit() else (1, 0, part.lower())
                for part in re.split(r'(\d+)', name) if part)
  return parts, name


def list_images(folder: str | pathlib.Path) -> list[pathlib.Path]:
  """The image files of a folder (`IMAGE_SUFFIXES`, any case), in natural order; may be empty."""
  return sorted((p for p in pathlib.Path(folder).iterdir()
                 if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=natural_key)


@contextlib.contextmanager
def _open_image(path: str | pathlib.Path) -> Iterator[Image.Image]:
  """Pillow's image of `path` (header read); any failure in the block a ValueError naming it."""
  try:
    if pathlib.Path(path).stat().st_size == 0:
      raise ValueError('the file is empty (0 bytes)')
    with warnings.catch_warnings():  # Pillow warns from the limit to twice it: an error here
      warnings.simplefilter('error', Image.DecompressionBombWarning)
      with Image.open(path) as im:
        yield im
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
    pixels = re.search(r'\((\d+) pixels\)', str(e))
    raise ValueError(f'cannot read frame {path}: {pixels[1] + " pixels" if pixels else "its size"}'
                     f' is over the decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} '
                     '(PIL.Image.MAX_IMAGE_PIXELS: raise it to read larger frames)') from None
  except (OSError, ValueError) as e:
    raise ValueError(f'cannot read frame {path}: {e}') from e


def read_frame(path: str | pathlib.Path) -> np.ndarray:
  """Reads one image file as (H, W, 3) uint8 RGB.

  Raises:
    ValueError: naming the file: missing, empty, not an image Pillow decodes, or over
      Pillow's decompression-bomb limit (see the module docstring).
  """
  with _open_image(path) as im:
    return np.asarray(im.convert('RGB'))


def image_size(path: str | pathlib.Path) -> tuple[int, int]:
  """(height, width) of an image file from its header (nothing decoded).

  Raises:
    ValueError: as `read_frame` (bar a file whose pixels are damaged: they are not read).
  """
  with _open_image(path) as im:
    return im.height, im.width


def _check(shape, dtype, name, frame_axes):
  if dtype != np.uint8:
    hint = (' Float images are not accepted because their scale (0..1 or 0..255) is '
            'ambiguous: convert to uint8 0..255 first.') if np.issubdtype(dtype, np.floating) else ''
    raise ValueError(f'{name} has dtype {dtype}; expected uint8 RGB.{hint}')
  nd = len(shape) - frame_axes
  if frame_axes:
    # A stack of frames keeps its channel axis: (T, H, W) could be one (H, W, 3) frame.
    if nd != 3 or shape[-1] not in (1, 3, 4):
      hint = ' (one frame? give frames[None])' if len(shape) == 3 and shape[-1] in (1, 3, 4) else ''
      raise ValueError(f'{name} has shape {tuple(shape)}; expected (T, H, W, C) frames with C '
                       f'in 1 (grayscale), 3 (RGB) or 4 (RGBA){hint}')
    if 0 in shape[:frame_axes]:
      raise ValueError(f'{name} holds no frames (shape {tuple(shape)})')
  elif nd not in (2, 3) or (nd == 3 and shape[-1] not in (1, 3, 4)):
    raise ValueError(f'{name} has shape {tuple(shape)}; expected (H, W), (H, W, 1), (H, W, 3) '
                     'or (H, W, 4)')
  h, w = shape[frame_axes:frame_axes + 2]
  if h == 0 or w == 0:
    raise ValueError(f'{name} is empty (shape {tuple(shape)})')


def to_rgb(image, name: str = 'image', frame_axes: int = 0) -> jax.Array:
  """Returns `image` as a uint8 (..., H, W, 3) device array, or raises ValueError.

  Args:
    image: NumPy or JAX array (or anything np.asarray takes).
    name: how to name the image in errors.
    frame_axes: number of leading axes before (H, W) (1 for a video, whose
      frames then need their channel axis: (T, H, W, C)).
  """
  if not isinstance(image, (np.ndarray, jax.Array)):
    image = np.asarray(image)
  _check(image.shape, image.dtype, name, frame_axes)
  xp = np if isinstance(image, np.ndarray) else jnp
  if image.ndim == frame_axes + 2:
    image = image[..., None]
  c = image.shape[-1]
  if c == 1:
    image = xp.repeat(image, 3, axis=-1)
  elif c == 4:
    image = image[..., :3]
  return jnp.asarray(image)
