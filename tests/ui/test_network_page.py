"""The Network page: edge table, interactive view, filters, downloads; a hint when no run is selected."""

from streamlit.testing.v1 import AppTest

from .conftest import ROOT, page


def edge_table(app):
    """The edge table's data (the dataframe with a regulator column)."""
    tables = [d.value for d in app.dataframe if "regulator" in d.value.columns]
    assert len(tables) == 1
    return tables[0]


def test_network_page_without_a_run_shows_a_hint(home):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/3_Network.py")  # opened from the app, so the hint's link to Train resolves
    app.run()
    assert not app.exception
    assert any("No trained run" in i.value for i in app.info)


def test_network_page_table_view_filters_and_downloads(loaded):
    _, dataset_id, run_id = loaded
    app = page("3_Network.py", dataset_id=dataset_id, run_id=run_id)
    app.run()
    assert not app.exception and not app.error
    table = edge_table(app)
    assert len(table) == app.slider(key="top_k").value and table["score"].is_monotonic_decreasing
    assert "ground truth" in table.columns  # the simulated demo has a truth
    frames = app.get("iframe")
    assert len(frames) == 1 and "vis.Network" in frames[0].proto.srcdoc
    labels = {b.proto.label for b in app.get("download_button")}
    assert {"Download these edges (CSV)", "Network (GraphML)", "This view (HTML)"} <= labels
    hub = next(d.value for d in app.dataframe if "pagerank" in d.value.columns)
    assert len(hub) > 0

    gene = hub["gene"].iloc[0]
    app.selectbox(key="edge_gene").set_value(gene).run()
    filtered = edge_table(app)
    assert 0 < len(filtered) < len(table)
    assert ((filtered["regulator"] == gene) | (filtered["target"] == gene)).all()

    app.slider(key="top_k").set_value(50).run()
    app.selectbox(key="edge_gene").set_value("(any gene)").run()
    assert len(edge_table(app)) == 50

    app.radio(key="view_mode").set_value("gene").run()
    app.selectbox(key="view_gene").set_value(gene)
    app.slider(key="hops").set_value(2)
    app.selectbox(key="color_by").set_value("pagerank")
    app.selectbox(key="edge_color_by").set_value("truth").run()
    assert not app.exception and not app.error
    assert "Neighbourhood of" in app.get("iframe")[0].proto.srcdoc


def test_network_page_score_threshold_and_novel_edges(loaded):
    _, dataset_id, run_id = loaded
    app = page("3_Network.py", dataset_id=dataset_id, run_id=run_id)
    app.run()
    app.radio(key="threshold_mode").set_value("score")
    app.radio(key="known_filter").set_value("novel").run()
    assert not app.exception and not app.error
    table = edge_table(app)
    assert (table["score"] >= app.slider(key="min_score").value).all() and not table["known"].any()


def test_a_long_scoring_runs_in_the_background_with_progress(loaded, monkeypatch):
    """At genome scale the edges take seconds to score: the page shows the scoring's progress instead of
    blocking, and the network once it has ended."""
    import threading

    from mtlgrn_ui import network
    from mtlgrn_ui.background import tasks

    _, dataset_id, run_id = loaded
    release = threading.Event()
    real = network.score_edges

    def slow(run, progress=None, **kwargs):
        progress(0.5)
        assert release.wait(30)
        return real(run, progress=progress, **kwargs)

    monkeypatch.setattr(network, "score_edges", slow)
    monkeypatch.setattr(network, "FOREGROUND_WAIT_S", 0.1)
    app = page("3_Network.py", dataset_id=dataset_id, run_id=run_id).run()
    assert not app.exception and not app.error
    assert not [d for d in app.dataframe if "regulator" in d.value.columns]
    bars = app.get("progress")
    assert len(bars) == 1 and "50% of the" in bars[0].proto.text
    release.set()
    tasks().get((network._scoring_owner(run_id), network.EDGE_SCORING)).join(30)
    app.run()
    assert not app.exception and not app.error
    assert len(edge_table(app)) == app.slider(key="top_k").value
