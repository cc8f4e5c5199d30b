"""Test helpers shipped with the package: tiny fake dataset downloads (ImageNet VID,
ALOV300++, ImageNet DET) and OTB-layout sequence folders (`fake_datasets`), and tiny fake
benchmark roots (LaSOT, GOT-10k, UAV123, DTB70, TColor-128, NfS: `fake_benchmarks`), each in
the real layout. Imported by the tests and, of the package, by the input benchmark only
(`re3_jax.benchmarks.input_speed`: a fake VID download). Imports `re3_jax.core`,
`re3_jax.datasets` and `re3_jax.media`."""
