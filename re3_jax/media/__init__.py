"""Frames on disk and on screen: video and image-folder readers, cameras and streams
(`live`), what an input names (`inputs`), boxes drawn on a frame (`select_box`), mp4/GIF
writers, drawing (boxes, contact sheets), clips made from nothing. Imports `re3_jax.core`
and `re3_jax.datasets` (sequences)."""
