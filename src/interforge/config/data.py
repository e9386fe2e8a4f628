"""``[data]``: the labelled-structure store and the train/test split."""

from pydantic import Field

from interforge.config.base import Section


class DataSection(Section):
    """Labelled-data store (ASE database) and GPUMD export settings."""

    db: str = Field(
        "labels.db",
        description="Store: an SQLite file (relative to workdir) or a postgresql:// URL shared by all tasks.",
    )
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of structures held out as test.xyz.")
    split_seed: int = Field(0, description="Salt of the hash-based train/test split; same salt, same split.")
