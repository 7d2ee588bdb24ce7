"""Tests of the built-in network simulator (mtlgrn_core.inputs.simulate)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.inputs.data import load_dataset, write_dataset
from mtlgrn_core.inputs.simulate import GeneNetwork, gene_names, simulate, simulate_network, synthesize_promoters


@pytest.fixture(scope="module")
def demo():
    start = time.perf_counter()
    dataset = simulate(150, seed=0)
    elapsed = time.perf_counter() - start
    print(f"\nsimulate(150, seed=0): {elapsed:.2f} s")
    return dataset, elapsed


@pytest.fixture(scope="module")
def small():
    return simulate(40, seed=1, n_multifactorial=20)


def _kinds(sheet: pd.DataFrame) -> pd.Series:
    labels = sheet["perturbation"]
    return pd.Series(np.select(
        [labels == "control", labels == "", labels.str.contains(r"\+", regex=True), sheet["dose"] == 0.5],
        ["control", "multifactorial", "double", "knockdown"], "knockout"), index=sheet.index)


# ----------------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_identical_data():
    a, b = simulate(40, seed=3), simulate(40, seed=3)
    np.testing.assert_array_equal(a.expression, b.expression)
    assert a.samples == b.samples and a.genes == b.genes and a.tfs == b.tfs
    pd.testing.assert_frame_equal(a.prior, b.prior)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.sample_sheet, b.sample_sheet)
    pd.testing.assert_frame_equal(a.annotations, b.annotations)
    assert a.promoters == b.promoters


def test_different_seed_gives_a_different_network():
    a, b = simulate(40, seed=3), simulate(40, seed=4)
    edges = lambda d: set(zip(d.truth["source"], d.truth["target"]))  # noqa: E731
    assert edges(a) != edges(b)
    assert a.promoters != b.promoters
    assert not np.array_equal(a.expression, b.expression)


def test_options_do_not_reshuffle_other_parts():
    full = simulate(40, seed=5)
    bare = simulate(40, seed=5, promoters=False, annotations=False)
    np.testing.assert_array_equal(full.expression, bare.expression)
    pd.testing.assert_frame_equal(full.truth, bare.truth)
    assert bare.promoters is None and bare.annotations is None


def test_simulate_network_is_the_model_behind_simulate(small):
    network = simulate_network(40, seed=1)
    pd.testing.assert_frame_equal(network.edges(), small.truth)
    assert network.tfs == small.tfs
    controls = small.expression[:, small.control_samples()].mean(axis=1)
    assert np.abs(controls - network.wildtype).max() < 0.1  # measurement noise only (sd 0.02)


# ----------------------------------------------------------------------------------------------------
# Shapes, sample sheet and files


def test_gene_names_sort_numerically():
    names = gene_names(1200)
    assert names[0] == "G0001" and names[-1] == "G1200" and names == sorted(names)
    assert gene_names(5) == ["G001", "G002", "G003", "G004", "G005"]


def test_demo_shapes_and_sample_sheet(demo):
    ds, _ = demo
    n_tfs = len(ds.tfs)
    kinds = _kinds(ds.sample_sheet).value_counts().to_dict()
    assert kinds == {"control": 3, "multifactorial": 150, "knockout": 150, "knockdown": n_tfs, "double": 10}
    assert ds.expression.shape == (150, len(ds.samples)) and ds.expression.dtype == np.float32
    assert list(ds.sample_sheet["sample"]) == list(ds.samples)
    assert ds.genes == tuple(gene_names(150)) and set(ds.tfs) < set(ds.genes)
    assert len(ds.perturbations()) == 150 + n_tfs + 10
    assert ds.control_samples().tolist() == [0, 1, 2]
    assert ds.expression.min() >= 0 and np.quantile(ds.expression, 0.99) <= 1.05
    assert set(ds.truth["source"]) <= set(ds.tfs)
    assert set(ds.truth["sign"]) == {1, -1}
    assert len(ds.prior) == round(0.7 * len(ds.truth))
    truth_edges = set(ds.truth.itertuples(index=False, name=None))
    assert set(ds.prior.itertuples(index=False, name=None)) <= truth_edges
    assert not ds.warnings


def test_sample_names_and_doses(demo):
    ds, _ = demo
    sheet = ds.sample_sheet.set_index("sample")
    gene = ds.tfs[0]
    assert sheet.loc["wt_1", "perturbation"] == "control" and sheet.loc["wt_1", "dose"] == 1.0
    assert sheet.loc["mf_001", "perturbation"] == "" and sheet.loc["mf_001", "dose"] == 1.0
    assert sheet.loc[f"ko_{gene}", "perturbation"] == gene and sheet.loc[f"ko_{gene}", "dose"] == 0.0
    assert sheet.loc[f"kd_{gene}", "dose"] == 0.5
    doubles = [s for s in ds.samples if "+" in s]
    a, b = sheet.loc[doubles[0], "perturbation"].split("+")
    assert doubles[0] == f"ko_{a}+{b}" and a in ds.tfs and b in ds.tfs and a < b


def test_promoters_and_annotations(demo):
    ds, _ = demo
    assert set(ds.promoters) == set(ds.genes)
    assert all(len(s) == 500 and set(s) <= set("ACGT") for s in ds.promoters.values())
    ann = ds.annotations
    assert ann.index.name == "gene" and list(ann.index) == list(ds.genes)
    assert ann["module"].dtype == object and ann["module"].nunique() > 1
    assert all(pd.api.types.is_numeric_dtype(ann[c]) for c in ann.columns if c != "module")


def test_module_label_follows_the_network(demo):
    ds, _ = demo
    module = ds.annotations["module"]
    same = (module[ds.truth["source"]].to_numpy() == module[ds.truth["target"]].to_numpy()).mean()
    shuffled = module.sample(frac=1.0, random_state=0).to_numpy()
    chance = (pd.Series(shuffled, index=module.index)[ds.truth["source"]].to_numpy()
              == module[ds.truth["target"]].to_numpy()).mean()
    assert same > chance + 0.1


def test_write_and_load_round_trip(small, tmp_path):
    write_dataset(small, tmp_path / "sim")
    back = load_dataset(tmp_path / "sim")
    assert back.genes == small.genes and back.samples == small.samples and back.tfs == small.tfs
    np.testing.assert_allclose(back.expression, small.expression, rtol=1e-5, atol=1e-7)
    assert not back.log_transformed
    for edges in ("prior", "truth"):
        pd.testing.assert_frame_equal(getattr(back, edges), getattr(small, edges), check_dtype=False)
    pd.testing.assert_frame_equal(back.sample_sheet, small.sample_sheet, check_dtype=False)
    assert back.promoters == small.promoters
    pd.testing.assert_frame_equal(back.annotations, small.annotations, check_dtype=False)
    assert back.perturbations() == small.perturbations()


@pytest.mark.parametrize("spec, expected", [("none", 0), ("tfs", None), (7, 7), (["G003", "G001"], 2)])
def test_knockout_choices(spec, expected):
    ds = simulate(30, seed=2, knockouts=spec, knockdowns="none", n_double_knockouts=0, n_multifactorial=5)
    kos = [s for s in ds.samples if s.startswith("ko_")]
    assert len(kos) == (len(ds.tfs) if expected is None else expected)
    if isinstance(spec, list):
        assert kos == ["ko_G001", "ko_G003"]


@pytest.mark.parametrize("kwargs", [dict(knockouts=["G999"]), dict(knockdowns="some"), dict(noise=-1.0),
                                    dict(prior_fraction=1.5), dict(n_control=-1), dict(promoter_length=30)])
def test_bad_options_raise(kwargs):
    with pytest.raises(ValueError):
        simulate(30, seed=0, **kwargs)


def test_too_small_network_raises():
    with pytest.raises(ValueError):
        simulate_network(3)


# ----------------------------------------------------------------------------------------------------
# The kinetic model


def _single_perturbations(network: GeneNetwork, dose: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free steady states with each TF perturbed alone: (levels genes x TFs, column of each edge)."""
    tfs = np.flatnonzero(network.is_tf)
    scale = np.ones((network.n_genes, tfs.size))
    scale[tfs, np.arange(tfs.size)] = dose
    column = np.full(network.n_genes, -1)
    column[tfs] = np.arange(tfs.size)
    return network.steady_states(scale), column[network.source]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("dose", [0.0, 0.5])
def test_perturbing_a_tf_moves_every_direct_target_with_the_edge_sign(seed, dose):
    # Holds for EVERY edge by construction: signs are sign-consistent (monotone system), so all indirect
    # paths agree with the direct edge, and Hill thresholds sit at the wild-type level of each regulator.
    network = simulate_network(150, seed=seed)
    levels, column = _single_perturbations(network, dose)
    before = network.wildtype[network.target]
    after = levels[network.target, column]
    relative = network.sign * (after - before) / before
    assert relative.max() < -1e-6, f"edge {relative.argmax()} moves against its sign"


def test_steady_states_are_steady():
    network = simulate_network(150, seed=0)
    assert network.unique_wildtype and network.feedback.any()
    assert np.abs(network.derivative(network.wildtype)).max() < 1e-9
    tf = network.tfs[0]
    knocked = network.steady_state(tf)
    scale = network.scale_for(tf, 0.0)
    assert np.abs(network.derivative(knocked, scale)).max() < 1e-9
    assert knocked[network.gene_index[tf]] == 0.0
    assert np.all((network.wildtype > 0) & (network.wildtype <= 1.0))


def test_thresholds_sit_at_the_wild_type_level():
    network = simulate_network(150, seed=1)
    dag = ~network.feedback
    ratio = network.k[dag] / network.wildtype[network.source[dag]]
    assert ratio.min() >= np.exp(-0.7) - 1e-9 and ratio.max() <= np.exp(0.7) + 1e-9
    assert repr(network).startswith("GeneNetwork(150 genes")


def test_double_knockout_matches_the_model():
    network = simulate_network(60, seed=4)
    a, b = network.tfs[:2]
    both = network.steady_state([a, b])
    assert both[network.gene_index[a]] == 0.0 and both[network.gene_index[b]] == 0.0
    half = network.steady_state(a, dose=0.5)
    assert 0 < half[network.gene_index[a]] < network.wildtype[network.gene_index[a]]


def test_out_degree_is_heavy_tailed():
    for seed in range(3):
        network = simulate_network(150, seed=seed)
        degree = network.out_degree()[network.is_tf]
        assert degree.max() >= 3 * degree.mean()
        in_degree = np.bincount(network.target[~network.feedback], minlength=network.n_genes)
        assert in_degree.max() <= 5 and in_degree.mean() > 1.5


def test_hierarchy_has_tf_to_tf_edges_and_feedback():
    network = simulate_network(150, seed=0)
    tf_to_tf = network.is_tf[network.source] & network.is_tf[network.target]
    assert tf_to_tf.sum() > network.feedback.sum() > 0
    assert np.all(network.sign == network.polarity[network.source] * network.polarity[network.target])


# ----------------------------------------------------------------------------------------------------
# Promoter motifs


def _has_motif(sequence: str, motif: str, mismatches: int = 1) -> bool:
    codes = np.frombuffer(sequence.encode(), dtype=np.uint8)
    revcomp = motif[::-1].translate(str.maketrans("ACGT", "TGCA"))
    windows = np.lib.stride_tricks.sliding_window_view(codes, len(motif))
    for pattern in (motif, revcomp):
        hits = (windows != np.frombuffer(pattern.encode(), dtype=np.uint8)).sum(axis=1)
        if (hits <= mismatches).any():
            return True
    return False


def test_planted_motif_is_enriched_in_targets():
    network = simulate_network(150, seed=0)
    promoters = synthesize_promoters(network, seed=0)
    targets_hit, others_hit = [], []
    for tf, motif in network.motifs.items():
        regulated = set(network.target[network.source == network.gene_index[tf]])
        for gene, sequence in promoters.items():
            if gene == tf:
                continue
            hit = _has_motif(sequence, motif)
            (targets_hit if network.gene_index[gene] in regulated else others_hit).append(hit)
    print(f"\nmotif found in {np.mean(targets_hit):.2f} of targets, {np.mean(others_hit):.3f} of non-targets")
    # an 8-mer with one mismatch also occurs by chance in ~15 % of 500-bp promoters
    assert np.mean(targets_hit) > 0.9
    assert np.mean(targets_hit) > 4 * np.mean(others_hit)


# ----------------------------------------------------------------------------------------------------
# Speed


def test_demo_size_is_fast(demo):
    _, elapsed = demo
    print(f"\ndemo simulation (150 genes, 335 samples): {elapsed:.2f} s")
    assert elapsed < 30.0


def test_an_oscillating_fixed_point_iteration_still_reaches_the_steady_state():
    # seed 5: one multifactorial sample sits on a negative feedback loop where the full time step overshoots
    # back and forth forever (it raised "steady state not reached" before the step was halved)
    from mtlgrn_core.inputs.simulate import _design_samples, _streams

    streams = _streams(5)
    network = simulate_network(150, seed=streams["network"])
    design = _design_samples(network, streams["design"], n_control=3, n_multifactorial=150, knockouts="all",
                             knockdowns="tfs", n_double_knockouts=10)
    scale = np.stack(design.scales, axis=1)
    levels = network.steady_states(scale)
    assert np.abs(network.derivative(levels, scale)).max() < 1e-9
    assert simulate(150, seed=5).n_genes == 150
