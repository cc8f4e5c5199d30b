"""Training input: procedural images, Re3's synthetic-sequence simulator, the TFDS dataset
builders (`builders/`, python -m re3_jax.input.builders.build NAME), the layouts of
`re3_jax.datasets` as sources (`folder_sources`: otb:ROOT, otb_sim:ROOT, ...) and the
Grain pipeline. Imports `re3_jax.core`, `re3_jax.datasets` and `re3_jax.media` (and TFDS
only when a TFDS source is used)."""
