"""TFDS dataset builders of Re3's training data: one folder per dataset.

``imagenet_vid/``, ``alov300/`` and ``imagenet_det/`` follow TFDS's dataset-folder
convention (``<name>/<name>_dataset_builder.py`` with a ``Builder`` class, and the
folder's ``README.md`` and ``CITATIONS.bib``, which TFDS reads as the description and
citation); ``common.py`` is what they share; ``build.py`` is the command line::

  python -m re3_jax.input.builders.build NAME --manual_dir=... --data_dir=...

or, with the package installed, ``tfds build re3_jax/input/builders/NAME ...``. From
Python: ``<name>_dataset_builder.Builder(data_dir=...).download_and_prepare(
download_config=tfds.download.DownloadConfig(manual_dir=...))``.

Importing this package imports nothing: tensorflow_datasets (the ``data`` extra) is
imported by the modules inside it only.
"""
