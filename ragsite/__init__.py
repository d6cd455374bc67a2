"""ragsite: a retrieval-augmented generation service as one Django project."""

__version__ = "0.1.0"
