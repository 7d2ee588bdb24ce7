"""A lab server taking a big upload (issue 29): what checking and loading one large expression CSV costs the server.

    python bench/server_load.py                          # 20,000 genes x 2,500 samples (about 250 MB)
    python bench/server_load.py --genes 5000 --samples 500

Part one, the loader (this script): a CSV of log-scale values with two decimals is written once under ``--out``;
then, in a fresh process (its memory is its own), what the Data page's *Check and load* does with the uploaded bytes
(``mtlgrn_core.inputs.upload.dataset_from_files``: written to a folder, read, validated) and then saving the dataset
into a workspace, each timed, with the process's resident memory after its imports (idle) and at its peak. Targets
(issue 29): loaded <= 60 s after it arrives, peak <= 0.75 GB above idle for 250 MB. The browser sessions that use the
pages meanwhile (the issue's part two) are not measured here yet.
"""

from __future__ import annotations

import argparse
import io
import json
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "server_load")
    parser.add_argument("--readers", nargs="+", default=["streamed"], choices=["streamed", "careful"],
                        help="streamed (the loader's, default) and/or careful (every file's reader before issue 29: "
                             "minutes and many GB at 250 MB)")
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
