"""How much memory a fit needs, how much the machine (or its GPU, container or ``$MTLGRN_MEMORY_LIMIT_MB``) can
give, and the refusal of a fit that would not fit, before it starts."""

from __future__ import annotations

import torch

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.host_memory import env_limit, gib, host_available
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.pair_scoring import pair_batch_size

FIT_OVERHEAD_BYTES = 40 << 20  # what a fit of the smallest dataset takes beyond its arrays (measured: 32 MB)


def estimate_fit_memory(dataset: Dataset, config: TrainConfig) -> int:
    """Bytes that :func:`fit` needs beyond what the process holds already, at its peak.

    Counted from what ``fit`` allocates (4-byte floats, 8-byte indices): the inputs it keeps (standardised
    expression, the knockout tables, each perturbation's measured and linearly propagated change, the
    candidate-pair split, the train and validation pairs with the latter's evidence, the parameters with their
    gradients, Adam moments and kept copies), plus the largest
    of its passing needs: building the inputs (float64 copies of the expression), one training step (the
    edge-loss pairs' co-expression products, the knockout batch propagated over the prior, the GAT's
    activations) and scoring pairs in batches (co-expression products, the test pairs and their baselines).
    """
    g, n_samples, n_edges = dataset.n_genes, len(dataset.samples), len(dataset.prior)
    perts = dataset.perturbations()
    n_pert = len(perts)
    n_ko = len({p.genes[0] for p in perts if len(p.genes) == 1 and p.dose < 1.0})
    pairs = len(dataset.tfs) * g
    train_pairs, val_pairs, test_pairs = 0.6 * pairs, 0.1 * pairs, 0.3 * pairs
    h, rows, cols = config.hidden, min(n_pert, config.max_batch_samples), min(n_samples, config.max_batch_samples)
    edge_pairs = config.supervision_fraction * 0.6 * n_edges * (1 + config.negative_ratio)
    batch = min(test_pairs, pair_batch_size(n_samples))
    parameters = h * (2 * n_samples + n_ko + 2 * g + 512)
    kept = (4 * (g * n_samples + 7 * n_ko * g + 2 * n_pert * g + 512 * g) + 2 * pairs + 16 * train_pairs
            + 80 * val_pairs + 6 * 4 * parameters)
    passing = {"inputs": 20 * g * n_samples + 16 * n_ko * g + 8 * g * n_pert,
               "split": 40 * train_pairs,
               "step": (12 * edge_pairs * n_samples + 60 * rows * g + 24 * rows * n_edges + 16 * g * cols
                        + 160 * g * h + 80 * n_edges * config.heads * config.layers),
               "scoring": 12 * batch * n_samples + 100 * test_pairs}
    return int(FIT_OVERHEAD_BYTES + kept + max(passing.values()))


def available_memory(device: torch.device) -> int | None:
    """Bytes a fit may use now: free GPU memory on a GPU, else what the host can give
    (:func:`~mtlgrn_core.host_memory.host_available`); ``$MTLGRN_MEMORY_LIMIT_MB`` caps both. ``None`` when
    unknown."""
    if device.type != "cuda":
        return host_available()
    limits = [m for m in (env_limit(), torch.cuda.mem_get_info(device)[0]) if m is not None]
    return min(limits)


def check_memory(dataset: Dataset, config: TrainConfig, device: torch.device) -> None:
    """Refuse (``DataValidationError``) a fit that would need more memory than is available."""
    need, have = estimate_fit_memory(dataset, config), available_memory(device)
    if have is not None and need > have:
        where = "GPU memory" if device.type == "cuda" else "memory"
        raise DataValidationError(
            f"training on these data needs about {gib(need)} of {where}; {gib(have)} is available. "
            f"{dataset.n_genes} genes x {len(dataset.samples)} samples with {len(dataset.tfs)} candidate "
            "regulators is too large for this machine: keep fewer genes (e.g. the most variable ones), "
            "fewer samples or fewer candidate regulators, or train on a machine with more memory.")
