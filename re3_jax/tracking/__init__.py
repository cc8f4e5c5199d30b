"""Online tracking: pure jitted ``init``/``step``, ``track_video``, the `Re3Tracker` API and
`load_tracker` (`tracker`); videos and image folders through it (`track_files`, over the
frame loop of `frame_loop`), live sources (`track_live`) and many inputs at once
(`track_many`). Imports
`re3_jax.core`, `re3_jax.model` and `re3_jax.media`."""
