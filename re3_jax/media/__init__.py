"""Frames on disk and on screen: sequence folders (OTB/VOT/GOT-10k layouts), video and
image-folder readers, mp4/GIF writers, drawing. Imports `re3_jax.core`."""
