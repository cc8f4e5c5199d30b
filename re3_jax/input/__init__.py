"""Training input: procedural images, Re3's synthetic-sequence simulator, dataset
annotations and folder layouts, the TFDS dataset builders (`builders/`, python -m
re3_jax.input.builders.build NAME) and the Grain pipeline.
Imports `re3_jax.core` (and TFDS only when a TFDS source is used)."""
