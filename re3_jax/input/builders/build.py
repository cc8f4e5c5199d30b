r"""Builds one of the training datasets, without TensorFlow or the ``tfds`` command.

  python -m re3_jax.input.builders.build imagenet_vid --manual_dir=~/data/re3/manual \
      --data_dir=~/data/re3/tfds

does what ``tfds build re3_jax/input/builders/imagenet_vid --manual_dir=... --data_dir=...``
does (ArrayRecord files, the skip counts in the dataset's metadata). The ``tfds`` command
needs TensorFlow, apache-beam and mlcroissant installed; this needs only tensorflow-datasets
(the ``data`` extra).
"""

from __future__ import annotations

import importlib
import pathlib

NAMES = ('imagenet_vid', 'alov300', 'imagenet_det')


def build(name: str, manual_dir: str, data_dir: str, file_format: str = 'array_record'):
  """Builds dataset `name` (one of `NAMES`) from `manual_dir` into `data_dir`.

  Returns:
    The prepared TFDS builder.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name not in NAMES:
    raise ValueError(f'unknown dataset {name!r}: one of {", ".join(NAMES)}')
  module = importlib.import_module(f're3_jax.input.builders.{name}.{name}_dataset_builder')
  builder = module.Builder(data_dir=str(pathlib.Path(data_dir).expanduser()),
                           file_format=file_format)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(pathlib.Path(manual_dir).expanduser())))
  return builder


def main(argv):
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) != 2:
    raise app.UsageError(f'usage: python -m re3_jax.input.builders.build {"|".join(NAMES)} '
                         '--manual_dir=M --data_dir=D')
  fl = flags.FLAGS
  builder = build(argv[1], fl.manual_dir, fl.data_dir, fl.file_format)
  print(f'built {builder.data_dir}')
  for split, info in builder.info.splits.items():
    print(f'  {split}: {info.num_examples} examples')
  skipped = builder.info.metadata.get('skipped', {})
  for split, counts in skipped.items():
    if counts:
      print(f'  skipped in {split}: ' + ', '.join(f'{k}={v}' for k, v in sorted(counts.items())))


if __name__ == '__main__':
  # Flags are defined only when run as a command, so importing `build` defines none.
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('manual_dir', None, 'Where the downloaded dataset lies.', required=True)
  flags.DEFINE_string('data_dir', None, 'Where to write the built dataset.', required=True)
  flags.DEFINE_enum('file_format', 'array_record', ['array_record', 'tfrecord'],
                    'File format of the built dataset.')
  app.run(main)
