"""``[active]``: the query-by-committee loop (paper: 4 models, 0.3 eV/Å, 0.7 x covalent radii, FPS)."""

from typing import Literal

from pydantic import Field, model_validator

from interforge.config.base import Section


class ActiveSection(Section):
    """Exploration schedule, candidate criteria and stopping rule."""

    threshold: float = Field(0.3, gt=0, description="Candidate if the committee's max force deviation exceeds this, eV/Å.")
    threshold_upper: float = Field(0.0, ge=0, description="Discard frames above this deviation (0 = no upper bound), eV/Å.")
    close_contact_factor: float = Field(0.7, gt=0, description="Discard if any r_ij < factor x (R_i + R_j), covalent radii.")
    selection: Literal["committee", "random"] = Field(
        "committee", description="committee = deviation threshold + close-contact filter + farthest-point selection (the paper); random = a uniform draw of explored frames (the baseline of bench/bench_active.py).",
    )
    budget: int = Field(50, ge=1, description="Structures labelled per iteration (farthest-point selection).")
    max_iterations: int = Field(25, ge=1, description="Stop after this many iterations if not converged.")
    explore_ps: float = Field(100.0, gt=0, description="Length of each exploration MD run, ps.")
    frame_interval_ps: float = Field(0.1, gt=0, description="Frame spacing scored for deviation, ps.")
    nvt_temperatures_K: list[float] = Field(
        default_factory=lambda: [300.0, 600.0, 900.0, 1200.0, 1500.0, 2000.0, 2500.0, 3000.0],
        description="NVT exploration temperatures, K (paper: 300-3000 K).",
    )
    npt_temperatures_K: list[float] = Field(
        default_factory=lambda: [600.0, 900.0, 1200.0, 1500.0], description="NPT exploration temperatures, K (paper: 600-1500 K).",
    )
    npt_pressures_bar: list[float] = Field(
        default_factory=lambda: [1e2, 1e3, 1e4], description="NPT exploration pressures, bar (paper: 1e2-1e4 bar).",
    )
    holdout: Literal["independent", "seed"] = Field(
        "independent",
        description="What the per-iteration hold-out error is measured on: 'independent' = the validation's teacher NVT "
        "frames at the production temperatures (own seeds, no training frame from those runs; shared with "
        "`interforge validate`); 'seed' = the seed pool's hold-out labels (neighbours of training frames: optimistic). "
        "Both are reported; this picks the headline `holdout_force_rmse_meV_A`.",
    )
    holdout_fraction: float = Field(0.1, ge=0, lt=1, description="Fraction of the seed labels frozen as the hold-out set.")
    gate_rounds: int = Field(
        2, ge=0,
        description="After the last iteration, `learn` validates its final model; while a gate fails, up to this many "
        "gate-directed rounds label what the failing gates measure (the model's own NPT frames, relaxed polymorphs, "
        "NEB bands; docs/active.md), retrain and validate again. 0 = validate once and stop.",
    )
    gate_data_each_iteration: bool = Field(
        False,
        description="Every query-by-committee iteration also labels what the gates measure, as a gate round does (its "
        "first member's NPT frames at the gate temperatures plus the offset, its relaxed polymorphs, its NEB bands of "
        "other hops), before any gate has failed. The committee's picks rarely land on the bulk phases at production "
        "temperatures, where the members agree and are wrong together (docs/validation.md).",
    )
    gate_md_ps: float = Field(2.0, gt=0, description="Gate rounds: NEP NPT per validation phase and temperature, ps.")
    gate_frames: int = Field(4, ge=1, description="Gate rounds: frames per NEP NPT run taken for labelling (second half).")
    gate_temperature_offset_K: float = Field(
        -25.0,
        description="Gate rounds run NPT at each gate temperature plus this offset, K; never 0, so no training frame comes "
        "from a gate temperature and the force gate's hold-out stays independent.",
    )
    gate_stability_ps: float = Field(
        10.0, ge=0,
        description="Gate data also run one longer NEP NPT per validation phase above the validation's stability "
        "temperature ([validation] stability_margin_K over the top gate temperature, plus gate_stability_offset_K), ps "
        "after the equilibration; 0 = not. A model that swells there drifts for picoseconds into volumes no teacher "
        "frame covers, where its pressure errs high; frames spread over the whole run follow that drift so the teacher "
        "labels it (docs/validation.md, 'Holding 600 K').")
    gate_stability_offset_K: float = Field(
        25.0, ge=0, description="The longer gate-data NPT runs this far above the validation's stability temperature, K.")
    gate_stability_frames: int = Field(
        6, ge=1, description="Frames of each longer gate-data NPT taken for labelling, evenly over the run.")
    gate_hops: int = Field(2, ge=0, description="Gate rounds: Li vacancy hops (not the barrier gate's) whose NEP NEB bands are labelled.")
    gate_finetune_fraction: float = Field(
        0.35, ge=0, le=1,
        description="Gate rounds fine-tune each member of the previous final committee for this fraction of [nep] generation, "
        "starting at a tenth of the learning rate; 0 = train every member afresh. A fine-tune keeps what the last committee "
        "got right, and what it got wrong: with the Li-vacancy cells' energies in the fit, two fresh trainings read the "
        "relaxed ideal-alpha energy 4.7 and 17.1 meV/atom (teacher 4.8) and a fine-tune kept 5.4; without them (now), "
        "fresh members on demo10's labels read 5.9-8.8 and fine-tunes of a poorer committee 6.8-12.3 (docs/validation.md).",
    )

    @model_validator(mode="after")
    def _gate_offset(self):
        if (self.gate_rounds or self.gate_data_each_iteration) and self.gate_temperature_offset_K == 0:
            raise ValueError("gate_temperature_offset_K must not be 0: gate-round frames at a gate temperature "
                             "would break the independence of the force gate's hold-out")
        return self
