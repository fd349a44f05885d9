"""Readers and writers: CXI scans, NeXus stacks, TIFF stacks, reference spectra, project files."""

from ptyxanes.io.errors import FormatError
from ptyxanes.io.nexus import read_stack, write_stack
from ptyxanes.io.spectra import Spectrum, read_spectrum, write_spectrum
from ptyxanes.io.stack import ImageStack, StackKind

__all__ = [
    "FormatError",
    "ImageStack",
    "Spectrum",
    "StackKind",
    "read_spectrum",
    "read_stack",
    "write_spectrum",
    "write_stack",
]
