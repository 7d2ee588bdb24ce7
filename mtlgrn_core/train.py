"""Training: ``fit(dataset, config, on_epoch=...) -> Run``.

Follows BENCHMARK.md section 1: the prior network is split into train / validation / test pairs; only the
train positives form the message-passing graph and the edge-task positives; fresh negatives are drawn from the
train negatives every epoch; validation AUPRC drives early stopping; the test pairs are scored once at the end,
beside the degree and |Pearson| baselines on the very same pairs.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import evaluate
from .config import TrainConfig
from .data import Dataset
from .errors import DataValidationError
from .features import ModelInputs, build_inputs
from .infer import pair_batch_size, score_pairs
from .model import GeneTensors, ModelShape, MTLGRN, pair_evidence
from .runstore import Run
from .splits import TEST, TRAIN, VAL, EdgeSplit, edge_holdout_split, tf_holdout_split


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


EXPLODING_LOSS_FACTOR = 1e3  # a total loss this many times the lowest so far has exploded ...
LOSS_FLOOR = 1e-2  # ... where "the lowest so far" is taken as at least this (a near-zero loss may triple)
EVIDENCE_LR_FACTOR = 0.1  # the linear evidence term starts at the transitive-reduced knockout z-score
KNOCKOUT_VALIDATION_MIN = 10  # perturbed samples needed before a tenth of them validates the knockout head


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


MEMORY_LIMIT_ENV = "MTLGRN_MEMORY_LIMIT_MB"  # caps the memory a fit may plan to use (servers, tests)
FIT_OVERHEAD_BYTES = 40 << 20  # what a fit of the smallest dataset takes beyond its arrays (measured: 32 MB)


def estimate_fit_memory(dataset: Dataset, config: TrainConfig) -> int:
    """Bytes that :func:`fit` needs beyond what the process holds already, at its peak.

    Counted from what ``fit`` allocates (4-byte floats, 8-byte indices): the inputs it keeps (standardised
    expression, the knockout tables, the candidate-pair split, the train and validation pairs with the
    latter's evidence, the parameters with their gradients, Adam moments and kept copies), plus the largest
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
    kept = (4 * (g * n_samples + 7 * n_ko * g + n_pert * g + 512 * g) + 2 * pairs + 16 * train_pairs
            + 80 * val_pairs + 6 * 4 * parameters)
    passing = {"inputs": 20 * g * n_samples + 16 * n_ko * g + 8 * g * n_pert,
               "split": 40 * train_pairs,
               "step": (12 * edge_pairs * n_samples + 60 * rows * g + 24 * rows * n_edges + 16 * g * cols
                        + 160 * g * h + 80 * n_edges * config.heads * config.layers),
               "scoring": 12 * batch * n_samples + 100 * test_pairs}
    return int(FIT_OVERHEAD_BYTES + kept + max(passing.values()))


def available_memory(device: torch.device) -> int | None:
    """Bytes a fit may use now: free GPU memory on a GPU, else the memory the system can give without
    swapping (``MemAvailable``, within the container's limit); ``$MTLGRN_MEMORY_LIMIT_MB`` caps it.
    ``None`` when unknown."""
    limits = []
    if os.environ.get(MEMORY_LIMIT_ENV):
        limits.append(int(float(os.environ[MEMORY_LIMIT_ENV]) * 2 ** 20))
    if device.type == "cuda":
        limits.append(torch.cuda.mem_get_info(device)[0])
    else:
        limits += [m for m in (_system_available(), _container_available()) if m is not None]
    return min(limits) if limits else None


def _system_available() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _container_available() -> int | None:
    """What is left under a cgroup-v2 memory limit (a container's), when there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
    except OSError:
        return None
    return None if limit == "max" else max(int(limit) - int(used), 0)


def check_memory(dataset: Dataset, config: TrainConfig, device: torch.device) -> None:
    """Refuse (``DataValidationError``) a fit that would need more memory than is available."""
    need, have = estimate_fit_memory(dataset, config), available_memory(device)
    if have is not None and need > have:
        where = "GPU memory" if device.type == "cuda" else "memory"
        raise DataValidationError(
            f"training on these data needs about {_gib(need)} of {where}; {_gib(have)} is available. "
            f"{dataset.n_genes} genes x {len(dataset.samples)} samples with {len(dataset.tfs)} candidate "
            "regulators is too large for this machine: keep fewer genes (e.g. the most variable ones), "
            "fewer samples or fewer candidate regulators, or train on a machine with more memory.")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2 ** 30:.2f} GiB" if n_bytes >= 2 ** 30 else f"{n_bytes / 2 ** 20:.0f} MiB"


def make_split(dataset: Dataset, kind: str, seed: int) -> EdgeSplit:
    """BENCHMARK.md section 1 split of the dataset's prior network over its candidate pairs."""
    edges = dataset.edge_indices()
    make = edge_holdout_split if kind == "edge" else tf_holdout_split
    return make(dataset.n_genes, dataset.tf_indices, edges, seed)


def _ko_targets(inputs: ModelInputs, dataset_expression: np.ndarray) -> np.ndarray:
    """Standardised deltas (n_perturbations x n_genes) of the perturbed samples."""
    cols = dataset_expression[:, inputs.pert_samples].T
    return ((cols - inputs.baseline[None, :]) / inputs.scale[None, :]).astype(np.float32)


def _mean_response(targets: torch.Tensor, inputs: ModelInputs) -> torch.Tensor:
    """Mean standardised change per unit of knockout depth over the training perturbations."""
    depth = np.zeros(len(inputs.pert_samples), dtype=np.float32)
    np.maximum.at(depth, np.repeat(np.arange(len(depth)), np.diff(inputs.pert_offsets)), 1.0 - inputs.pert_doses)
    use = depth > 0.05  # knockouts and knockdowns; overexpression is too rare to set a default by
    if not use.any():
        return torch.zeros(targets.shape[1], device=targets.device)
    keep = torch.as_tensor(np.flatnonzero(use), device=targets.device)
    weights = torch.as_tensor(depth[use], device=targets.device)
    return (targets[keep] / weights[:, None]).mean(dim=0)


def edge_decoder(config: TrainConfig, inputs: ModelInputs) -> str:
    """The decoder ``config.edge_decoder`` stands for with these inputs (resolves ``auto``)."""
    if config.edge_decoder != "auto":
        return config.edge_decoder
    has_perturbations = inputs.ko_zscore_has is not None and bool(inputs.ko_zscore_has.any())
    return "evidence" if config.split == "tf" and config.pair_evidence and has_perturbations else "full"


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

    Parameters
    ----------
    dataset
        The validated inputs; its prior network is split per BENCHMARK.md section 1.
    config
        Training settings (default :class:`TrainConfig()`).
    on_epoch
        Called after every epoch with an :class:`EpochInfo`.
    split
        A ready split (e.g. read from a split file); default: drawn from ``config.split`` and ``config.seed``.
    stop
        When this event is set, training ends after the current epoch and the best model so far is kept.

    Returns
    -------
    Run
        The best model (by validation AUPRC) with its test metrics and the baselines on the same pairs.

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
    check_memory(dataset, config, device)
    split = split or make_split(dataset, config.split, config.seed)
    graph = split.positives(TRAIN)
    inputs = build_inputs(dataset, graph, modalities=config.modalities, kmer_k=config.kmer_k)
    tasks = active_tasks(config, split, inputs)
    if not tasks:
        raise DataValidationError("no task can run: give a network.csv with edges among the TFs, perturbed "
                                  "samples in samples.csv, or a positive expression weight.")
    shape = ModelShape(feature_dims={k: v.shape[1] for k, v in inputs.features.items()},
                       n_genes=dataset.n_genes, n_samples=len(dataset.samples), hidden=config.hidden,
                       heads=config.heads, layers=config.layers, dropout=config.dropout,
                       pair_evidence=config.pair_evidence, edge_decoder=edge_decoder(config, inputs))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        trainer = _Trainer(config, shape, inputs, split, dataset.expression, tasks, device)
        history = trainer.run(on_epoch, stop)
    state = {k: v.detach().cpu().clone() for k, v in trainer.best_state.items()}
    run = Run(config=config, shape=shape, state=state, inputs=inputs, genes=dataset.genes, tfs=dataset.tfs,
              samples=dataset.samples, prior=dataset.prior.copy(), history=history,
              info={"tasks": tasks, "dataset": dataset.name, "modalities": sorted(inputs.features),
                    "best_epoch": trainer.best_epoch, "epochs_run": len(history),
                    "stopped_early": trainer.stopped, "train_seconds": round(trainer.elapsed, 2),
                    "device": str(device), "split": {"kind": split.kind, "seed": config.seed},
                    "log_transformed": dataset.log_transformed})
    run.metrics = test_metrics(run, dataset, split)
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
                 expression: np.ndarray, tasks: list[str], device: torch.device):
        self.config, self.tasks, self.device = config, tasks, device
        self.model = MTLGRN(shape).to(device)
        self.data = GeneTensors(inputs, device)
        self.full_graph = (self.data.graph, self.data.graph_sign)
        src, dst, labels = split.pairs(TRAIN)
        labels = labels.astype(bool)
        self.pos = torch.as_tensor(np.stack([src[labels], dst[labels]]), device=device)
        self.neg = torch.as_tensor(np.stack([src[~labels], dst[~labels]]), device=device)
        self.negative_pool = self.neg
        self.val_evidence: torch.Tensor | None = None
        vsrc, vdst, self.val_labels = split.pairs(VAL)
        self.val_pairs = (torch.as_tensor(vsrc, device=device), torch.as_tensor(vdst, device=device))
        self.ko_target = torch.as_tensor(_ko_targets(inputs, expression), device=device)
        self.ko_genes = torch.as_tensor(inputs.pert_genes, device=device)
        self.ko_doses = torch.as_tensor(inputs.pert_doses, device=device)
        self.ko_offsets = inputs.pert_offsets
        if len(inputs.pert_samples):
            with torch.no_grad():
                self.model.ko_offset.copy_(_mean_response(self.ko_target, inputs))
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.ko_train_rows, self.ko_val_rows = self._knockout_validation_rows(len(inputs.pert_samples))
        self.optimizer = _optimizer(self.model, config)
        self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.best_score, self.best_epoch, self.stopped, self.elapsed = -math.inf, 0, False, 0.0
        self.lowest_loss, self.diverged = math.inf, None  # diverged: (epoch, reason) once it has

    def _knockout_validation_rows(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """A tenth of the perturbed samples (at least one, when there are ten or more) is kept out of the
        knockout loss to judge the knockout head, so that the kept checkpoint is one where it is trained."""
        order = torch.randperm(n_rows, generator=self.generator).numpy()
        if "knockout" not in self.tasks or n_rows < KNOCKOUT_VALIDATION_MIN:
            return np.sort(order), np.zeros(0, dtype=np.int64)
        n_val = max(1, int(round(0.1 * n_rows)))
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    # -- losses ----------------------------------------------------------------------------------------
    def _subset(self, n: int) -> torch.Tensor:
        k = min(n, self.config.max_batch_samples)
        return torch.randperm(n, generator=self.generator)[:k].sort().values

    def _knockout_error(self, z: torch.Tensor, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Squared errors and squared true changes of perturbations ``rows``, and the mask that leaves the
        perturbed genes themselves out."""
        genes, doses, offsets = _select_csr(self.ko_genes, self.ko_doses, self.ko_offsets, rows)
        pred = self.model.knockout_delta(z, self.data, genes, doses, torch.as_tensor(offsets, device=self.device))
        target = self.ko_target[torch.as_tensor(rows, device=self.device)]
        mask = torch.ones_like(target)
        owner = torch.repeat_interleave(torch.arange(len(rows), device=self.device),
                                        torch.as_tensor(np.diff(offsets), device=self.device))
        mask[owner, genes] = 0.0  # the perturbed gene itself is set by the dose, not predicted
        return (pred - target) ** 2 * mask, target ** 2 * mask, mask

    def edge_loss(self, z: torch.Tensor) -> torch.Tensor:
        pos = self.supervised
        n_neg = min(self.negative_pool.shape[1], self.config.negative_ratio * pos.shape[1])
        pick = torch.randint(self.negative_pool.shape[1], (n_neg,), generator=self.generator).to(self.device)
        neg = self.negative_pool[:, pick]
        logits_pos = self.model.edge_logits(z, self.data, pos[0], pos[1])
        logits_neg = self.model.edge_logits(z, self.data, neg[0], neg[1])
        logits = torch.cat([logits_pos, logits_neg])
        target = torch.cat([torch.ones_like(logits_pos), torch.zeros_like(logits_neg)])
        return F.binary_cross_entropy_with_logits(logits, target)

    def knockout_loss(self, z: torch.Tensor) -> torch.Tensor:
        rows = self.ko_train_rows[self._subset(len(self.ko_train_rows)).numpy()]
        errors, _, mask = self._knockout_error(z, rows)
        return errors.sum() / mask.sum()

    def expression_loss(self, z: torch.Tensor) -> torch.Tensor:
        cols = self._subset(self.data.expression.shape[1]).to(self.device)
        pred = self.model.reconstruct(z, cols)
        return F.mse_loss(pred, self.data.expression[:, cols])

    # -- loop ------------------------------------------------------------------------------------------
    def _hide_supervised_edges(self) -> torch.Tensor:
        """Pick this epoch's supervised positives and drop them from the message-passing graph, so that
        the model learns to recognise edges it cannot see (as test edges are never in the graph).

        Under the edge hold-out a random share of the edges is hidden. Under the TF hold-out the test
        regulators have no visible edge at all, so training does the same: a share of the regulators is
        hidden with every edge that touches them, their out-edges are the positives and the negatives are
        drawn from their pairs only.
        """
        graph, sign = self.full_graph
        self.negative_pool = self.neg
        if self.config.split == "tf":
            keep, supervised = self._hide_regulators(graph)
        else:
            order = torch.randperm(graph.shape[1], generator=self.generator).to(self.device)
            n_hidden = max(1, int(round(self.config.supervision_fraction * graph.shape[1])))
            keep, supervised = order[n_hidden:], order[:n_hidden]
        self.data.graph, self.data.graph_sign = graph[:, keep], sign[keep]
        return graph[:, supervised]

    def _hide_regulators(self, graph: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        regulators = torch.unique(graph[0])
        order = torch.randperm(regulators.numel(), generator=self.generator).to(self.device)
        n_hidden = max(1, int(round(self.config.supervision_fraction * regulators.numel())))
        hidden = torch.zeros(self.data.n_genes, dtype=torch.bool, device=self.device)
        hidden[regulators[order[:n_hidden]]] = True
        touches = hidden[graph[0]] | hidden[graph[1]]
        pool = self.neg[:, hidden[self.neg[0]]]
        if pool.shape[1]:
            self.negative_pool = pool
        return torch.nonzero(~touches).squeeze(1), torch.nonzero(hidden[graph[0]]).squeeze(1)

    def step(self) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad()
        if "edge" in self.tasks:
            self.supervised = self._hide_supervised_edges()
        z = self.model.encode(self.data)
        losses = {task: getattr(self, f"{task}_loss")(z) for task in self.tasks}
        self.data.graph, self.data.graph_sign = self.full_graph
        total = sum(self.config.task_weights[t] * losses[t] for t in self.tasks)
        total.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0))
        values = {t: float(v.detach()) for t, v in losses.items()} | {"total": float(total.detach())}
        reason = divergence(values["total"], grad_norm, self.lowest_loss)
        if reason is not None:
            raise _Diverged(reason)  # before the step: the weights stay as they were
        self.optimizer.step()
        self.lowest_loss = min(self.lowest_loss, values["total"])
        return values

    def validate(self) -> dict[str, float]:
        """Validation AUPRC / AUROC of the edge task and the knockout head's explained variance on the
        held-out perturbed samples (``knockout_r2``: 1 - squared error / squared change), where each applies."""
        has_edges = "edge" in self.tasks and self.val_labels.any()
        if not has_edges and not len(self.ko_val_rows):
            return {}
        self.model.eval()
        out: dict[str, float] = {}
        with torch.no_grad():
            z = self.model.encode(self.data)
            if has_edges:
                metrics = evaluate.edge_metrics(self._validation_scores(z), self.val_labels)
                out.update(auroc=metrics["auroc"], auprc=metrics["auprc"])
            if len(self.ko_val_rows):
                errors, changes, _ = self._knockout_error(z, self.ko_val_rows)
                out["knockout_r2"] = float(1.0 - errors.sum() / changes.sum().clamp(min=1e-12))
        return out

    def _validation_scores(self, z: torch.Tensor) -> np.ndarray:
        """Edge probabilities of the validation pairs. Their pairwise evidence depends only on the data and
        the (full, fixed) graph, so it is computed once per fit: on the large BEELINE sets it was most of
        each epoch."""
        src, dst = self.val_pairs
        if self.model.pair_linear is None:
            return score_pairs(self.model, z, self.data, src, dst)
        step = pair_batch_size(self.data.expression.shape[1])
        batches = [slice(i, i + step) for i in range(0, len(src), step)]
        if self.val_evidence is None:
            self.val_evidence = torch.cat([pair_evidence(self.data, src[b], dst[b]) for b in batches])
        logits = [self.model.edge_logits(z, self.data, src[b], dst[b], evidence=self.val_evidence[b]) for b in batches]
        return torch.sigmoid(torch.cat(logits)).cpu().numpy()

    @staticmethod
    def checkpoint_score(val: dict[str, float], losses: dict[str, float]) -> float:
        """What the kept checkpoint maximises: the mean of the validation AUPRC and the knockout R^2 (each
        where measured), else the negated training loss."""
        measured = [val[k] for k in ("auprc", "knockout_r2") if k in val]
        return float(np.mean(measured)) if measured else -losses["total"]

    def run(self, on_epoch, stop) -> list[dict]:
        history: list[dict] = []
        start = time.perf_counter()
        since_best = 0
        for epoch in range(1, self.config.epochs + 1):
            try:
                losses = self.step()
            except _Diverged as exc:
                self.diverged = (epoch, str(exc))
                break
            val = self.validate()
            score = self.checkpoint_score(val, losses)
            if score > self.best_score:
                self.best_score, self.best_epoch, since_best = score, epoch, 0
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                since_best += 1
            self.elapsed = time.perf_counter() - start
            history.append({"epoch": epoch, **{f"loss_{k}": v for k, v in losses.items()},
                            **{f"val_{k}": v for k, v in val.items()}, "seconds": round(self.elapsed, 3)})
            if on_epoch is not None:
                left = self.elapsed / epoch * (self.config.epochs - epoch)
                on_epoch(EpochInfo(epoch, self.config.epochs, losses, val, self.best_epoch, self.elapsed, left))
            if since_best >= self.config.patience:
                break
            if stop is not None and stop.is_set():
                self.stopped = True
                break
        return history


def _optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam; the linear evidence term learns ``EVIDENCE_LR_FACTOR`` times slower than the rest, so that it
    moves away from its start (the transitive-reduced knockout z-score) only as far as many epochs of
    training edges agree (on DREAM4 a full rate lost 0.01-0.05 test AUPRC under the TF hold-out)."""
    evidence = [p for name, p in model.named_parameters() if name.startswith("pair_linear.")]
    rest = [p for name, p in model.named_parameters() if not name.startswith("pair_linear.")]
    groups = [{"params": rest}] + ([{"params": evidence, "lr": config.lr * EVIDENCE_LR_FACTOR}] if evidence else [])
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


def _select_csr(genes: torch.Tensor, doses: torch.Tensor, offsets: np.ndarray, rows: np.ndarray):
    """The CSR slice of perturbations ``rows``."""
    idx = np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in rows]) if len(rows) else \
        np.zeros(0, dtype=np.int64)
    counts = offsets[rows + 1] - offsets[rows]
    new_offsets = np.concatenate([[0], np.cumsum(counts)])
    idx_t = torch.as_tensor(idx, device=genes.device, dtype=torch.long)
    return genes[idx_t], doses[idx_t], new_offsets


def test_metrics(run: Run, dataset: Dataset, split: EdgeSplit) -> dict:
    """Test-split metrics of the run and of the random, degree and |Pearson| baselines on the same pairs."""
    src, dst, labels = split.pairs(TEST)
    labels = labels.astype(bool)
    out: dict = {"tasks": run.tasks, "split": run.info["split"],
                 "test_pairs": int(len(labels)), "test_positives": int(labels.sum())}
    if len(labels) == 0 or not labels.any():
        out["test"] = None
        return out
    model_scores = score_pairs(run.model(), run.embeddings(), run.tensors(), torch.as_tensor(src),
                               torch.as_tensor(dst))
    train_edges = split.positives(TRAIN)
    baselines = {
        "random": evaluate.random_scores(src, dst, seed=run.config.seed),
        "degree": evaluate.degree_scores(train_edges, dataset.n_genes, len(dataset.tfs), src, dst),
        "pearson": evaluate.pearson_scores(dataset.expression, src, dst),
    }
    out["test"] = _rounded(evaluate.edge_metrics(model_scores, labels))
    out["baselines"] = {name: _rounded(evaluate.edge_metrics(s, labels)) for name, s in baselines.items()}
    return out


def _rounded(metrics: dict) -> dict:
    return {k: (round(float(v), 5) if isinstance(v, float) else v) for k, v in metrics.items()}
