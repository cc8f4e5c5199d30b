"""The imagenet_det dataset builder (TFDS dataset folder)."""
