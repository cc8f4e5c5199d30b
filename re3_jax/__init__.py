"""re3_jax: the Re3 visual tracker in JAX."""

__version__ = '0.1.0'
