"""ntm: an experiment runner for Neural Turing Machines and related models."""

__version__ = "0.1.0"
