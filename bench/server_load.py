"""A lab server taking a big upload (issue 29): what checking and loading one large expression CSV costs the server.

    python bench/server_load.py                          # 20,000 genes x 2,500 samples (about 250 MB)
    python bench/server_load.py --genes 5000 --samples 500
    python bench/server_load.py --browsers 1 3           # part two: browser sessions while one uploads

Part one, the loader: a CSV of log-scale values with two decimals is written once under ``--out``; then, in a fresh
process (its memory is its own), what the Data page's *Check and load* does with the uploaded bytes
(``mtlgrn_core.inputs.upload.dataset_from_files``: written to a folder, read, validated) and then saving the dataset
into a workspace, each timed, with the process's resident memory after its imports (idle) and at its peak.

Part two, the server (``--browsers 1 3``): a dashboard server with the demo and a trained run; N browser sessions
(Debian's Chromium, one each) click through Home, Network, Knockout and Evaluate while one more uploads the CSV on the
Data page and presses *Check and load*, again every few seconds while the page settles without it. It prints the
upload's seconds (file chosen -> loaded, last press -> loaded, the presses lost while the file arrived), the server's
peak resident memory above its idle, and the other sessions' page views (a click in the sidebar to the page drawn and
idle: median, 95th percentile, max). Targets (issue 29): loaded <= 60 s after it arrives, server peak <= 0.75 GB above
idle for 250 MB, others' page views <= 2 s at the 95th percentile and <= 5 s at most.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))


def write_csv(path: Path, genes: int, samples: int, seed: int = 0) -> Path:
    """Gene names, sample names and log-scale values with two decimals (about 5 bytes a cell), written by pyarrow."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    level = rng.normal(5.0, 1.5, genes)
    columns = {"gene": pa.array([f"G{i:05d}" for i in range(genes)])}
    for j in range(samples):
        columns[f"s{j:04d}"] = pa.array(np.round(np.clip(level + rng.normal(0, 0.5, genes), 0, None), 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pa_csv.write_csv(pa.table(columns), str(tmp), pa_csv.WriteOptions(quoting_style="none"))
    tmp.replace(path)
    return path


def rss_gib() -> float:
    """The process's current resident memory (GiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2 ** 20
    return float("nan")


def measure(path: Path, reader: str) -> dict:
    """In this process: the upload's bytes, checked and loaded, then saved into a fresh workspace; ``reader``
    ``careful`` reads the CSV as every file was read before issue 29 (for comparison)."""
    import tempfile

    from mtlgrn_core.inputs import data
    from mtlgrn_core.inputs.upload import dataset_from_files
    from mtlgrn_core.runs.workspace import Workspace

    if reader == "careful":
        data.STREAM_MIN_BYTES = 1 << 62

    idle = rss_gib()
    content = path.read_bytes()  # what the server holds once the upload has arrived
    start = time.perf_counter()
    dataset = dataset_from_files({"expression": (path.name, io.BytesIO(content))})  # as the page passes it
    loaded = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="server-load-") as folder:
        start = time.perf_counter()
        Workspace(Path(folder)).save_dataset(dataset)
        saved = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return {"reader": reader, "file MB": path.stat().st_size / 2 ** 20, "genes": dataset.n_genes,
            "samples": len(dataset.samples),
            "check and load s": loaded, "save to workspace s": saved, "idle GiB": idle, "peak GiB": peak,
            "peak above idle GiB": peak - idle}


# -- part two: browser sessions while one uploads ----------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
VIEWS = {"Home": "MTLGRN — gene regulatory networks and knockout predictions", "Network": "Regulatory network",
         "Knockout": "Knockout predictions", "Evaluate": "Evaluate the model"}


def browsers(path: Path, others: int) -> dict:
    """A server with the demo and a trained run; ``others`` browser sessions (each its own Chromium) click through
    Home, Network, Knockout and Evaluate while one more uploads ``path`` on the Data page and loads it. Returns the
    upload's seconds (file chosen -> loaded), the server's peak resident memory above its idle, and the other sessions'
    page views (seconds from a click in the sidebar to the page drawn and idle)."""
    import shutil
    import socket
    import tempfile
    import threading
    import urllib.request

    home = Path(tempfile.mkdtemp(prefix="server-load-home-"))
    _prepare_workspace(home)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                               "--server.address=127.0.0.1", f"--server.port={port}"], cwd=BENCH.parent,
                              env={**os.environ, "MTLGRN_HOME": str(home)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        stop, ready = threading.Event(), threading.Barrier(others + 1)
        views: list[float] = []
        problems: list[str] = []
        workers = [threading.Thread(target=_browse, args=(url, stop, ready, views, problems), daemon=True)
                   for _ in range(others)]
        for worker in workers:
            worker.start()
        try:
            ready.wait(timeout=300)  # every other session has its run selected
            time.sleep(3)
            memory = _Peak(server.pid)
            presses: list[float] = []
            upload_s, load_s = _upload(url, path, problems, presses)
            time.sleep(5)  # the others keep clicking a little after the load
            memory.stop()
        finally:  # a failed session or upload ends the others too
            stop.set()
            for worker in workers:
                worker.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    views.sort()
    return {"other sessions": others, "file MB": path.stat().st_size / 2 ** 20, "chosen -> loaded s": upload_s,
            "pressed -> loaded s": load_s, "presses lost (s after choosing)": str(presses) if presses else "none",
            "server idle GiB": memory.idle, "server peak above idle GiB": memory.peak - memory.idle,
            "page views": len(views), "median s": float(np.median(views)) if views else float("nan"),
            "95th percentile s": float(np.quantile(views, 0.95)) if views else float("nan"),
            "max s": max(views) if views else float("nan"), "problems": "; ".join(problems[:3]) or "none"}


def _prepare_workspace(home: Path) -> None:
    """The built-in demo (as the Home page loads it) and a quickly trained run of it, for the other sessions."""
    from mtlgrn_core.inputs.upload import demo_dataset, demo_name
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.train import fit
    from mtlgrn_core.runs.run_folder import save_run
    from mtlgrn_core.runs.workspace import Workspace

    workspace = Workspace(home)
    dataset = demo_dataset()
    dataset_id = workspace.save_dataset(dataset, demo_name(150, 0))
    run = fit(dataset, TrainConfig(epochs=20, patience=20))
    run.info.update({"name": "demo quick start", "dataset_id": dataset_id})
    save_run(run, workspace.new_run_path("demo quick start"))


class _Peak:
    """The resident memory of a process, polled every 0.2 s in a thread: its value when started and its peak."""

    def __init__(self, pid: int):
        import threading

        self.path = Path(f"/proc/{pid}/status")
        self.idle = self._now()
        self.peak, self._stop = self.idle, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _now(self) -> float:
        line = next(ln for ln in self.path.read_text().splitlines() if ln.startswith("VmRSS:"))
        return int(line.split()[1]) / 2 ** 20

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _session(playwright, url: str):
    browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=120_000)
    return browser, page


def _chromium() -> str:
    """Debian's Chromium (``make test`` installs it)."""
    import shutil

    return shutil.which("chromium") or "/usr/bin/chromium"


def _click_view(page, label: str) -> float:
    """Seconds from a click on a sidebar link to its page's title drawn and the script idle."""
    start = time.perf_counter()
    page.locator("[data-testid='stSidebar'] a", has_text=label).first.click()
    page.get_by_role("heading", name=VIEWS.get(label, label)).first.wait_for(timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)
    return time.perf_counter() - start


def _browse(url: str, stop, ready, views: list[float], problems: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = _session(playwright, url)
        try:
            _click_view(page, "Train")
            page.get_by_role("button", name="Use this run").click()
            page.wait_for_timeout(500)
            page.wait_for_selector(IDLE, timeout=120_000)
            ready.wait(timeout=300)
            while not stop.is_set():
                for label in ("Network", "Knockout", "Evaluate", "Home"):
                    views.append(_click_view(page, label))
                    if page.locator("[data-testid='stException']").count():
                        problems.append(f"an exception on {label}")
        except Exception as exc:  # noqa: BLE001 - a session's failure is a result
            problems.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            try:
                ready.abort()
            except Exception:  # noqa: BLE001
                pass
        finally:
            browser.close()


def _upload(url: str, path: Path, problems: list[str], presses: list[float]) -> tuple[float, float]:
    """On the Data page: choose ``path`` as the expression file and press Check and load, again every few seconds
    while the page settles without the new dataset (the file still arriving), until it is loaded; seconds from
    choosing to loaded and from the last press; ``presses`` gets when each press that did not load came."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = _session(playwright, url)
        try:
            _click_view(page, "Data")
            start = time.perf_counter()
            uploader = page.locator("[data-testid='stFileUploader']").filter(has_text="Expression").first
            uploader.locator("input[type='file']").set_input_files(str(path))
            pressed = start
            loaded = page.get_by_role("heading", name=f"Selected: {path.stem}")
            waiting = page.get_by_text("has reached the server", exact=False)
            failed = page.locator("[data-testid='stAlertContentError']")
            for _ in range(600):
                pressed = time.perf_counter()
                page.get_by_role("button", name="Check and load these files").click()
                while time.perf_counter() - pressed < 600:  # the load, then the rerun that shows it
                    if loaded.count():
                        end = time.perf_counter()
                        return end - start, end - pressed
                    if time.perf_counter() - pressed > 5 and page.locator(IDLE).count():
                        break  # the page settled without the new dataset (a press during the upload may be lost)
                    time.sleep(0.3)
                presses.append(round(pressed - start, 1))  # not loaded: the file was still arriving
                if failed.count() and not waiting.count():
                    problems.append(f"the load failed: {failed.first.inner_text()[:300]}")
                    break
                time.sleep(1.0)
        finally:
            browser.close()
    return float("nan"), float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "server_load")
    parser.add_argument("--readers", nargs="+", default=["streamed"], choices=["streamed", "careful"],
                        help="streamed (the loader's, default) and/or careful (every file's reader before issue 29: "
                             "minutes and many GB at 250 MB)")
    parser.add_argument("--browsers", type=int, nargs="*", default=None, metavar="N",
                        help="part two: the upload in a browser while N other browser sessions click through the "
                             "pages (e.g. --browsers 1 3); without it, part one only")
    parser.add_argument("--measure", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        import mtlgrn_core.inputs.upload  # noqa: F401  (the imports count as idle, as in a running server)
        import mtlgrn_core.runs.workspace  # noqa: F401

        print(json.dumps(measure(Path(args.measure[0]), args.measure[1])))
        return 0
    started = time.perf_counter()
    path = write_csv(args.out / f"expression_{args.genes}x{args.samples}.csv", args.genes, args.samples)
    print(f"{path} ({path.stat().st_size / 2 ** 20:.0f} MB, {time.perf_counter() - started:.0f} s to make or find)",
          file=sys.stderr)
    if args.browsers:
        rows = [browsers(path, others) for others in args.browsers]
        print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
        for row in rows:
            print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else f"{v:.2f}" if isinstance(v, float) else str(v)
                                   for v in row.values()) + " |")
        return 0
    rows = []
    for reader in args.readers:
        done = subprocess.run([sys.executable, __file__, "--measure", str(path), reader], capture_output=True,
                              text=True)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else f"{v:.2f}" if isinstance(v, float) else str(v)
                               for v in row.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
