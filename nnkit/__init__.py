"""nnkit: a neural-network framework built from scratch on NumPy (placeholder; the core lands next)."""
__version__ = "0.1.0"
