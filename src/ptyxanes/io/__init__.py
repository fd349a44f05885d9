"""Readers and writers: CXI scans, NeXus stacks, TIFF stacks, reference spectra, project files."""

from ptyxanes.io.cxi import CXIScan, CXIWriter, read_cxi, read_scan_series, write_cxi
from ptyxanes.io.errors import FormatError
from ptyxanes.io.formats import detect_format, open_stack
from ptyxanes.io.nexus import read_stack, write_stack
from ptyxanes.io.project import MapData, Project, load_project, save_project
from ptyxanes.io.spectra import Spectrum, read_spectrum, write_spectrum
from ptyxanes.io.stack import ImageStack, StackKind
from ptyxanes.io.tiff import read_energy_list, read_tiff_stack

__all__ = [
    "CXIScan",
    "CXIWriter",
    "FormatError",
    "ImageStack",
    "detect_format",
    "open_stack",
    "MapData",
    "Project",
    "Spectrum",
    "StackKind",
    "load_project",
    "read_cxi",
    "read_energy_list",
    "read_scan_series",
    "read_spectrum",
    "read_stack",
    "read_tiff_stack",
    "save_project",
    "write_cxi",
    "write_spectrum",
    "write_stack",
]
