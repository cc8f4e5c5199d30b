r"""Builds one of the training datasets, without TensorFlow or the ``tfds`` command.

  python -m re3_jax.input.builders.build imagenet_vid   # --manual_dir=data/manual --data_dir=data/tfds

does what ``tfds build re3_jax/input/builders/imagenet_vid --manual_dir=... --data_dir=...``
does (ArrayRecord files, the skip counts in the dataset's metadata). The ``tfds`` command
needs TensorFlow, apache-beam and mlcroissant installed; this needs only tensorflow-datasets
(the ``data`` extra). A missing or empty ``--manual_dir``, a dataset that is not laid
out as its builder expects, or an unknown name is one ``error:`` line (`re3_jax.cli.run`).
"""

from __future__ import annotations

import importlib
import pathlib
import textwrap

NAMES = ('imagenet_vid', 'alov300', 'imagenet_det')


def build(name: str, manual_dir: str, data_dir: str, file_format: str = 'array_record'):
  """Builds dataset `name` (one of `NAMES`) from `manual_dir` into `data_dir`.

  Returns:
    The prepared TFDS builder.

  Raises:
    ValueError: an unknown name.
    FileNotFoundError: `manual_dir` missing or empty (the message holds the
      builder's download instructions), or not laid out as the builder expects.
  """
  if name not in NAMES:
    raise ValueError(f'unknown dataset {name!r}: one of {", ".join(NAMES)}')
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  module = importlib.import_module(f're3_jax.input.builders.{name}.{name}_dataset_builder')
  manual = pathlib.Path(manual_dir).expanduser()
  if not manual.is_dir() or not any(manual.iterdir()):
    # TFDS would raise an AssertionError (a traceback) for this user's mistake.
    what = ('is empty' if manual.is_dir() else 'is not a folder' if manual.exists()
            else 'does not exist')
    instructions = textwrap.dedent(module.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS).strip()
    raise FileNotFoundError(f'--manual_dir {manual} {what}; {name} is built from files '
                            f'downloaded by hand:\n{textwrap.indent(instructions, "  ")}')
  builder = module.Builder(data_dir=str(pathlib.Path(data_dir).expanduser()),
                           file_format=file_format)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual)))
  return builder


def main(argv):
  """Builds the dataset named by the one argument (`re3_jax.cli.run` prints a user's mistake)."""
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) != 2:
    raise app.UsageError(f'usage: python -m re3_jax.input.builders.build {"|".join(NAMES)} '
                         '[--manual_dir=M] [--data_dir=D]')
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
  from absl import flags  # pylint: disable=g-import-not-at-top
  from re3_jax import cli  # pylint: disable=g-import-not-at-top
  # The defaults are the repository's data/ folder (data/README.md), relative to the working
  # directory.
  flags.DEFINE_string('manual_dir', 'data/manual', 'Where the downloaded dataset lies.')
  flags.DEFINE_string('data_dir', 'data/tfds', 'Where to write the built dataset.')
  flags.DEFINE_enum('file_format', 'array_record', ['array_record', 'tfrecord'],
                    'File format of the built dataset.')
  cli.run(main, takes_arguments=True)
