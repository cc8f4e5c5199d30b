r"""Shows Re3's training simulator: ``python -m re3_jax.simulate --out=sheet.png``.

Writes a contact sheet (PNG, `drawing.contact_sheet`) of procedural sequences
(``--sequences`` of ``--length`` frames, seeded by ``--seed``), the simulator over
procedural images as the training's ``procedural`` source makes them, and of the
simulator over real images given as ``--image=PATH@x1,y1,x2,y2`` (the target's box,
pixels; repeatable). Prints the time per procedural frame. The simulator is
`re3_jax.input.synthetic` (`procedural_sequence`, `simulate`);
``re3_jax/input/README.md`` shows such a sheet.
"""

from __future__ import annotations

import time

from absl import flags
import numpy as np
from PIL import Image

from re3_jax import cli
from re3_jax.core import boxes as boxes_lib
from re3_jax.core import images as images_lib
from re3_jax.input import synthetic
from re3_jax.media import drawing

_OUT = flags.DEFINE_string('out', None, 'Where to write the contact sheet (PNG).', required=True)
_SEQUENCES = flags.DEFINE_integer('sequences', 8, 'Procedural sequences to show.')
_LENGTH = flags.DEFINE_integer('length', 32, 'Frames per sequence.')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')
_FRAMES_PER_ROW = flags.DEFINE_integer('frames_per_row', 8, 'Frames shown per sequence.')
_IMAGE = flags.DEFINE_multi_string('image', [], 'Also simulate over a real image: '
                                   'PATH@x1,y1,x2,y2 (the target box, pixels). Repeatable.')


def main(argv):
  """The contact sheet; a bad ``--image`` or setting is a ValueError (`cli.run`)."""
  del argv
  if _SEQUENCES.value < 0 or _LENGTH.value < 1 or _FRAMES_PER_ROW.value < 1:
    raise ValueError('--sequences must be >= 0, --length and --frames_per_row >= 1')
  if not _SEQUENCES.value and not _IMAGE.value:
    raise ValueError('nothing to show: --sequences=0 and no --image')
  real = []
  for spec in _IMAGE.value:  # read and check before the (slow) procedural sequences
    path, at, box_text = spec.rpartition('@')
    if not at or not path:
      raise ValueError(f'--image={spec}: expected PATH@x1,y1,x2,y2')
    image = images_lib.read_frame(path)
    try:
      box = boxes_lib.validate_box(boxes_lib.parse_box(box_text), image.shape[:2])
    except ValueError as e:
      raise ValueError(f'--image={spec}: {e}') from None
    real.append((image, box))
  rng = np.random.default_rng(_SEED.value)
  n, length = _SEQUENCES.value, _LENGTH.value
  start = time.perf_counter()
  sequences = [synthetic.procedural_sequence(rng, length) for _ in range(n)]
  elapsed = time.perf_counter() - start
  if n:
    print(f'{n} procedural sequences of {length} frames: {elapsed:.2f} s '
          f'({elapsed / (n * length) * 1e3:.2f} ms per frame incl. images)')
  for image, box in real:
    sequences.append(synthetic.simulate(rng, image, box[None], length, target=0))
  sheet = drawing.contact_sheet(sequences, frames_per_row=_FRAMES_PER_ROW.value)
  Image.fromarray(sheet).save(_OUT.value)
  print(f'wrote {_OUT.value} ({sheet.shape[1]}x{sheet.shape[0]})')


if __name__ == '__main__':
  cli.run(main)
