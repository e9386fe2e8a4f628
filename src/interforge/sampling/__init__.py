"""Sampling: perturbations, descriptors, selection and the close-contact filter.

The reusable pieces of seeding and active learning (the loops themselves live in ``interforge.active``
and the CLI): strain/rattle perturbations, structure-averaged SOAP and NEP descriptors,
PCA + k-means representatives, farthest-point sampling, the covalent-radius close-contact filter
and the 2D selection maps. All are plain functions with dataclass results.
"""

from interforge.sampling.contacts import (
    ContactFilterResult, ContactReport, close_contacts, filter_close_contacts, radii_of,
)
from interforge.sampling.descriptors import (
    DescriptorFn, DescriptorSet, nep_descriptor_fn, nep_descriptors, soap_descriptor_fn, soap_descriptors, species_of,
)
from interforge.sampling.maps import SelectionMap, plot_selection_maps, structure_category, tsne_2d
from interforge.sampling.pick import Picked, pick_farthest, pick_representatives
from interforge.sampling.perturb import (
    Perturbation, apply_strain, perturb, perturb_from_settings, principal_strain, random_strain_tensor, rattle,
)
from interforge.sampling.selection import (
    ClusterSelection, FPSResult, PCAResult, allocate_budget, farthest_point_sampling, pca_2d, select_by_clustering,
)

__all__ = [
    "ClusterSelection", "ContactFilterResult", "ContactReport", "DescriptorFn", "DescriptorSet", "FPSResult",
    "PCAResult", "Perturbation", "Picked", "SelectionMap", "allocate_budget", "apply_strain", "close_contacts", "farthest_point_sampling",
    "filter_close_contacts", "nep_descriptor_fn", "nep_descriptors", "pca_2d", "perturb", "pick_farthest", "pick_representatives", "perturb_from_settings",
    "plot_selection_maps", "principal_strain", "radii_of", "random_strain_tensor", "rattle", "select_by_clustering",
    "soap_descriptor_fn", "soap_descriptors", "species_of", "structure_category", "tsne_2d",
]
