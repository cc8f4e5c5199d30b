"""Evaluation: the benchmarks' measures (OTB and GOT-10k `metrics`, Re3's reset-based
`vot_metrics`, `lost_metrics`, `longterm_metrics`: NumPy), the datasets by ``KIND:ROOT``
(`datasets`, over `re3_jax.media`'s roots), the trackers compared (the Re3 tracker behind
the `protocols.Tracker` interface, the OpenCV `baselines`, Re3 as a got10k toolkit tracker:
`got10k_tracker`), the runs (`protocols`: OPE and reset-based loops; `harness`: every
tracker x sequence x protocol, what ``python -m re3_jax.evaluate`` runs) and their outputs
(`results`: the benchmarks' result files; `submission`: the GOT-10k server's zip;
`score_report`, `report`: tables, JSON, plots). Imports `re3_jax.core`, `re3_jax.media`,
`re3_jax.input` (annotation parsers) and `re3_jax.tracking`."""
