"""The imagenet_vid dataset builder (TFDS dataset folder)."""
