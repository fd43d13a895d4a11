"""Model-independent few-shot components: everything here works on embeddings or features.

* :mod:`.protonet` — class-mean prototypes, scaled-cosine :class:`PrototypicalHead`, ``L_fsl`` and
  soft-label cross-entropy (Snell et al. 2017; MIFOMO ``PrototypicalClassifier``).
* :mod:`.mixup` — same-episode embedding mixup (λ ~ Beta(2, 2)) and source/target mixup in the joint
  label space (Zhang et al. 2018; MIFOMO intermediate domain).
* :mod:`.scheduler` — the Wasserstein-driven λ scheduler (MIFOMO Eqs. 18–20) with POT's exact EMD.
* :mod:`.propagation` — LGC label propagation (Zhou et al. 2003) as the released code runs it.
* :mod:`.pseudo_labels` — refinement (LGC / ε-smoothing / none) and the top-k confident filter.
* :mod:`.metrics` — OA, AA, κ, per-class accuracy, confusion matrix; mean ± population std.
* :mod:`.baselines` — SVM, nearest prototype and transductive propagation on feature matrices.
* :mod:`.spatial` — a w×w mean of per-pixel features over the scene, computed lazily.
"""

from .baselines import (
    BaselineResult,
    nearest_prototype_baseline,
    propagation_baseline,
    run_feature_baselines,
    svm_baseline,
)
from .metrics import aggregate_episodes, classification_metrics, format_mean_std, to_jsonable
from .mixup import (
    CrossDomainMix,
    MixupBatch,
    cross_domain_mixup,
    embedding_mixup,
    extend_label_space,
    sample_beta,
    sample_pairs,
)
from .propagation import (
    CLASS_MASS,
    affinity_matrix,
    class_mass_normalisation,
    class_mass_rescaled,
    graph_label_propagation,
    knn_affinity,
    label_propagation,
    lgc_closed_form,
    median_distance_sigma,
    normalized_affinity,
    pairwise_distances,
    ridge_pinv,
)
from .protonet import PrototypicalHead, class_means, cosine_similarity_matrix, fsl_loss, prototypes, soft_cross_entropy
from .pseudo_labels import (
    PseudoLabelSelection,
    eps_label_smoothing,
    refine_pseudo_labels,
    select_confident_pseudo_labels,
)
from .scheduler import MixupScheduler, wasserstein_distance
from .spatial import LazyFeatureMap, smooth_feature_map, window_neighbourhood

__all__ = [
    "CLASS_MASS", "BaselineResult", "CrossDomainMix", "LazyFeatureMap", "MixupBatch", "MixupScheduler", "PrototypicalHead",
    "PseudoLabelSelection", "affinity_matrix", "aggregate_episodes", "class_mass_normalisation", "classification_metrics",
    "cosine_similarity_matrix", "cross_domain_mixup", "embedding_mixup", "eps_label_smoothing",
    "extend_label_space", "format_mean_std", "fsl_loss", "knn_affinity", "label_propagation", "graph_label_propagation", "class_mass_rescaled",
    "lgc_closed_form", "median_distance_sigma", "nearest_prototype_baseline", "normalized_affinity",
    "pairwise_distances", "propagation_baseline", "prototypes", "class_means", "refine_pseudo_labels", "ridge_pinv",
    "run_feature_baselines", "sample_beta", "sample_pairs", "select_confident_pseudo_labels",
    "smooth_feature_map", "soft_cross_entropy", "svm_baseline", "to_jsonable", "wasserstein_distance", "window_neighbourhood",
]
