"""belka_lab: train, validate, compare and blend binding-prediction models for BELKA."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("belka_lab")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"
