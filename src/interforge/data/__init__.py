"""Data: the labelled-structure store, content hashes, GPUMD train/test exchange."""

from interforge.data.gpumd_xyz import read_labelled_xyz, write_gpumd_xyz
from interforge.data.hashing import settings_hash, split_fraction, structure_hash
from interforge.data.store import AddResult, ExportResult, LabelStore, Record

__all__ = [
    "AddResult", "ExportResult", "LabelStore", "Record", "read_labelled_xyz", "settings_hash",
    "split_fraction", "structure_hash", "write_gpumd_xyz",
]
