"""Speed measurements behind ``python -m re3_jax.benchmark``: `timing` (the median rate, the
same-process reference product, the machine), `tracker_speed`, `input_speed` and
`train_speed`. The top layer: imports every layer below it and the test helpers
(`re3_jax.testing`: the input benchmark's fake VID download)."""
