"""IMDB sentiment with recurrent networks: the stages of a DVC pipeline."""

__version__ = "0.1.0"
