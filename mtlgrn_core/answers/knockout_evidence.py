"""How well knockout predictions of each kind agreed with real measured deletions, in a sentence a biologist reads
next to every prediction (issue 25): the figure, the data set and the command that made it.

The figures are those of ``make bench-yeast`` (``bench/yeast.py``, BENCHMARK.md section 5: real yeast deletion
profiles, the deleted regulators held out five at a time, reporting seeds 5-9; docs/benchmarks.md has the tables). They
are constants on purpose: a run cannot measure itself against deletions it never saw. Update them when the bench's
figures change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtlgrn_core.model.run import Run

COMMAND = "make bench-yeast"

#: a regulator the run does not measure, with measured perturbations to learn the common response and step from
LEARNED_THROUGH_TARGETS = (
    "On real yeast deletions (docs/benchmarks.md; {command}), predictions made this way matched the measured "
    "change at r = 0.31 over the 50 most changed genes for 104 held-out TF deletions (r = 0.21 for 122 deletions of "
    "Kemmeren's compendium), with the direction right for 67 % (59 %) of those genes; 71 % (80 %) of their measured "
    "changes fell in the range shown. Most of what they get right is the response shared by many deletions, not "
    "what is specific to this regulator.")

#: a regulator the run does not measure, without measured perturbations (the default step, nothing learned)
DEFAULT_THROUGH_TARGETS = (
    "On real yeast deletions (docs/benchmarks.md; {command}), predictions from the prior's targets alone, with "
    "nothing learned from measured perturbations, matched the measured change at r = 0.06 (TF deletions) and 0.01 "
    "(Kemmeren) over the 50 most changed genes: read them as a list of candidate targets, not as the size or even "
    "the direction of a change. Perturbation data (a sample sheet naming knocked-out regulators) make them better.")

#: a measured gene, from observational data only (linear responses)
OBSERVATIONAL = (
    "Predictions from observational data alone have not been checked on real deletions of measured genes; "
    "carried from a regulator's targets they matched real yeast deletions at r = 0.01-0.06 over the 50 most changed "
    "genes (docs/benchmarks.md; {command}), and on simulated DREAM4 knockouts at r = 0.35: treat "
    "this prediction as a hypothesis to test.")

#: a measured gene, with the knockout head learned from the run's perturbations
LEARNED_HEAD = (
    "Learned from this run's perturbations. On simulated DREAM4 knockouts such predictions matched at r = 0.65 "
    "(docs/benchmarks.md); on real deletions they have not been measured yet (the held-out regulators of the yeast "
    "benchmark are mostly not measured genes; {command} measures the prediction through their targets).")


def evidence(run: "Run", not_measured: Sequence[str] = ()) -> str:
    """The sentence for a knockout of ``run`` (``not_measured``: the perturbed regulators it does not measure)."""
    if not_measured:
        learned = run.transfer_response().perturbations > 0
        text = LEARNED_THROUGH_TARGETS if learned else DEFAULT_THROUGH_TARGETS
    else:
        text = LEARNED_HEAD if "knockout" in run.tasks else OBSERVATIONAL
    return text.format(command=COMMAND)
