"""Figures of analysis results (one function per figure, matplotlib Agg). The HTML report is separate."""

from interforge.report.figures import (
    plot_arrhenius,
    plot_cn_profile,
    plot_collective,
    plot_csm_volume,
    plot_density_map,
    plot_displacement,
    plot_hops,
    plot_msd,
    plot_rdf,
    plot_region_transport,
    save_all,
)

__all__ = ["plot_arrhenius", "plot_cn_profile", "plot_collective", "plot_csm_volume", "plot_density_map", "plot_displacement",
           "plot_hops", "plot_msd", "plot_rdf", "plot_region_transport", "save_all"]
