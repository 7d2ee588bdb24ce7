"""A trained run: the model with the inputs, genes, prior and split it was trained on, and what it computes to
answer queries (the network in eval mode, its tensors and gene embeddings, the linear responses every knockout
starts from, what its perturbations teach about unmeasured regulators). Its folder on disk is
:mod:`mtlgrn_core.runs.run_folder`'s (``save_run``, ``load_run``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.features import ModelInputs
from mtlgrn_core.model.linear_model import LinearModel, fit_observational_model
from mtlgrn_core.model.network import MTLGRN, GeneTensors, ModelShape
from mtlgrn_core.model.outside_regulators import TransferResponse, learn_transfer, regulators_not_measured
from mtlgrn_core.model.randomness import isolated
from mtlgrn_core.model.splits import EdgeSplit


@dataclass
class Run:
    """A trained model with what it needs to answer queries, independent of the dataset folder.

    ``split`` is the split of the prior the run was trained on (its train positives are the graph, its test
    pairs are what the run is evaluated on); ``info["split"]`` holds its kind and seed. ``outside_prior`` holds
    the prior's edges from regulators the run does not measure onto its genes (``outside_prior.csv``; empty for
    a run saved before it existed): what their knockouts start from. ``sample_info`` describes the samples
    (indexed by sample: cell group, condition, ...; ``sample_info.csv``, or None): what a knockout's context is
    chosen by (:mod:`~mtlgrn_core.answers.contexts`).
    """

    config: TrainConfig
    shape: ModelShape
    state: dict[str, torch.Tensor]
    inputs: ModelInputs
    genes: tuple[str, ...]
    tfs: tuple[str, ...]
    samples: tuple[str, ...]
    prior: pd.DataFrame
    split: EdgeSplit
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    path: Path | None = None
    outside_prior: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "target", "sign"]))
    sample_info: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.gene_index = {g: i for i, g in enumerate(self.genes)}
        self._model: MTLGRN | None = None
        self._tensors: GeneTensors | None = None
        self._z: torch.Tensor | None = None
        self._responses: LinearModel | None = None
        self._transfer: TransferResponse | None = None
        self._not_measured: tuple[pd.DataFrame, list[str]] | None = None  # (outside_prior, its regulators)

    @property
    def tasks(self) -> list[str]:
        """The tasks this run was trained on."""
        return list(self.info.get("tasks", []))

    def model(self) -> MTLGRN:
        """The network in eval mode on the CPU (built once). With the embeddings already there (saved with the
        run), without its message passing: nothing a query asks needs it, and PyTorch Geometric stays unloaded."""
        if self._model is None:
            encoder = self._z is None
            with isolated():  # its random initialisation is overwritten: it must not consume a training's draws
                model = MTLGRN(self.shape, encoder=encoder)
            state = self.state if encoder else {k: v for k, v in self.state.items() if not k.startswith("gat.")}
            model.load_state_dict(state)
            self._model = model.eval()
        return self._model

    def tensors(self) -> GeneTensors:
        if self._tensors is None:
            self._tensors = GeneTensors(self.inputs, "cpu")
        return self._tensors

    def embeddings(self) -> torch.Tensor:
        """Gene embeddings Z (computed once, or read with the run)."""
        if self._z is None:
            with torch.no_grad():
                self._z = self.model().encode(self.tensors())
        return self._z

    def linear_responses(self) -> LinearModel:
        """Each gene's linear response to its regulators in the run's whole known network (``prior``: the
        edges held out to evaluate edge prediction are known to the user all the same), ridge-fitted on the
        run's standardised expression (computed once, or read with the run): what every knockout prediction
        starts from (:func:`mtlgrn_core.answers.infer.predict_knockout`). Training fits the same model along its own
        graph only, so that no held-out edge reaches the knockout head; with an edge split the prediction
        therefore carries the change along more edges than the head saw in training. The expression is the
        run's own inputs, saved with it: a bootstrap member's (``info["bootstrap"]``) is its resample of the
        samples (:mod:`mtlgrn_core.inputs.bootstrap`), so a reloaded member refits the responses it trained with."""
        if self._responses is None:
            sources = self.prior["source"].map(self.gene_index).to_numpy(dtype=np.int64)
            targets = self.prior["target"].map(self.gene_index).to_numpy(dtype=np.int64)
            self._responses = fit_observational_model(self.inputs.expression, np.stack([sources, targets]))
        return self._responses

    def transfer_response(self) -> TransferResponse:
        """What the run's measured perturbations teach about a knockout of a regulator it does not measure
        (:func:`~mtlgrn_core.model.outside_regulators.dataset_transfer`, set by training and saved as
        ``transfer.npz``)."""
        if self._transfer is None:  # a run saved before transfer.npz existed: its measured knockouts only
            edges = pd.concat([self.prior, self.outside_prior], ignore_index=True)
            perturbed = [self.genes[g] for g in np.asarray(self.inputs.ko_genes, dtype=np.int64)]
            self._transfer = learn_transfer(self.inputs.ko_response, perturbed, edges, self.genes)
        return self._transfer

    def set_transfer_response(self, transfer: TransferResponse | None) -> None:
        """Use ``transfer`` (learned in training, or read with the run; None: learn it from the run's own
        measured knockouts on first use)."""
        self._transfer = transfer

    def regulators_not_measured(self) -> list[str]:
        """The prior's regulators this run does not measure that regulate one of its genes (they can be
        knocked out: :mod:`~mtlgrn_core.model.outside_regulators`); computed once per ``outside_prior`` table (every
        parsed query asks)."""
        if self._not_measured is None or self._not_measured[0] is not self.outside_prior:
            self._not_measured = (self.outside_prior, regulators_not_measured(self.outside_prior))
        return self._not_measured[1]

    def use_saved(self, responses: LinearModel | None, embeddings: torch.Tensor | None) -> None:
        """Take the linear responses and embeddings saved with the run instead of computing them on first use
        (``None``: computed as before)."""
        self._responses, self._z = responses, embeddings
