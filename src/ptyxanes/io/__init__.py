"""Readers and writers: CXI scans, NeXus stacks, TIFF stacks, reference spectra, project files."""

from ptyxanes.io.errors import FormatError
from ptyxanes.io.spectra import Spectrum, read_spectrum, write_spectrum
from ptyxanes.io.stack import ImageStack, StackKind

__all__ = [
    "FormatError",
    "ImageStack",
    "Spectrum",
    "StackKind",
    "read_spectrum",
    "write_spectrum",
]
