"""Evaluation: the benchmarks' measures (OTB and GOT-10k `metrics`, Re3's reset-based
`vot_metrics`, `lost_metrics`, `longterm_metrics`, LaSOT's `norm_precision`: NumPy) and the
report's families of them (`metric_family`, `metric_families`), the trackers compared by name
(`trackers`: Re3 behind the `protocols.Tracker` interface, the OpenCV `baselines`; Re3 as a
got10k toolkit tracker: `got10k_tracker`), the runs (`protocols`: OPE and reset-based loops;
`harness`: every tracker x sequence x protocol, what ``python -m re3_jax.evaluate`` runs) and
their outputs (`results`: the benchmarks' result files; `submission`: the GOT-10k server's
zip; `score_report`, `report`: tables, JSON, plots). The sequences come from
`re3_jax.datasets`. Imports `re3_jax.core`, `re3_jax.datasets`, `re3_jax.media` and
`re3_jax.tracking`."""
