r"""Imports the official Re3 weights: ``python -m re3_jax.convert --source=PATH
--format=tf|pytorch --out=DIR``.

The work is in `re3_jax.model.official_weights` (its docstring says what is read
and checked); this file parses the flags. The output is a parameters checkpoint
that ``Re3Tracker.from_checkpoint(DIR)`` and ``checkpoints.load_params(DIR)``
restore.
"""

from __future__ import annotations

import os

from absl import flags

from re3_jax import cli
from re3_jax import model
from re3_jax.model import official_weights
from re3_jax.model import weight_shapes

_SOURCE = flags.DEFINE_string('source', None, 'TF checkpoint (prefix or directory) or '
                              'PyTorch state_dict file.', required=True)
_FORMAT = flags.DEFINE_enum('format', None, list(official_weights.FORMATS),
                            'Format of --source.', required=True)
_OUT = flags.DEFINE_string('out', None, 'Output directory (a re3_jax parameters checkpoint).',
                           required=True)


def main(argv):
  del argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  out, config = official_weights.convert(_SOURCE.value, _FORMAT.value, _OUT.value)
  print(f'converted {_SOURCE.value} ({_FORMAT.value}) -> {out}\n'
        f'model: {weight_shapes.describe(config)}; '
        f'{model.count_params(model.abstract_params(config)):,} parameters')


if __name__ == '__main__':
  cli.run(main)
