"""The alov300 dataset builder (TFDS dataset folder)."""
