"""The home page renders on the demo data without an exception."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from mtlgrn_core.data import write_dataset
from mtlgrn_core.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


def test_home_page_shows_the_demo_summary():
    demo = ROOT / "demo_data"
    if not (demo / "expression.csv").exists():
        write_dataset(simulate(150, seed=0), demo)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert "MTLGRN" in app.title[0].value
    assert app.table, "the demo summary table is missing"
