"""cosmoml: machine learning for survey cosmology."""

__version__ = "0.1.0"
