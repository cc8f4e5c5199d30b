"""Online tracking: pure jitted ``init``/``step``, ``track_video`` and the `Re3Tracker` API.
Imports `re3_jax.core` and `re3_jax.model`."""
