"""Training: ``fit(dataset, config, on_epoch=...) -> Run``.

Follows BENCHMARK.md section 1: the prior network is split into train / validation / test pairs (or a given
split is used, of its own kind); only the train positives form the message-passing graph and the edge-task
positives; fresh negatives are drawn from the train negatives every epoch; validation AUPRC and, with
perturbations, the knockout head's R^2 on genes held out of the whole fit choose the checkpoint (see
:func:`fit`: the model is then refitted on every sample); the test pairs are scored once at the end, beside
the baselines on the very same pairs, and the split is stored with the run.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.bootstrap import bootstrap_dataset, bootstrap_info
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.features import ModelInputs, build_inputs, single_perturbed_genes
from mtlgrn_core.model.linear_model import fit_observational_model
from mtlgrn_core.model.memory_guard import check_memory
from mtlgrn_core.model.metrics import edge_metrics
from mtlgrn_core.model.network import MTLGRN, GeneTensors, ModelShape
from mtlgrn_core.model.outside_regulators import dataset_transfer
from mtlgrn_core.model.pair_scoring import pair_batch_size, score_pairs
from mtlgrn_core.model.perturbation_set import PerturbationSet
from mtlgrn_core.model.randomness import RandomStream
from mtlgrn_core.model.run import Run
from mtlgrn_core.model.split_metrics import test_metrics
from mtlgrn_core.model.splits import EDGE_GROUPED, TF, TRAIN, VAL, EdgeSplit, draw_split


@dataclass
class EpochInfo:
    """What the progress callback receives after each epoch."""

    epoch: int
    epochs: int
    losses: dict[str, float]
    validation: dict[str, float]
    best_epoch: int
    elapsed: float
    seconds_left: float
    phase: str = "train"  # "train", or "refit": the second fit on every sample (see fit)


EXPLODING_LOSS_FACTOR = 1e3  # a total loss this many times the lowest so far has exploded ...
LOSS_FLOOR = 1e-2  # ... where "the lowest so far" is taken as at least this (a near-zero loss may triple)
EVIDENCE_START_DRAWS = 10  # training steps whose pairs the fitted evidence start learns from
EVIDENCE_START_NEGATIVES = 10  # negatives per positive there
EVIDENCE_LR_FACTOR = 0.1  # the linear evidence term moves slowly from its start (see _optimizer)
KNOCKOUT_VALIDATION_MIN = 10  # genes perturbed alone needed before a tenth of them validates the knockout head


class TrainingDiverged(DataValidationError):
    """Training stopped because its loss or gradients stopped being finite numbers, or the loss exploded.

    ``run`` is the best model before that (its test metrics computed), for the caller to save; ``None``
    when the first epoch already diverged. ``epoch`` is the epoch that diverged.
    """

    def __init__(self, message: str, *, epoch: int, run: Run | None):
        super().__init__(message)
        self.epoch, self.run = epoch, run


class _Diverged(Exception):
    """Raised by a training step that must not be applied (the reason is the message)."""


def divergence(total: float, grad_norm: float, lowest: float) -> str | None:
    """Why a step with total loss ``total`` and gradient norm ``grad_norm`` must not be applied (``None``
    when it may): a non-finite loss or gradient, or a loss over ``EXPLODING_LOSS_FACTOR`` times the lowest
    loss so far (``lowest``, floored at ``LOSS_FLOOR``)."""
    if not math.isfinite(total):
        return f"loss = {total}"
    if not math.isfinite(grad_norm):
        return f"gradient norm = {grad_norm}"
    if total > EXPLODING_LOSS_FACTOR * max(lowest, LOSS_FLOOR):
        return f"loss = {total:.4g}, over {EXPLODING_LOSS_FACTOR:g} times the lowest so far ({lowest:.4g})"
    return None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DataValidationError("device 'cuda' was asked for but no GPU is available. Use 'auto' or 'cpu'.")
    return torch.device(name)


CUBLAS_WORKSPACE = ":4096:8"  # the cuBLAS workspace setting that makes its matrix products deterministic


def deterministic_device(device: torch.device) -> None:
    """Before a fit on a GPU: ask torch for its deterministic CUDA kernels where they exist (process-wide
    settings; on the CPU nothing is changed).

    - ``torch.use_deterministic_algorithms(True, warn_only=True)``: ``scatter_add`` / ``index_add`` /
      ``index_put`` (PyG's attention sums, the gradients of gathers) take their deterministic kernels; an op
      without one warns instead of failing the fit. PyG's attention softmax takes a scatter maximum
      (``scatter_reduce`` ``amax``, as do the pair evidence and the knockout depth): atomics, but a maximum is
      the same in any order and no gradient flows through these. ``torch.sparse.mm`` (the knockout head's
      propagation, cuSPARSE) is outside torch's switch and may still differ in the last bits.
    - cuDNN deterministic, without benchmarking.
    - ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless set: it must be set before the process's first cuBLAS call
      (torch reads it once), so a server that trains on a GPU after other GPU work should set it in its
      environment.
    """
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def make_split(dataset: Dataset, kind: str, seed: int) -> EdgeSplit:
    """BENCHMARK.md section 1 split (of kind ``kind``) of the dataset's prior network over its candidate pairs."""
    return draw_split(dataset.n_genes, dataset.tf_indices, dataset.edge_indices(), kind, seed)


def knockout_validation_genes(dataset: Dataset, config: TrainConfig) -> np.ndarray:
    """The genes whose perturbations judge the knockout head (gene indices, ascending; empty when none do).

    With the knockout task on and at least ``KNOCKOUT_VALIDATION_MIN`` genes perturbed alone, a tenth of
    those genes (at least one), drawn with ``default_rng(config.seed)``, is held out: every sample that
    perturbs one of them (any dose, alone or combined) leaves the training data and every input built from
    it, so the head is judged on genes it never saw perturbed (the question users ask of it).
    """
    genes = single_perturbed_genes(dataset)
    if config.task_weights["knockout"] <= 0 or len(genes) < KNOCKOUT_VALIDATION_MIN:
        return np.zeros(0, dtype=np.int64)
    n_val = max(1, int(round(0.1 * len(genes))))
    return np.sort(np.random.default_rng(config.seed).permutation(genes)[:n_val])


def edge_decoder(config: TrainConfig) -> str:
    """The decoder ``config.edge_decoder`` stands for (resolves ``auto``: the linear evidence decoder under the
    TF hold-out, the validated one otherwise, the full one without pair evidence)."""
    if config.edge_decoder != "auto":
        return config.edge_decoder
    if not config.pair_evidence:
        return "full"
    return "evidence" if config.split == TF else "validated"


def active_tasks(config: TrainConfig, split: EdgeSplit, inputs: ModelInputs) -> list[str]:
    """Tasks with a positive weight and the data they need."""
    tasks = []
    if config.task_weights["edge"] > 0 and split.positive[split.role == TRAIN].any():
        tasks.append("edge")
    if config.task_weights["knockout"] > 0 and len(inputs.pert_samples):
        tasks.append("knockout")
    if config.task_weights["expression"] > 0:
        tasks.append("expression")
    return tasks


def fit(dataset: Dataset, config: TrainConfig | None = None, *,
        on_epoch: Callable[[EpochInfo], None] | None = None, split: EdgeSplit | None = None,
        stop: threading.Event | None = None) -> Run:
    """Train MTLGRN on ``dataset``.

    Nothing held out reaches an input: the split's validation and test pairs never enter the graph or the
    edge task. When the knockout head is judged (:func:`knockout_validation_genes`), training runs twice:

    1. the judged fit: the samples that perturb the validation genes are left out of everything (expression,
       features, knockout z-scores and paths, the knockout loss and its start) and only judge the knockout
       head, epoch by epoch (validation R^2 on genes it never saw perturbed);
    2. the refit on every sample (so that the kept model loses no data), same seed and settings, at most as
       many epochs; its checkpoint is chosen by the same rule, with its own edge validation and the judged
       fit's knockout R^2 at the same epoch. Its history is the run's (``val_knockout_r2`` there is the
       judged fit's); ``info["knockout_validation"]`` says what was held out and how each fit went.

    Without knockout validation there is one fit on every sample.

    With ``config.bootstrap``, "every sample" is the member's resample of the samples
    (:func:`~mtlgrn_core.inputs.bootstrap.bootstrap_dataset` of ``config.seed``): both fits train on it (the judged fit
    without the copies of the held-out samples, which judge it as measured); ``info["bootstrap"]`` describes it.

    Parameters
    ----------
    dataset
        The validated inputs; its prior network is split per BENCHMARK.md section 1.
    config
        Training settings (default :class:`TrainConfig()`).
    on_epoch
        Called after every epoch with an :class:`EpochInfo` (``phase`` says which fit).
    split
        A ready split (e.g. read from a split file); its kind overrides ``config.split``. Default: drawn from
        ``config.split`` and ``config.seed``.
    stop
        When this event is set, training ends after the current epoch and the best model so far is kept
        (a stop during the judged fit keeps it without refit; during the refit, the judged fit is kept).

    Returns
    -------
    Run
        The kept model with its split, its test metrics and the baselines on the same pairs.

    Raises
    ------
    DataValidationError
        Before training, when it would need more memory than is available (:func:`check_memory`).
    TrainingDiverged
        When the loss or the gradients stop being finite, or the loss explodes; it carries the best model
        before that.
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    deterministic_device(device)
    check_memory(dataset, config, device)
    if split is None:
        split = make_split(dataset, config.split, config.seed)
    elif split.kind != config.split:
        config = replace(config, split=split.kind)  # the split's own kind decides how training hides edges
    held = knockout_validation_genes(dataset, config)
    trained = bootstrap_dataset(dataset, config.seed) if config.bootstrap else dataset
    bootstrap = bootstrap_info(dataset, config.seed) if config.bootstrap else None
    if held.size == 0:
        first = _Stage(trained, config, split, device, bootstrap=bootstrap)
        first.train(on_epoch, stop)
        return first.finish(split)
    held_samples = dataset.samples_perturbing(held)
    first = _Stage(trained.without_samples(trained.samples_perturbing(held)), config, split, device,
                   validation=dataset.without_samples(set(dataset.samples) - held_samples), bootstrap=bootstrap)
    first.train(on_epoch, stop)
    first.info["knockout_validation"] = {"genes": [dataset.genes[g] for g in held],
                                         "samples": len(held_samples), "refit": False,
                                         "judged_epochs": len(first.history),
                                         "judged_best_epoch": first.trainer.best_epoch}
    if first.trainer.diverged is not None or first.trainer.stopped or first.trainer.best_epoch == 0:
        return first.finish(split)
    final = _Stage(trained, config, split, device, bootstrap=bootstrap)
    final.train(on_epoch, stop, knockout_r2=[row["val_knockout_r2"] for row in first.history])
    if final.trainer.diverged is not None:
        epoch, reason = final.trainer.diverged
        first.info["knockout_validation"]["refit_diverged"] = f"epoch {epoch} ({reason}); the judged fit is kept"
    if final.trainer.diverged is not None or final.trainer.stopped:
        first.trainer.stopped = final.trainer.stopped
        return first.finish(split)  # the judged model stands
    final.info.update(stopped_early=False,
                      train_seconds=round(first.trainer.elapsed + final.trainer.elapsed, 2),
                      input_seconds=round(first.info["input_seconds"] + final.info["input_seconds"], 2),
                      knockout_validation={**first.info["knockout_validation"], "refit": True,
                                           "refit_seconds": round(final.trainer.elapsed, 2)})
    return final.finish(split)


class _Stage:
    """One fit: the inputs built from ``dataset``, the trainer, and the run it makes."""

    def __init__(self, dataset: Dataset, config: TrainConfig, split: EdgeSplit, device: torch.device, *,
                 validation: Dataset | None = None, bootstrap: dict | None = None):
        start = time.perf_counter()
        self.dataset, self.config = dataset, config
        inputs = build_inputs(dataset, split.positives(TRAIN), modalities=config.modalities, kmer_k=config.kmer_k)
        self.inputs, self.tasks = inputs, active_tasks(config, split, inputs)
        if not self.tasks:
            raise DataValidationError("no task can run: give a network.csv with edges among the TFs, perturbed "
                                      "samples in samples.csv, or a positive expression weight.")
        self.shape = ModelShape(feature_dims={k: v.shape[1] for k, v in inputs.features.items()},
                                n_genes=dataset.n_genes, n_samples=len(dataset.samples), hidden=config.hidden,
                                heads=config.heads, layers=config.layers, dropout=config.dropout,
                                pair_evidence=config.pair_evidence, edge_decoder=edge_decoder(config),
                                regulator_similarity=config.pair_evidence and config.regulator_similarity)
        # the knockout head learns what each gene's linear response to its regulators (fitted on this fit's
        # samples, along its graph) leaves unexplained
        responses = fit_observational_model(inputs.expression, inputs.graph)
        train_perts = PerturbationSet.of(dataset, inputs.baseline, inputs.scale, responses, device)
        val_perts = PerturbationSet.of(validation, inputs.baseline, inputs.scale, responses, device) \
            if validation is not None and "knockout" in self.tasks else None
        observed_seen = torch.as_tensor(responses.each_alone(inputs.ko_genes, inputs.baseline / inputs.scale),
                                        dtype=torch.float32, device=device)
        # initialisation and dropout draw from this fit's own stream, whatever else trains in the process: the
        # initialisation from torch's global generator with the stream installed (locked, once per fit), the
        # dropout of each step from the stream's generator (no lock, see _Trainer.run)
        self.random = RandomStream(config.seed, device)
        with self.random.installed():
            self.trainer = _Trainer(config, self.shape, inputs, split, self.tasks, device, train_perts, val_perts,
                                    observed_seen)
        self.history: list[dict] = []
        # building the inputs (graph, features, knockout responses) and the model: what precedes the epochs
        self.info: dict = {"input_seconds": round(time.perf_counter() - start, 2), "bootstrap": bootstrap}

    def train(self, on_epoch, stop, *, knockout_r2: list[float] | None = None) -> None:
        """Train (see :meth:`_Trainer.run`; ``knockout_r2`` for the refit)."""
        self.history = self.trainer.run(on_epoch, stop, self.random, knockout_r2=knockout_r2)

    def finish(self, split: EdgeSplit) -> Run:
        """The run of this fit (test metrics computed); raises :class:`TrainingDiverged` when it diverged."""
        trainer = self.trainer
        state = {k: v.detach().cpu().clone() for k, v in trainer.best_state.items()}
        info = {"tasks": self.tasks, "dataset": self.dataset.name, "modalities": sorted(self.inputs.features),
                "best_epoch": trainer.best_epoch, "epochs_run": len(self.history),
                "stopped_early": trainer.stopped, "train_seconds": round(trainer.elapsed, 2),
                "device": str(trainer.device), "split": {"kind": split.kind, "seed": split.seed},
                "log_transformed": self.dataset.log_transformed, "knockout_validation": None,
                "non_negative": bool(self.dataset.expression.min() >= 0),
                "edge_decoder_kept": _decoder_kept(self.shape, state),
                "dataset_summary": self.dataset.summary(), "dataset_notes": list(self.dataset.warnings), **self.info}
        run = Run(config=self.config, shape=self.shape, state=state, inputs=self.inputs, genes=self.dataset.genes,
                  tfs=self.dataset.tfs, samples=self.dataset.samples, prior=self.dataset.prior.copy(),
                  history=self.history, info=info, split=split,
                  outside_prior=self.dataset.outside_prior.copy(), sample_info=self.dataset.sample_info)
        run.set_transfer_response(dataset_transfer(self.dataset, self.inputs))
        start = time.perf_counter()
        run.metrics = test_metrics(run)
        run.info["evaluation_seconds"] = round(time.perf_counter() - start, 2)
        if trainer.diverged is not None:
            raise _diverged_error(trainer, run)
        return run


def _diverged_error(trainer: _Trainer, run: Run) -> TrainingDiverged:
    """The error of a diverged fit, carrying ``run`` (the best checkpoint) when an epoch before was good."""
    epoch, reason = trainer.diverged
    kept = run if trainer.best_epoch else None
    what = f"the best model before that (epoch {trainer.best_epoch}) is kept" if kept else "no model is kept"
    lr = trainer.config.lr
    run.info["diverged"] = f"epoch {epoch} ({reason})"
    return TrainingDiverged(f"training diverged at epoch {epoch} ({reason}): {what}. Lower the learning rate "
                            f"(now {lr:g}), e.g. to {lr / 10:g}, and train again.", epoch=epoch, run=kept)


class _Trainer:
    def __init__(self, config: TrainConfig, shape: ModelShape, inputs: ModelInputs, split: EdgeSplit,
                 tasks: list[str], device: torch.device, perturbations: PerturbationSet,
                 validation: PerturbationSet | None, observed_seen: torch.Tensor):
        self.config, self.tasks, self.device, self.split_kind = config, tasks, device, split.kind
        self.model = MTLGRN(shape).to(device)
        self.data = GeneTensors(inputs, device)
        self.full_graph = (self.data.graph, self.data.graph_sign)
        src, dst, labels = split.pairs(TRAIN)
        labels = labels.astype(bool)
        self.pos = torch.as_tensor(np.stack([src[labels], dst[labels]]), device=device)
        self.neg = torch.as_tensor(np.stack([src[~labels], dst[~labels]]), device=device)
        self.neg_weight = _degree_weights(self.pos, self.neg, inputs.n_genes) \
            if config.negative_sampling == "degree" else None
        self.neg_cdf = None if self.neg_weight is None else self.neg_weight.cumsum(0)  # for inverse-CDF draws
        self.negative_pool, self.pool_cdf = self.neg, self.neg_cdf
        self.val_evidence: torch.Tensor | None = None
        vsrc, vdst, self.val_labels = split.pairs(VAL)
        self.val_pairs = (torch.as_tensor(vsrc, device=device), torch.as_tensor(vdst, device=device))
        self.perturbations, self.ko_validation = perturbations, validation
        self.observed_seen = observed_seen  # linear responses' change for each measured gene knocked out alone
        if len(perturbations):
            with torch.no_grad():
                self.model.ko_offset.copy_(perturbations.mean_response())
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        if _fitted_start(config, shape) and "edge" in tasks:
            self._fit_evidence_start()
        self.optimizer = _optimizer(self.model, config)
        # the weights judged and kept: the trained model's, or their running average (config.weight_average)
        self.averaged = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(config.weight_average)) \
            if config.weight_average > 0 else None
        self.judged = self.model if self.averaged is None else self.averaged.module
        self.best_state = {k: v.clone() for k, v in self.judged.state_dict().items()}
        self.best_score, self.best_epoch, self.stopped, self.elapsed = -math.inf, 0, False, 0.0
        self.lowest_loss, self.diverged = math.inf, None  # diverged: (epoch, reason) once it has

    def _fit_evidence_start(self) -> None:
        """Start the linear evidence term at a logistic regression of the training pairs' evidence: the pairs
        and graphs of ``EVIDENCE_START_DRAWS`` training steps (each step's supervised positives hidden from the
        graph, as in training), ``EVIDENCE_START_NEGATIVES`` negatives per positive drawn from its pool."""
        rows, labels = [], []
        with torch.no_grad():
            for _ in range(EVIDENCE_START_DRAWS):
                pos = self._hide_supervised_edges()
                pool = self.negative_pool
                pick = torch.randperm(pool.shape[1], generator=self.generator)[:EVIDENCE_START_NEGATIVES * pos.shape[1]]
                neg = pool[:, pick.to(self.device)]
                rows += [self.model.pair_features(self.data, pos[0], pos[1]),
                         self.model.pair_features(self.data, neg[0], neg[1])]
                labels += [np.ones(pos.shape[1]), np.zeros(neg.shape[1])]
                self.data.graph, self.data.graph_sign = self.full_graph
        labels = np.concatenate(labels)
        if labels.all() or not labels.any():
            return
        fitted = LogisticRegression(C=1.0, max_iter=2000).fit(torch.cat(rows).cpu().numpy(), labels)
        with torch.no_grad():
            self.model.pair_linear.weight.copy_(torch.as_tensor(fitted.coef_, dtype=torch.float32))
            self.model.pair_linear.bias.copy_(torch.as_tensor(fitted.intercept_, dtype=torch.float32))

    # -- losses ----------------------------------------------------------------------------------------
    def _subset(self, n: int) -> torch.Tensor:
        k = min(n, self.config.max_batch_samples)
        return torch.randperm(n, generator=self.generator)[:k].sort().values

    def _knockout_error(self, z: torch.Tensor, perts: PerturbationSet, model: MTLGRN | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Squared errors and squared true changes of the perturbations ``perts`` (predicted by ``model``,
        default the trained one), and the mask that leaves the perturbed genes themselves out."""
        pred = (model or self.model).knockout_delta(z, self.data, perts.genes, perts.doses,
                                         torch.as_tensor(perts.offsets, device=self.device), perts.observed,
                                         self.observed_seen)
        mask = torch.ones_like(perts.targets)
        owner = torch.repeat_interleave(torch.arange(len(perts), device=self.device),
                                        torch.as_tensor(np.diff(perts.offsets), device=self.device))
        mask[owner, perts.genes] = 0.0  # the perturbed gene itself is set by the dose, not predicted
        return (pred - perts.targets) ** 2 * mask, perts.targets ** 2 * mask, mask

    def edge_loss(self, z: torch.Tensor) -> torch.Tensor:
        pos = self.supervised
        n_neg = min(self.negative_pool.shape[1], self.config.negative_ratio * pos.shape[1])
        if self.pool_cdf is None:
            pick = torch.randint(self.negative_pool.shape[1], (n_neg,), generator=self.generator)
        else:  # inverse-CDF draws in proportion to the weights: no cap on the pool's size
            draws = torch.rand(n_neg, generator=self.generator, dtype=torch.float64) * self.pool_cdf[-1]
            pick = torch.searchsorted(self.pool_cdf, draws).clamp(max=self.pool_cdf.numel() - 1)
        neg = self.negative_pool[:, pick.to(self.device)]
        src, dst = torch.cat([pos[0], neg[0]]), torch.cat([pos[1], neg[1]])
        target = torch.cat([torch.ones(pos.shape[1], device=self.device),
                            torch.zeros(neg.shape[1], device=self.device)])
        if self.model.evidence_mlp is None:
            return F.binary_cross_entropy_with_logits(self.model.edge_logits(z, self.data, src, dst), target)
        # validated decoder: both of its decoders learn, validation keeps one
        return sum(F.binary_cross_entropy_with_logits(logits, target)
                   for logits in self.model.validated_logits(z, self.data, src, dst)) / 2

    def knockout_loss(self, z: torch.Tensor) -> torch.Tensor:
        rows = self._subset(len(self.perturbations)).numpy()
        errors, _, mask = self._knockout_error(z, self.perturbations.rows(rows))
        return errors.sum() / mask.sum()

    def expression_loss(self, z: torch.Tensor) -> torch.Tensor:
        cols = self._subset(self.data.expression.shape[1]).to(self.device)
        pred = self.model.reconstruct(z, cols)
        return F.mse_loss(pred, self.data.expression[:, cols])

    # -- loop ------------------------------------------------------------------------------------------
    def _hide_supervised_edges(self) -> torch.Tensor:
        """Pick this epoch's supervised positives and drop them from the message-passing graph, so that
        the model learns to recognise edges it cannot see (as test edges are never in the graph).

        Under the edge hold-out a random share of the edges is hidden; under the grouped edge hold-out a
        random share of the gene pairs, both directions together (as test pairs are held out). Under the
        TF hold-out the test regulators have no visible edge at all, so training does the same: a share of
        the regulators is hidden with every edge that touches them, their out-edges are the positives and
        the negatives are drawn from their pairs only.
        """
        graph, sign = self.full_graph
        self.negative_pool, self.pool_cdf = self.neg, self.neg_cdf
        keep, supervised = self._hide_regulators(graph) if self.split_kind == TF else self._hide_pairs(graph)
        self.data.graph, self.data.graph_sign = graph[:, keep], sign[keep]
        return graph[:, supervised]

    def _hide_pairs(self, graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hide a random share of the edges (grouped edge hold-out: of the unordered gene pairs)."""
        n_edges = graph.shape[1]
        member = torch.arange(n_edges, device=self.device)
        n_units = n_edges
        if self.split_kind == EDGE_GROUPED:
            n = self.data.n_genes
            unit = torch.minimum(graph[0] * n + graph[1], graph[1] * n + graph[0])
            units, member = torch.unique(unit, return_inverse=True)
            n_units = units.numel()
        order = torch.randperm(n_units, generator=self.generator).to(self.device)
        n_hidden = max(1, int(round(self.config.supervision_fraction * n_units)))
        hidden_unit = torch.zeros(n_units, dtype=torch.bool, device=self.device)
        hidden_unit[order[:n_hidden]] = True
        hidden = hidden_unit[member]
        return torch.nonzero(~hidden).squeeze(1), torch.nonzero(hidden).squeeze(1)

    def _hide_knockout_features(self, features: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor],
                                                                                   torch.Tensor]:
        """This epoch's gene features with the measured responses of a random share of the knocked-out genes
        taken out, and those genes counted as never perturbed (``GeneTensors.response_seen`` for this epoch),
        so that the network learns to predict genes whose response it cannot read (as for genes never
        perturbed)."""
        n_ko = self.data.ko_genes.numel()
        order = torch.randperm(n_ko, generator=self.generator).to(self.device)
        hidden = order[:int(round(self.config.supervision_fraction * n_ko))]
        seen = self.data.response_seen.clone()
        seen[self.data.ko_genes[hidden]] = 0.0
        if "knockout_out" not in features:
            return features, seen
        keep = torch.ones(n_ko, device=self.device)
        keep[hidden] = 0.0
        return {**features, "knockout_out": features["knockout_out"] * keep[:, None],
                "knockout_in": features["knockout_in"] * keep[None, :]}, seen

    def _hide_regulators(self, graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        regulators = torch.unique(graph[0])
        order = torch.randperm(regulators.numel(), generator=self.generator).to(self.device)
        n_hidden = max(1, int(round(self.config.supervision_fraction * regulators.numel())))
        hidden = torch.zeros(self.data.n_genes, dtype=torch.bool, device=self.device)
        hidden[regulators[order[:n_hidden]]] = True
        touches = hidden[graph[0]] | hidden[graph[1]]
        in_pool = hidden[self.neg[0]]
        if in_pool.any():
            self.negative_pool = self.neg[:, in_pool]
            self.pool_cdf = None if self.neg_weight is None else self.neg_weight[in_pool.cpu()].cumsum(0)
        return torch.nonzero(~touches).squeeze(1), torch.nonzero(hidden[graph[0]]).squeeze(1)

    def step(self) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad()
        if "edge" in self.tasks:
            self.supervised = self._hide_supervised_edges()
        features, seen = self.data.features, self.data.response_seen
        if "knockout" in self.tasks and self.data.ko_genes.numel():
            self.data.features, self.data.response_seen = self._hide_knockout_features(features)
        z = self.model.encode(self.data)
        self.data.features = features
        losses = {task: getattr(self, f"{task}_loss")(z) for task in self.tasks}
        self.data.graph, self.data.graph_sign = self.full_graph
        self.data.response_seen = seen
        total = sum(self.config.task_weights[t] * losses[t] for t in self.tasks)
        total.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0))
        values = {t: float(v.detach()) for t, v in losses.items()} | {"total": float(total.detach())}
        reason = divergence(values["total"], grad_norm, self.lowest_loss)
        if reason is not None:
            raise _Diverged(reason)  # before the step: the weights stay as they were
        self.optimizer.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)
        self.lowest_loss = min(self.lowest_loss, values["total"])
        return values

    def validate(self) -> dict[str, float]:
        """Validation AUPRC / AUROC of the edge task and the knockout head's explained variance on the
        held-out perturbations (``knockout_r2``: 1 - squared error / squared change), where each applies."""
        has_edges = "edge" in self.tasks and self.val_labels.any()
        if not has_edges and self.ko_validation is None:
            return {}
        model = self.judged
        model.eval()
        out: dict[str, float] = {}
        with torch.no_grad():
            z = model.encode(self.data)
            if has_edges:
                out.update(self._edge_validation(model, z))
            if self.ko_validation is not None:
                errors, changes, _ = self._knockout_error(z, self.ko_validation, model)
                out["knockout_r2"] = float(1.0 - errors.sum() / changes.sum().clamp(min=1e-12))
        return out

    def _edge_validation(self, model: MTLGRN, z: torch.Tensor) -> dict[str, float]:
        """Validation AUPRC / AUROC. For the validated decoder, of its two decoders: the better sets
        ``model.embedding_gate`` (kept with the checkpoint) and is reported; the evidence's alone is also
        reported as ``auprc_evidence``."""
        scored = [edge_metrics(scores, self.val_labels) for scores in self._validation_scores(model, z)]
        if model.evidence_mlp is None:
            return {"auroc": scored[0]["auroc"], "auprc": scored[0]["auprc"]}
        full, alone = scored
        best = full if full["auprc"] > alone["auprc"] else alone
        model.embedding_gate.fill_(1.0 if best is full else 0.0)
        return {"auroc": best["auroc"], "auprc": best["auprc"], "auprc_evidence": alone["auprc"],
                "embedding_gate": float(model.embedding_gate)}

    def _validation_scores(self, model: MTLGRN, z: torch.Tensor) -> list[np.ndarray]:
        """Edge probabilities of the validation pairs, one array per decoder (the validated decoder's two:
        full, evidence alone). Their pairwise evidence depends only on the data and the (full, fixed) graph,
        so it is computed once per fit: on the large BEELINE sets it was most of each epoch."""
        src, dst = self.val_pairs
        if model.pair_linear is None:
            return [score_pairs(model, z, self.data, src, dst)]
        step = pair_batch_size(self.data.expression.shape[1])
        batches = [slice(i, i + step) for i in range(0, len(src), step)]
        if self.val_evidence is None:
            self.val_evidence = torch.cat([model.pair_features(self.data, src[b], dst[b]) for b in batches])
        if model.evidence_mlp is None:
            logits = [(model.edge_logits(z, self.data, src[b], dst[b], evidence=self.val_evidence[b]),)
                      for b in batches]
        else:
            logits = [model.validated_logits(z, self.data, src[b], dst[b], evidence=self.val_evidence[b])
                      for b in batches]
        return [torch.sigmoid(torch.cat(parts)).cpu().numpy() for parts in zip(*logits)]

    @staticmethod
    def checkpoint_score(val: dict[str, float], losses: dict[str, float]) -> float:
        """What the kept checkpoint maximises: the mean of the validation AUPRC and the knockout R^2 (each
        where measured), else the negated training loss."""
        measured = [val[k] for k in ("auprc", "knockout_r2") if k in val]
        return float(np.mean(measured)) if measured else -losses["total"]

    def run(self, on_epoch, stop, random: RandomStream, *, knockout_r2: list[float] | None = None) -> list[dict]:
        """Train up to ``config.epochs`` epochs, keeping the best checkpoint (:meth:`checkpoint_score`) and
        stopping early after ``config.patience`` epochs without a better one. Each step draws its dropout from
        ``random`` (the fit's own stream, active in this thread only: other trainings' steps run meanwhile).

        ``knockout_r2`` (the refit): the knockout head's validation R^2 per epoch as the judged fit measured
        it; the refit has nothing held out to measure it on, so epoch ``e`` is scored with the judged fit's
        R^2 at ``e`` beside its own edge validation, and trains at most as many epochs as the judged fit.
        """
        refit = knockout_r2 is not None
        n_epochs = len(knockout_r2) if refit else self.config.epochs
        phase = "refit" if refit else "train"
        history: list[dict] = []
        start = time.perf_counter()
        since_best = 0
        for epoch in range(1, n_epochs + 1):
            try:
                with random.active():
                    losses = self.step()
            except _Diverged as exc:
                self.diverged = (epoch, str(exc))
                break
            val = self.validate()
            if refit:
                val["knockout_r2"] = knockout_r2[epoch - 1]
            score = self.checkpoint_score(val, losses)
            if score > self.best_score:
                self.best_score, self.best_epoch, since_best = score, epoch, 0
                self.best_state = {k: v.detach().clone() for k, v in self.judged.state_dict().items()}
            else:
                since_best += 1
            self.elapsed = time.perf_counter() - start
            history.append({"epoch": epoch, **{f"loss_{k}": v for k, v in losses.items()},
                            **{f"val_{k}": v for k, v in val.items()}, "seconds": round(self.elapsed, 3)})
            if on_epoch is not None:
                left = self.elapsed / epoch * (n_epochs - epoch)
                on_epoch(EpochInfo(epoch, n_epochs, losses, val, self.best_epoch, self.elapsed, left, phase))
            if since_best >= self.config.patience:
                break
            if stop is not None and stop.is_set():
                self.stopped = True
                break
        return history


def _decoder_kept(shape: ModelShape, state: dict[str, torch.Tensor]) -> str:
    """The edge decoder a run scores with: its shape's, or for the validated decoder the one validation kept."""
    if shape.edge_decoder != "validated" or "embedding_gate" not in state:
        return shape.edge_decoder
    return "full" if float(state["embedding_gate"]) else "evidence_mlp"


def _fitted_start(config: TrainConfig, shape: ModelShape) -> bool:
    """Whether the linear evidence term starts fitted to the training pairs (``config.evidence_start``)."""
    if not shape.pair_evidence:
        return False
    return config.evidence_start == "fitted" or (config.evidence_start == "auto" and shape.edge_decoder == "evidence")


def _degree_weights(pos: torch.Tensor, neg: torch.Tensor, n_genes: int) -> torch.Tensor:
    """Sampling weight of each negative pair for ``negative_sampling="degree"``: ``(out-degree of its regulator
    + 1) x (in-degree of its target + 1)`` in the training positives (on the CPU, for the sampler)."""
    out_degree = torch.bincount(pos[0].cpu(), minlength=n_genes).double() + 1.0
    in_degree = torch.bincount(pos[1].cpu(), minlength=n_genes).double() + 1.0
    return out_degree[neg[0].cpu()] * in_degree[neg[1].cpu()]


def _optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam; the linear evidence term learns ``EVIDENCE_LR_FACTOR`` times slower than the rest, so that it
    moves away from its start (the transitive-reduced knockout z-score, or the fit of ``evidence_start``) only
    as far as many epochs of training edges agree (on DREAM4 a full rate lost 0.01-0.05 test AUPRC under the TF
    hold-out)."""
    evidence = [p for name, p in model.named_parameters() if name.startswith("pair_linear.")]
    rest = [p for name, p in model.named_parameters() if not name.startswith("pair_linear.")]
    groups = [{"params": rest}] + ([{"params": evidence, "lr": config.lr * EVIDENCE_LR_FACTOR}] if evidence else [])
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
