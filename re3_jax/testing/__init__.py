"""Test helpers shipped for the tests and the input benchmark: tiny fake datasets written in
the real download layouts. Nothing in the library imports them."""
