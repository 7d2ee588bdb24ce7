"""Perturbed samples as the knockout head sees them in training: the genes and doses of each, its standardised
change, and what the linear responses predict for it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.features import perturbation_csr
from mtlgrn_core.model.linear_model import LinearModel


@dataclass
class PerturbationSet:
    """Perturbed samples as the knockout head sees them: which genes each perturbs (CSR: ``genes[offsets[j]:
    offsets[j + 1]]`` at ``doses``), the standardised change it caused (``targets``, one row each) and the change
    the observational linear responses predict for it (``observed``, what the head's learned parts add to)."""

    genes: torch.Tensor
    doses: torch.Tensor
    offsets: np.ndarray
    targets: torch.Tensor
    observed: torch.Tensor

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def of(cls, dataset: Dataset, baseline: np.ndarray, scale: np.ndarray, responses: LinearModel,
           device: torch.device) -> "PerturbationSet":
        """The perturbed samples of ``dataset``, their change standardised by ``baseline`` and ``scale``, and
        what ``responses`` (in standard units) predict for them."""
        genes, doses, offsets, samples, _ = perturbation_csr(dataset)
        change = (dataset.expression[:, samples].T - baseline[None, :]) / scale[None, :]
        observed = responses.propagate_each(genes, doses, offsets, baseline / scale)
        return cls(torch.as_tensor(genes, device=device), torch.as_tensor(doses, device=device), offsets,
                   torch.as_tensor(change.astype(np.float32), device=device),
                   torch.as_tensor(observed.astype(np.float32), device=device))

    def rows(self, rows: np.ndarray) -> "PerturbationSet":
        """The perturbations ``rows`` (a CSR slice)."""
        idx = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]) if len(rows) else \
            np.zeros(0, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.offsets[rows + 1] - self.offsets[rows])])
        idx_t = torch.as_tensor(idx, device=self.genes.device, dtype=torch.long)
        rows_t = torch.as_tensor(rows, device=self.targets.device, dtype=torch.long)
        return PerturbationSet(self.genes[idx_t], self.doses[idx_t], offsets, self.targets[rows_t],
                               self.observed[rows_t])

    def mean_response(self) -> torch.Tensor:
        """Mean standardised change per unit of knockout depth (knockouts and knockdowns; overexpression is
        too rare to set a default by)."""
        depth = np.zeros(len(self), dtype=np.float32)
        owner = np.repeat(np.arange(len(self)), np.diff(self.offsets))
        np.maximum.at(depth, owner, 1.0 - self.doses.cpu().numpy())
        use = depth > 0.05
        if not use.any():
            return torch.zeros(self.targets.shape[1], device=self.targets.device)
        keep = torch.as_tensor(np.flatnonzero(use), device=self.targets.device)
        weights = torch.as_tensor(depth[use], device=self.targets.device)
        return (self.targets[keep] / weights[:, None]).mean(dim=0)
