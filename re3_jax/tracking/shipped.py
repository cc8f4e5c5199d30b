"""The models shipped inside the package (`re3_jax/weights/NAME/`), by name.

`PRETRAINED` is what tracks when no checkpoint is given (`Re3Tracker.pretrained()`, the
command lines, `evaluate --tracker=re3`); every model of `SHIPPED` stays loadable by its
name (`Re3Tracker.pretrained(NAME)`, ``--tracker.checkpoint=NAME``, ``--tracker=NAME`` in the
evaluation, ``--config.init_params=NAME``). No JAX here: the command lines read it before
any slow import.
"""

from __future__ import annotations

import os
import pathlib

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'weights'
SHIPPED = {
    're3_nano': 'Re3 over NanoTrack v2\'s tracking-trained backbone with the first frame\'s '
                'target as a template, trained on 37 real OTB/UAV123/DTB70/UAVDT/DAVIS '
                'sequences',
    're3_squeeze': 'Re3 over an ImageNet SqueezeNet tower, trained on 16 real OTB/UAV123 '
                   'sequences',
}
PRETRAINED = 're3_nano'
PRETRAINED_DIR = WEIGHTS_DIR / PRETRAINED
PRETRAINED_DESCRIPTION = (
    f'the shipped model {PRETRAINED} ({SHIPPED[PRETRAINED]}; {PRETRAINED_DIR}, see its '
    'README.md)')


def describe(name: str) -> str:
  """A shipped model in a line, as the command lines name what they run."""
  return (PRETRAINED_DESCRIPTION if name == PRETRAINED else
          f'the shipped model {name} ({SHIPPED[name]}; {WEIGHTS_DIR / name}, see its README.md)')


def pretrained_dir(name: str | None = None) -> pathlib.Path:
  """A shipped model's checkpoint directory, checked to be there.

  `name`: one of `SHIPPED`; None: the default, `PRETRAINED` (at `PRETRAINED_DIR`).
  """
  if name is None or name == PRETRAINED:
    name, directory = PRETRAINED, PRETRAINED_DIR
  elif name in SHIPPED:
    directory = WEIGHTS_DIR / name
  else:
    raise ValueError(f'no shipped model {name!r}; the package ships {sorted(SHIPPED)}')
  if not (directory / 'config.json').is_file():
    raise FileNotFoundError(f'the shipped model {name} is missing from {directory} '
                            '(an install without package data?): reinstall re3_jax, or give a '
                            'checkpoint')
  return directory


def resolve_checkpoint(checkpoint: str | os.PathLike | None) -> str | os.PathLike:
  """What a ``--tracker.checkpoint`` names: None (or empty) is the default shipped model, a `SHIPPED`
  name (that is not a path here) that model, anything else a checkpoint directory."""
  if checkpoint is None or checkpoint == '':
    return pretrained_dir()
  if isinstance(checkpoint, str) and checkpoint in SHIPPED and not os.path.exists(checkpoint):
    return pretrained_dir(checkpoint)
  return checkpoint
