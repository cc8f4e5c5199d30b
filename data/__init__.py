"""TFDS dataset builders for Re3's training data (one folder per dataset).

Build with ``tfds build data/<name> --manual_dir=... --data_dir=...`` or from
Python with ``<name>_dataset_builder.Builder(data_dir=...).download_and_prepare(
download_config=tfds.download.DownloadConfig(manual_dir=...))``.
"""
