"""The library's version, in one place (read by the package, model files and reports)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
