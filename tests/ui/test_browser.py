"""A real browser walk: Debian chromium driven by Playwright against `streamlit run app.py`.

load demo -> train -> the network view shows nodes -> a knockout shows a chart -> a CSV download arrives.
Screenshots go to tests/output/browser/ (git-ignored) so that a person can look at them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "output" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make test installs it)")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (make test installs it with apt-get)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser_home")
    port = _free_port()
    env = {**os.environ, "MTLGRN_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                             "--server.address=127.0.0.1", f"--server.port={port}",
                             "--browser.gatherUsageStats=false"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not answer /_stcore/health within 90 s: "
                    + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _new_page(browser, **options):
    """A fresh browser context (a new session) and its page; the list collects the page's JavaScript errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def _idle(page, timeout=60_000):
    page.wait_for_selector(IDLE, timeout=timeout)


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _open(page, url: str):
    page.goto(url)
    _idle(page)
    page.wait_for_timeout(300)
    _idle(page)


def _navigate(page, label: str):
    page.locator("[data-testid='stSidebar'] a", has_text=label).first.click()
    page.wait_for_timeout(300)
    _idle(page)


def _predict_knockout(page, *genes: str):
    """On the Knockout page: pick ``genes``, press Predict, wait for the chart."""
    page.locator("[data-testid='stMultiSelect']").first.click()
    for gene in genes:
        page.keyboard.type(gene)
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    _idle(page)
    run_button = page.get_by_role("button", name="Predict")
    if run_button.count():
        run_button.first.click()
        _idle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)


def test_walk_from_demo_to_knockout_download(server, browser, tmp_path):
    context, page, errors = _new_page(browser, accept_downloads=True)

    # Home: the demo is loaded on arrival; one click trains it
    _open(page, server)
    page.get_by_text("demo-150-seed0").first.wait_for(timeout=30_000)
    _shot(page, "1_home")
    page.get_by_role("button", name="Load the demo and train").click()
    page.get_by_text("Training finished").wait_for(timeout=180_000)
    _idle(page)
    _shot(page, "2_home_trained")

    # Train page lists the saved run (navigation through the sidebar keeps the session)
    _navigate(page, "Train")
    _shot(page, "3_train")
    page.get_by_text("Saved runs", exact=True).wait_for(timeout=30_000)
    page.locator("[data-testid='stSidebar']", has_text="Run: demo quick start").wait_for(timeout=30_000)

    # Network: the interactive view draws nodes (vis-network canvas inside the component frame)
    _navigate(page, "Network")
    page.get_by_role("tab", name="Network view").click()
    _idle(page)
    frame = page.frame_locator("iframe").first
    frame.locator("canvas").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    _shot(page, "4_network")
    nodes = frame.locator("body").evaluate("() => window.network ? window.network.body.data.nodes.length : -1")
    assert nodes > 5

    # Knockout: pick a gene, run, a chart appears, the table downloads as CSV
    _navigate(page, "Knockout")
    _predict_knockout(page, "G094")
    _shot(page, "5_knockout")
    with page.expect_download(timeout=30_000) as download_info:
        page.get_by_role("button", name="Download the table (CSV)").first.click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text()
    assert text.startswith("gene,") and text.count("\n") > 100

    # Why a gene moves: the most changed gene's paths as a graph and a table
    page.get_by_role("tab", name="Why a gene moves").click()
    _idle(page)
    _choose(page, "Responding gene", _demo_target("G094"))
    paths = page.locator(".js-plotly-plot", has_text="Why ").first
    paths.wait_for(timeout=30_000)
    paths.scroll_into_view_if_needed()
    _shot(page, "6_knockout_paths")

    # Screen: which regulator would lower two of the demo's genes; the ranked regulators and their chart
    page.get_by_role("tab", name="Screen every regulator").click()
    _idle(page)
    panel = page.get_by_role("tabpanel", name="Screen every regulator")
    panel.locator("[data-testid='stMultiSelect']").first.click()
    for gene in ("G020", "G031"):
        page.keyboard.type(gene)
        page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    _idle(page)
    panel.get_by_role("button", name="Run the screen").click()
    panel.get_by_text("Best regulator", exact=True).wait_for(timeout=60_000)
    _idle(page)
    panel.locator(".js-plotly-plot", has_text="Best regulators").first.scroll_into_view_if_needed()
    _shot(page, "6b_knockout_screen")
    assert "would lower G020, G031" in panel.inner_text()

    # Evaluate: the report of this run with the knockout and the screen above, downloaded and opened offline
    _navigate(page, "Evaluate")
    page.get_by_text("Report: this run in one file to share").click()
    page.get_by_role("button", name="Make a report").click()
    _idle(page, timeout=120_000)
    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("button", name="Download the report (HTML)").click()
    report = tmp_path / "report.html"
    download_info.value.save_as(report)
    assert not errors, errors
    context.close()
    _open_report(browser, report)


def _demo_target(regulator: str) -> str:
    """A target of ``regulator`` in the built-in demo's prior (it has a path from the regulator)."""
    from mtlgrn_core.inputs.simulate import simulate

    prior = simulate(150, seed=0).prior
    return min(prior.loc[prior["source"] == regulator, "target"])


def _open_report(browser, report: Path) -> None:
    """The report renders its figures in Chromium offline: no console error and no request leaves the file."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("request", lambda request: None if request.url.startswith(("file:", "data:", "about:"))
            else problems.append(f"request to {request.url}"))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    assert page.locator(".js-plotly-plot .main-svg").count() >= 6  # every figure drawn
    assert page.get_by_text("Knockout: G094 knockout").count() == 1
    assert page.get_by_text("Screen: which regulator moves the targets").count() == 1
    _shot(page, "7_report")
    assert not problems, problems
    context.close()


def _write_lab_files(folder: Path) -> tuple[Path, Path]:
    """The tests' single-cell file (sparse counts in a layer, Ensembl ids with mouse-case symbols in var, cell
    types in obs) and a TRRUST-style prior in human case: 40 edges between measured genes, 60 that name genes the
    cells do not have."""
    import numpy as np
    import pandas as pd

    from tests.single_cell_data import write_lab_data

    write_lab_data(folder)
    rng = np.random.default_rng(1)
    measured = [(f"GENE{i % 20:03d}", f"GENE{20 + 7 * i % 280:03d}") for i in range(40)]
    unmeasured = [(f"GENE{i % 20:03d}", f"NOTMEASURED{i}") for i in range(40)]
    unmeasured += [(f"ABSENTTF{i}", f"GENE{20 + i:03d}") for i in range(20)]
    prior = pd.DataFrame(measured + unmeasured, columns=["TF", "Target"])
    prior["Mode"] = rng.choice(["Activation", "Repression", "Unknown"], len(prior))
    prior.to_csv(folder / "trrust.tsv", sep="\t", index=False)
    return folder / "expression.h5ad", folder / "trrust.tsv"


def _choose(page, label: str, option: str, *, exact: bool = True):
    """Pick ``option`` of a selectbox by typing it into its combobox (a click that lands during a rerun may
    leave the list closed; typing opens and filters it). ``exact=False``: the first option containing it (a
    run's label ends with its date)."""
    box = page.get_by_role("combobox", name=label).first
    for _ in range(3):
        box.click()
        box.fill(option)
        options = page.get_by_role("option", name=option, exact=True) if exact else \
            page.get_by_role("option").filter(has_text=option)
        item = options.first
        try:
            item.wait_for(timeout=5_000)
        except playwright_sync.TimeoutError:
            _idle(page)
            continue
        item.click()
        _idle(page)
        chosen = box.input_value()
        if chosen == option or (not exact and option in chosen):
            return
    raise AssertionError(f"could not choose {option!r} in {label!r} (page: {_shot(page, 'failed_choice')})")


def _type_number(page, label: str, value: int):
    field = page.locator(f"input[aria-label='{label}']").first
    field.fill(str(value))
    field.press("Enter")
    _idle(page)


def _train_on_the_train_page(page, *, epochs: int):
    """Train the selected dataset from the Train page with ``epochs`` at most, and wait until it is saved."""
    _navigate(page, "Train")
    field = page.locator("input[aria-label='Max epochs']").first
    field.fill(str(epochs))
    field.press("Tab")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Training finished").wait_for(timeout=240_000)
    _idle(page)


def _upload_cells_and_prior(server, browser, expression: Path, prior: Path, layout: str):
    """A new session on the Data page with a single-cell file and a prior chosen in the uploaders and sent with a
    first press of *Check and load* (its button waits, disabled, until both files have arrived): waits for the
    file's ``layout`` line ("700 cells x 765 genes") and its choices, not loaded yet."""
    context, page, errors = _new_page(browser)
    _open(page, server)
    _navigate(page, "Data")
    uploaders = page.locator("[data-testid='stFileUploader']")
    uploaders.filter(has_text="Expression").first.locator("input[type='file']").set_input_files(str(expression))
    uploaders.filter(has_text="Known network").first.locator("input[type='file']").set_input_files(str(prior))
    page.get_by_text(prior.name).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Check and load these files").click()
    page.get_by_text(layout).wait_for(timeout=60_000)
    page.get_by_text("press Check and load these files again").wait_for(timeout=30_000)
    _idle(page)
    return context, page, errors


def test_upload_an_h5ad_with_a_database_prior_train_and_compare_cell_groups(server, browser, tmp_path):
    expression, prior = _write_lab_files(tmp_path)
    context, page, errors = _upload_cells_and_prior(server, browser, expression, prior, "400 cells x 300 genes")
    _choose(page, "Cell groups", "cell_type")
    _type_number(page, "Sample budget (0 = every cell)", 60)
    page.get_by_role("button", name="Check and load these files").click()
    page.get_by_role("heading", name="Selected: expression").wait_for(timeout=120_000)
    _idle(page)
    page.get_by_role("heading", name="Validation report").scroll_into_view_if_needed()
    _shot(page, "6_data_h5ad_prior")
    body = page.locator("[data-testid='stMain']").inner_text()
    assert "kept 40 of 100 edges" in body, body[:3000]
    assert "gene names taken from var['gene_symbols']" in body and "cells aggregated into" in body
    assert "Candidate regulators: the" in body

    _train_on_the_train_page(page, epochs=15)
    _shot(page, "7_train_h5ad_prior")

    # Knockout of a regulator of the prior: no perturbation data, so the page says where the prediction comes from
    _navigate(page, "Knockout")
    page.get_by_text("from observational data only").first.wait_for(timeout=30_000)
    _predict_knockout(page, "Gene001")
    _shot(page, "8_knockout_h5ad_prior")
    assert "not meaningful" not in page.locator("[data-testid='stMain']").inner_text()

    # One run per cell type, then the groups side by side on the Network page
    _navigate(page, "Train")
    _choose(page, "Group column", "cell_type")
    _type_number(page, "Epochs per group", 10)
    page.get_by_role("button", name="Train one run per group").click()
    page.get_by_text("2 group runs saved").wait_for(timeout=240_000)
    _idle(page)
    _choose(page, "Run", "by group — B cell", exact=False)
    page.get_by_role("button", name="Use this run").click()
    page.locator("[data-testid='stSidebar']").get_by_text("Run: by group — B cell").wait_for(timeout=30_000)
    _idle(page)
    _navigate(page, "Network")
    tab = page.get_by_role("tab", name="Compare groups")
    tab.wait_for(timeout=60_000)
    for _ in range(3):  # a click that lands during a rerun may be lost
        tab.click()
        _idle(page)
        if tab.get_attribute("aria-selected") == "true":
            break
    panel = page.get_by_role("tabpanel", name="Compare groups")
    try:
        panel.get_by_text("2 groups of column").wait_for(timeout=60_000)
    except playwright_sync.TimeoutError:
        raise AssertionError(f"no group comparison (page: {_shot(page, 'failed_compare')})") from None
    heatmap = panel.locator(".js-plotly-plot").first
    heatmap.wait_for(timeout=60_000)
    heatmap.scroll_into_view_if_needed()
    _shot(page, "9_compare_groups")
    text = panel.inner_text()
    assert "B cell: prediction" in text and "T cell: prediction" in text, text[:3000]
    assert not errors, errors
    context.close()



def test_train_an_ensemble_then_see_edge_stability_and_knockout_spread(server, browser):
    """An ensemble from the Train page: its members train on a local Dask cluster started by the server; the
    Network page shows each edge's stability, the Knockout page the members' spread."""
    context, page, errors = _new_page(browser)
    _open(page, server)
    _navigate(page, "Data")  # the demo (the workspace's latest dataset may be another test's)
    page.get_by_role("tab", name="Built-in demo").click()
    _idle(page)
    page.get_by_role("button", name="Load the demo data").click()
    page.locator("[data-testid='stSidebar']").get_by_text("demo-150-seed0").wait_for(timeout=60_000)
    _navigate(page, "Train")
    _type_number(page, "Members (seeds)", 2)
    _type_number(page, "Epochs per member", 5)
    page.get_by_role("button", name="Train the ensemble").click()
    try:
        page.get_by_text("Ensemble of 2 members saved").wait_for(timeout=240_000)
    except playwright_sync.TimeoutError:
        raise AssertionError(f"no ensemble (page: {_shot(page, 'failed_ensemble')})") from None
    _idle(page)
    _shot(page, "10_train_ensemble")
    _choose(page, "Run", "ensemble (", exact=False)
    page.get_by_role("button", name="Use this run").click()
    page.locator("[data-testid='stSidebar']").get_by_text("Run: ensemble").wait_for(timeout=30_000)
    _idle(page)

    _navigate(page, "Network")
    page.get_by_text("An ensemble of 2 runs").first.wait_for(timeout=120_000)
    page.get_by_text("Minimum stability (hide unstable edges)").first.wait_for(timeout=30_000)
    _shot(page, "11_network_ensemble")

    _navigate(page, "Knockout")
    page.get_by_text("An ensemble of 2 runs").first.wait_for(timeout=30_000)
    _predict_knockout(page, "G094", "G069")  # a double knockout: where the members' learned parts differ
    chart = page.locator(".js-plotly-plot").first
    spread = chart.evaluate("(el) => Math.max(...Array.from(el._fullData[0].error_x.array))")
    assert spread > 0
    chart.scroll_into_view_if_needed()
    _shot(page, "12_knockout_ensemble")
    assert not errors, errors
    context.close()


def test_the_h5ad_scanpy_ships_uploads_trains_and_shows_every_page(server, browser, tmp_path):
    """Issue 26's file (scanpy's 10x_pbmc68k_reduced.h5ad, written by an anndata before 0.7, X z-scored beside a
    log-normalised raw) with a thin human prior: the page preselects raw and says why, says what 58 prior edges
    support, trains, and every page shows without an exception; the Evaluate page says why it shows no AUPRC."""
    import h5py
    import pandas as pd

    from tests.cell_file_corpus import SCANPY_PBMC

    if not SCANPY_PBMC.is_file():
        pytest.skip(f"scanpy ships no {SCANPY_PBMC.name} here")
    with h5py.File(SCANPY_PBMC, "r") as f:
        genes = [str(g) for g in f["var"]["index"][:].astype(str)]
    edges = [(genes[i], genes[40 + (7 * k + i) % 700]) for i in range(6) for k in range(10)][:58]
    prior = tmp_path / "trrust_human.tsv"
    pd.DataFrame(edges + [("NOTMEASURED", genes[100])], columns=["TF", "Target"]).assign(Mode="Activation").to_csv(
        prior, sep="\t", index=False, header=False)
    context, page, errors = _upload_cells_and_prior(server, browser, SCANPY_PBMC, prior, "700 cells x 765 genes")
    assert page.get_by_role("combobox", name="Matrix").first.input_value() == "raw"
    assert page.get_by_text("X holds negative values").count() >= 1
    _choose(page, "Cell groups", "bulk_labels")
    _type_number(page, "Sample budget (0 = every cell)", 80)
    page.get_by_role("button", name="Check and load these files").click()
    page.get_by_role("heading", name="Selected: 10x_pbmc68k_reduced").wait_for(timeout=120_000)
    _idle(page)
    _shot(page, "10_data_scanpy_pbmc")
    body = page.locator("[data-testid='stMain']").inner_text()
    assert "Only 58 known edges join two measured genes" in body and "written in an older AnnData format" in body

    _train_on_the_train_page(page, epochs=10)
    for label in ("Network", "Knockout", "Evaluate", "Home"):
        _navigate(page, label)
        page.wait_for_timeout(500)
        _idle(page)
        if label == "Knockout":
            _predict_knockout(page, genes[0])
        if label == "Evaluate":
            page.get_by_text("Edge figures are not shown").first.wait_for(timeout=60_000)
        _shot(page, f"11_scanpy_pbmc_{label.lower()}")
        assert page.locator("[data-testid='stException']").count() == 0, label
    assert not errors, errors
    context.close()
