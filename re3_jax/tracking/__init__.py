"""Online tracking: the pure jitted ``init``/``step`` and ``track_video`` (`functional`), the
`Re3Tracker` API over them and `load_tracker` (`tracker`), which weights and how
(`tracker_config`, `shipped`), the box's confidence and a lost track's recovery
(`confidence`, `recovery`), export to one file and its loader (`export`, `exported`), videos
and image folders through the tracker (`track_files`, over the frame loop of `frame_loop`),
live sources (`track_live`) and many inputs at once (`track_many`). Imports `re3_jax.core`,
`re3_jax.model` and `re3_jax.media`."""
