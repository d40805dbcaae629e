"""The package's version, from its installed metadata."""

from importlib import metadata

try:
    __version__ = metadata.version("darknet_softmax")
except metadata.PackageNotFoundError:  # a bare build in a checkout, never installed
    __version__ = "0+unknown"
