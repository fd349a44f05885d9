"""The digital twin of the spectro-ptychography experiment.

Modules
-------
spectra
    Ni K-edge XANES model whose edge shifts linearly with Ni valence.
optics
    Complex refractive index (delta, beta) of NMC811 across the Ni K-edge.
sample
    Agglomerates of faceted NMC811 single crystals with a Ni valence field.
imaging
    Complex transmission projections (2D) and tilt series (3D).
ptycho
    Forward ptychography: probe, scans, diffraction, CXI files.
twin
    Sizes and the ``simulate`` generator writing data plus ground truth.
demo
    The cached demo dataset used by the README and the GUI.

See ``docs/simulator.md`` for the model, its numbers and their sources.
"""

from __future__ import annotations
