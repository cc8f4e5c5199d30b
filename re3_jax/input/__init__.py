"""Training input: procedural images, Re3's synthetic-sequence simulator, dataset
annotations and folder layouts, the TFDS dataset builders (`builders/`, python -m
re3_jax.input.builders.build NAME), folders of OTB-layout sequences as sources
(`folder_sources`: otb:ROOT, otb_sim:ROOT) and the Grain pipeline.
Imports `re3_jax.core` and `re3_jax.media` (and TFDS only when a TFDS source is used)."""
