"""``[workflow]``: where expensive tasks run (local threads/processes, or a Slurm/PBS cluster via Parsl)."""

from typing import Literal

from pydantic import Field

from interforge.config.base import Section

#: Most concurrent local workers (processes) a command starts (`--workers`, `--parallel`, max_workers).
MAX_WORKERS = 1024


class SchedulerSettings(Section):
    """Batch-scheduler block, used when ``executor`` is slurm or pbs."""

    partition: str = Field("", description="Partition / queue name.")
    account: str = Field("", description="Account to charge.")
    qos: str = Field("", description="Slurm quality of service (empty = none).")
    walltime: str = Field("02:00:00", description="Wall time per block, HH:MM:SS.")
    nodes_per_block: int = Field(1, ge=1, description="Nodes per batch job.")
    cores_per_node: int = Field(0, ge=0, description="Cores per node (0 = scheduler default).")
    mem_per_node: int = Field(0, ge=0, description="Memory per node, GB (0 = scheduler default).")
    gpus_per_node: int = Field(0, ge=0, description="GPUs per node (Slurm --gpus-per-node; 0 = none).")
    max_blocks: int = Field(4, ge=1, description="Maximum concurrent batch jobs.")
    init_blocks: int = Field(0, ge=0, description="Batch jobs submitted at start (more are added on demand).")
    cores_per_worker: float = Field(1.0, gt=0, description="Cores given to one task (a DFT task wants a whole node).")
    scheduler_options: str = Field("", description="Extra #SBATCH / #PBS lines, verbatim.")
    worker_init: str = Field("", description="Shell lines run before workers start (module load, source venv).")
    exclusive: bool = Field(True, description="Slurm: ask for whole nodes.")


class WorkflowSection(Section):
    """Executor used for labelling, training and MD tasks."""

    executor: Literal["local", "pool", "threads", "processes", "slurm", "pbs"] = Field(
        "local", description="local = run in this process, one task after another; pool = max_workers spawned local "
        "processes of one core each (no Parsl); threads/processes = Parsl locally; slurm/pbs = Parsl on a cluster.",
    )
    max_workers: int = Field(2, ge=1, le=MAX_WORKERS, description="Concurrent local workers.")
    retries: int = Field(1, ge=0, description="Times a failed task is retried.")
    run_dir: str = Field("runinfo", description="Parsl's run folder (logs, batch scripts), relative to the workdir.")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
