"""Writing results where orientation tools read them: ``.ctf`` (here; orix
writes ``.ang`` and its HDF5), and the outputs of ``pyxem-transformer map``."""

from pyxem_transformer.io.ctf import write_ctf

__all__ = ["write_ctf"]
