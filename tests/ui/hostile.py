"""A small dataset whose gene, sample and dataset names try to inject HTML, script and Markdown.

Used by tests/test_escaping.py (figures and exports) and tests/ui/test_escaping_pages.py (the pages).
"""

from __future__ import annotations

import re

from mtlgrn_core.inputs.data import Dataset, build_dataset
from mtlgrn_core.inputs.simulate import simulate

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
QUOTE = '"onmouseover="alert(1)'
LINK = "[click](javascript:alert(1))"
AMP = "&amp;"
HOSTILE = (IMG, SCRIPT, QUOTE, LINK, AMP)
SAMPLE = "<img src=x onerror=alert(2)>"  # a sample name
DATASET = "<img src=x onerror=alert(3)>[a](b:c)"  # a dataset name (short: see LONG_NAME_BUG in test_escaping)
RUN = "<script>alert(4)</script>![x](y)"  # a run name
# A workspace stores a dataset as CSV/text files, and the readers strip quotes around a name (and split a
# tfs.txt line on , ; or tab): this variant of QUOTE survives that round trip (see the report on data.py).
STORED_QUOTE = 'x" onmouseover="alert(1)'
# Raw fragments that must never reach HTML or Markdown unescaped.
RAW = ("<img src=x", "<script>alert")
MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=&")


def markdown_literal(escaped: str) -> str:
    """The text Markdown shows for ``escaped``, asserting that every special character in it is escaped."""
    out, k = [], 0
    while k < len(escaped):
        ch = escaped[k]
        if ch == "\\":
            assert k + 1 < len(escaped) and escaped[k + 1] in MARKDOWN_SPECIAL, escaped
            out.append(escaped[k + 1])
            k += 2
        else:
            assert ch not in MARKDOWN_SPECIAL, (ch, escaped)
            out.append(ch)
            k += 1
    return "".join(out)


def unescaped(markdown: str) -> str:
    """``markdown`` with backslash escapes removed (how a page's text reads)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def hostile_dataset(*, quote: str = QUOTE, name: str = "hostile", n_genes: int = 20) -> Dataset:
    """The simulated demo with three TFs named :data:`IMG`, :data:`SCRIPT` and ``quote``, two targets named
    :data:`LINK` and :data:`AMP` and the first control sample named :data:`SAMPLE` (knockouts, prior, truth,
    promoters and annotations renamed along)."""
    sim = simulate(n_genes, seed=0)
    targets = [g for g in sim.genes if g not in sim.tfs]
    mapping = dict(zip([*sim.tfs[:3], *targets[-2:]], [IMG, SCRIPT, quote, LINK, AMP]))
    samples = {sim.samples[0]: SAMPLE}

    def gene(g):
        return mapping.get(g, g)

    def edges(table):
        return None if table is None else table.assign(source=table["source"].map(gene),
                                                       target=table["target"].map(gene))

    sheet = sim.sample_sheet.assign(
        sample=sim.sample_sheet["sample"].map(lambda s: samples.get(s, s)),
        perturbation=sim.sample_sheet["perturbation"].map(lambda p: "+".join(gene(x) for x in str(p).split("+"))))
    return build_dataset(genes=[gene(g) for g in sim.genes], samples=[samples.get(s, s) for s in sim.samples],
                         expression=sim.expression, prior=edges(sim.prior), tfs=[gene(g) for g in sim.tfs],
                         sample_sheet=sheet, promoters={gene(g): s for g, s in sim.promoters.items()},
                         annotations=sim.annotations.rename(index=gene), truth=edges(sim.truth), name=name)
