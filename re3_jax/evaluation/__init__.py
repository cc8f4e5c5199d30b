"""Evaluation: tracking metrics (NumPy), benchmark dataset roots and the OpenCV baselines.
Imports `re3_jax.core`, `re3_jax.media` and `re3_jax.input` (annotation parsers)."""
