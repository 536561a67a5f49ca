"""Issue 9's fuzz suite, short run (seconds): the corpus replayed through every target, then a few
hundred mutated and hypothesis-built inputs. The long run is tests/long/fuzz_run.py (README,
"Reliability"); the targets and what counts as a finding are in tests/fuzz_kit.py.
"""

from __future__ import annotations

import random

import fuzz_kit
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_kit import check_request_bytes, length_delimited, unknown_field

from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.decision import Decision

CHECK = pdp_pb2.CheckRequest.DESCRIPTOR
SHORT = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_issue9_fuzz_corpus_has_seeds_for_every_target() -> None:
    assert {t: bool(fuzz_kit.corpus(t)) for t in fuzz_kit.TARGETS} == dict.fromkeys(fuzz_kit.TARGETS, True)


@pytest.mark.parametrize("target", list(fuzz_kit.TARGETS))
def test_issue9_fuzz_corpus_replays_clean(target: str) -> None:
    for data in fuzz_kit.corpus(target):
        fuzz_kit.TARGETS[target](data)


@pytest.mark.parametrize(
    "target",
    ["check_request", "batch", "ext_authz", "ext_authz_fields", "snapshot", "snapshot_body", "snapshot_semantics"],
)
def test_issue9_fuzz_mutated_corpus_short_run(target: str) -> None:
    from long.fuzz_run import mutate

    rng = random.Random(target)
    seeds = fuzz_kit.corpus(target)
    for _ in range(30 if target == "snapshot_semantics" else 150):
        fuzz_kit.TARGETS[target](mutate(rng, rng.choice(seeds), seeds))


def test_issue9_fuzz_mutated_policy_files_short_run() -> None:
    from long.fuzz_run import mutate

    rng = random.Random(9)
    seeds = fuzz_kit.corpus("compile")
    for _ in range(12):
        fuzz_kit.compile_policy(mutate(rng, rng.choice(seeds), seeds))


@SHORT
@given(st.data())
def test_issue9_fuzz_built_questions_and_batches(data: st.DataObject) -> None:
    """Wire-level structures (non-minimal tags, unknown fields, groups) as whole questions and as
    batch items."""
    items = [check_request_bytes(data.draw, CHECK) for _ in range(data.draw(st.integers(1, 4)))]
    for item in items:
        fuzz_kit.check_request(item)
    parts = [length_delimited(data.draw, 1, i) for i in items]
    parts.insert(data.draw(st.integers(0, len(parts))), unknown_field(data.draw))
    fuzz_kit.batch(b"".join(parts))


def test_issue9_fuzz_judge_catches_a_wrong_allow() -> None:
    """The oracle can fail: an ALLOW where the canonical question is a DENY is a finding."""
    answer = pdp_pb2.CheckResponse(decision=Decision.ALLOW, reason=1)
    with pytest.raises(fuzz_kit.Finding, match="wrong ALLOW"):
        fuzz_kit._judge(answer, (int(Decision.DENY), 2), "Check")
    with pytest.raises(fuzz_kit.Finding, match="cannot read"):
        fuzz_kit._judge(answer, None, "Check")
