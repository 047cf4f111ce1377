"""The hotlist matcher against its rules and against a brute-force reference matcher."""

from __future__ import annotations

import fnmatch
import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from veille.domain.hotlists import (
    Category,
    Hit,
    Hotlist,
    HotlistEntry,
    MatchKind,
    recipients_allowed,
)
from veille.domain.matcher import (
    HotlistIndex,
    IndexBuildError,
    MatcherHolder,
    TooManyWildcards,
    bit_distance,
    deletion_levels,
    pattern_bits,
)
from veille.domain.plates import DEFAULT_LOOKALIKES
from veille.domain.times import NaiveDatetime

pytestmark = pytest.mark.unit

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
# Mostly look-alike characters, a few that are alike to nothing: near misses are frequent.
ALPHABET = "0ODQ1IL7T8B2Z5SGC6UVJMNKXEHP"
plates = st.text(alphabet=ALPHABET, min_size=3, max_size=8)


def class_of(ch: str) -> list[str]:
    for members in DEFAULT_LOOKALIKES.classes:
        if ch in members:
            return sorted(members)
    return [ch]


def reference_levenshtein(a: str, b: str) -> int:
    """Textbook full-matrix Levenshtein distance, independent of the code under test."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


def hotlist(list_id: str = "L", *, max_edits: int = 0, lookalike: bool = True, **kw) -> Hotlist:
    return Hotlist(
        list_id, list_id, Category.INVESTIGATION, kw.pop("owner_org", "org-" + list_id),
        max_edits=max_edits, lookalike=lookalike, **kw,
    )  # fmt: skip


def item(plate: str, list_id: str = "L", entry_id: str | None = None, **kw) -> HotlistEntry:
    return HotlistEntry(
        entry_id=entry_id or f"{list_id}:{plate}", list_id=list_id, plate=plate, **kw
    )


def match(index: HotlistIndex | MatcherHolder, plate: str, country: str | None = None, now=NOW):
    canonical = DEFAULT_LOOKALIKES.canonical(plate)
    return index.match(plate=plate, plate_canonical=canonical, country=country, now=now)


def hits_of(index: HotlistIndex, plate: str, **kw) -> set[tuple[str, MatchKind, int]]:
    return {(h.entry.entry_id, h.kind, h.distance) for h in match(index, plate, **kw)}


# ---- look-alikes and edit budgets ---------------------------------------------------


@st.composite
def lookalike_variants(draw: st.DrawFn, plate: str) -> str:
    return "".join(draw(st.sampled_from(class_of(ch))) for ch in plate)


@given(st.data(), plates)
def test_any_lookalike_substitution_hits_a_lookalike_list(data: st.DataObject, plate: str):
    index = HotlistIndex.build([hotlist()], [item(plate)])
    read = data.draw(lookalike_variants(plate))
    [hit] = match(index, read)
    assert hit.entry.plate == plate
    assert hit.kind is (MatchKind.EXACT if read == plate else MatchKind.LOOKALIKE)
    assert hit.distance == sum(a != b for a, b in zip(read, plate, strict=True))


@given(st.data(), plates)
def test_a_list_without_lookalikes_hits_the_exact_plate_only(data: st.DataObject, plate: str):
    index = HotlistIndex.build([hotlist(lookalike=False)], [item(plate)])
    read = data.draw(lookalike_variants(plate))
    assert bool(match(index, read)) is (read == plate)


@st.composite
def edited(draw: st.DrawFn, plate: str, edits: int) -> str:
    """`plate` with up to `edits` inserted, deleted or substituted characters."""
    out = list(plate)
    for _ in range(draw(st.integers(0, edits))):
        op = draw(st.sampled_from(["insert", "delete", "substitute"] if out else ["insert"]))
        if op == "insert":
            out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(ALPHABET)))
        else:
            at = draw(st.integers(0, len(out) - 1))
            if op == "delete":
                del out[at]
            else:
                out[at] = draw(st.sampled_from(ALPHABET))
    return "".join(out)


@settings(max_examples=300)
@given(st.data(), plates, st.sampled_from([1, 2]), st.sampled_from([0, 1, 2]))
def test_a_plate_within_the_edit_budget_always_hits(
    data: st.DataObject, plate: str, budget: int, other_budget: int
):
    # another list in the same index, with its own budget, must not change the answer
    lists = [hotlist(max_edits=budget), hotlist("other", max_edits=other_budget)]
    index = HotlistIndex.build(lists, [item(plate), item("XXXXXXXX", "other")])
    read = data.draw(edited(plate, budget).flatmap(lookalike_variants))
    if not read:
        return  # a read always has a plate
    found = {h.entry.entry_id: h for h in match(index, read)}
    hit = found["L:" + plate]
    distance = reference_levenshtein(
        DEFAULT_LOOKALIKES.canonical(read), DEFAULT_LOOKALIKES.canonical(plate)
    )
    if distance == 0:
        assert hit.kind in (MatchKind.EXACT, MatchKind.LOOKALIKE)
    else:
        assert (hit.kind, hit.distance) == (MatchKind.EDIT_DISTANCE, distance)


@pytest.mark.parametrize(
    ("read", "distance"),
    [
        ("ABC1234", 2),  # first character dropped, one added at the end
        ("1ABC1234", 1),  # one added
        ("1AB123", 1),  # one dropped
        ("1XBC12", 2),  # one substituted, one dropped
        ("1XYC123", 2),  # two substituted
        ("X1ABC12", 2),  # one added in front, the last dropped
    ],
)
@pytest.mark.parametrize("other_budget", [0, 1, 2])
def test_every_shape_of_two_edits_hits_a_budget_of_two(read: str, distance: int, other_budget: int):
    lists = [hotlist("two", max_edits=2), hotlist("other", max_edits=other_budget)]
    index = HotlistIndex.build(lists, [item("1ABC123", "two"), item("1ABC123", "other")])
    hits = {h.list.list_id: h for h in match(index, read)}
    assert (hits["two"].kind, hits["two"].distance) == (MatchKind.EDIT_DISTANCE, distance)
    assert ("other" in hits) is (distance <= other_budget)


def test_a_dropped_character_and_a_lookalike_together_need_a_budget_of_one():
    lists = [hotlist("none"), hotlist("one", max_edits=1)]
    index = HotlistIndex.build(lists, [item("1ABC123", "none"), item("1ABC123", "one")])
    assert hits_of(index, "IABC12") == {("one:1ABC123", MatchKind.EDIT_DISTANCE, 1)}
    assert hits_of(index, "IA8C123") == {
        ("none:1ABC123", MatchKind.LOOKALIKE, 2),
        ("one:1ABC123", MatchKind.LOOKALIKE, 2),
    }
    assert hits_of(index, "1XBC12") == set()  # a substitution and a drop: two edits


def test_the_edit_budget_of_a_list_without_lookalikes_counts_raw_characters():
    index = HotlistIndex.build([hotlist(max_edits=1, lookalike=False)], [item("1ABC123")])
    assert hits_of(index, "1ABC12") == {("L:1ABC123", MatchKind.EDIT_DISTANCE, 1)}
    assert hits_of(index, "IABC123") == {("L:1ABC123", MatchKind.EDIT_DISTANCE, 1)}
    assert hits_of(index, "IABC12") == set()


# ---- the brute-force reference --------------------------------------------------------


def reference_match(lists: list[Hotlist], entries: list[HotlistEntry], plate: str, country, now):
    """Every rule of docs/hotlists.md, applied to each entry in turn."""
    by_id = {hl.list_id: hl for hl in lists}
    found = set()
    for e in entries:
        hl = by_id[e.list_id]
        if e.country and country and e.country != country:
            continue
        if not e.active_at(now):
            continue
        form = DEFAULT_LOOKALIKES.canonical if hl.lookalike else (lambda text: text)
        if e.is_wildcard:
            if fnmatch.fnmatchcase(form(plate), form(e.plate)):
                found.add((e.entry_id, MatchKind.WILDCARD, 0))
        elif e.plate == plate:
            found.add((e.entry_id, MatchKind.EXACT, 0))
        elif hl.lookalike and form(e.plate) == form(plate):
            found.add((e.entry_id, MatchKind.LOOKALIKE, sum(map(str.__ne__, e.plate, plate))))
        else:
            distance = reference_levenshtein(form(plate), form(e.plate))
            if distance <= hl.max_edits:
                found.add((e.entry_id, MatchKind.EDIT_DISTANCE, distance))
    return found


short_plates = st.text(alphabet="0OD18B2ZAE", min_size=3, max_size=6)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    plate = draw(st.text(alphabet="0OD18B2ZAE", min_size=3, max_size=6))
    masked = "".join(draw(st.sampled_from([ch, ch, "?"])) for ch in plate)
    if sum(ch != "?" for ch in masked) < 3:
        masked = plate
    return draw(
        st.sampled_from([masked, "*" + masked, masked + "*", masked[:2] + "*" + masked[2:]])
    )


@st.composite
def worlds(draw: st.DrawFn):
    lists = [
        hotlist(
            f"L{n}",
            max_edits=draw(st.integers(0, 2)),
            lookalike=draw(st.booleans()),
            max_wildcards=20,
        )
        for n in range(draw(st.integers(1, 3)))
    ]
    entries = []
    for n in range(draw(st.integers(1, 12))):
        hl = draw(st.sampled_from(lists))
        start = draw(st.sampled_from([None, NOW - timedelta(hours=1), NOW]))
        until = draw(st.sampled_from([None, NOW, NOW + timedelta(seconds=1)]))
        if start and until and until <= start:
            until = None
        entries.append(
            HotlistEntry(
                entry_id=f"E{n}",
                list_id=hl.list_id,
                plate=draw(st.one_of(short_plates, short_plates, patterns())),
                country=draw(st.sampled_from([None, None, "BE", "FR"])),
                valid_from=start,
                valid_until=until,
            )
        )
    return lists, entries


@settings(max_examples=300)
@given(worlds(), st.data())
def test_the_index_agrees_with_the_brute_force_reference(world, data: st.DataObject):
    lists, entries = world
    index = HotlistIndex.build(lists, entries)
    near = st.sampled_from([e.plate.replace("?", "A").replace("*", "") for e in entries])
    plate = data.draw(
        st.one_of(
            short_plates,
            near.flatmap(lambda p: edited(p, 3)),
            near.flatmap(lookalike_variants),
            near.flatmap(lambda p: edited(p, 1).flatmap(lookalike_variants)),
        )
    )
    if not plate:
        return
    country = data.draw(st.sampled_from([None, "BE", "FR", "NL"]))
    expected = reference_match(lists, entries, plate, country, NOW)
    for kind in {k for _, k, _ in expected} or {"none"}:
        event(f"expects a {kind} hit")
    assert hits_of(index, plate, country=country) == expected


# ---- country, validity, priority, one hit per entry ---------------------------------------


def test_country_an_entry_with_a_country_misses_reads_of_another_known_country():
    index = HotlistIndex.build(
        [hotlist()], [item("AB123", country="BE", entry_id="be"), item("AB123", entry_id="any")]
    )
    ids = lambda country: {h.entry.entry_id for h in match(index, "AB123", country)}  # noqa: E731
    assert ids("BE") == ids("be") == {"be", "any"}
    assert ids(None) == {"be", "any"}  # country not read: may be ours
    assert ids("FR") == ids("XX") == {"any"}


@given(st.integers(-10, 10), st.integers(1, 10))
def test_validity_is_the_half_open_window(start_s: int, length_s: int):
    start = NOW + timedelta(seconds=start_s)
    until = start + timedelta(seconds=length_s)
    index = HotlistIndex.build([hotlist()], [item("AB123", valid_from=start, valid_until=until)])
    assert bool(match(index, "AB123")) is (start <= NOW < until)
    assert match(index, "AB123", now=start) and not match(index, "AB123", now=until)


def test_open_ended_validity_and_a_naive_now_is_refused_not_guessed():
    index = HotlistIndex.build(
        [hotlist()], [item("AB123", valid_until=NOW), item("CD456", valid_from=NOW)]
    )
    before = NOW - timedelta(microseconds=1)
    assert [h.entry.plate for h in match(index, "AB123", now=before)] == ["AB123"]
    assert not match(index, "CD456", now=before)
    with pytest.raises(NaiveDatetime):  # one rule for every moment: domain/times.py
        match(index, "AB123", now=before.replace(tzinfo=None))


def test_hits_are_sorted_by_priority_then_kind():
    lists = [hotlist("A"), hotlist("B", max_edits=1), hotlist("C", max_wildcards=1)]
    entries = [
        item("1ABC123", "A", priority=3),
        item("IABC123", "B", priority=3),
        item("1ABC12", "B", priority=1),
        item("1AB?123", "C", priority=2),
    ]
    hits = match(HotlistIndex.build(lists, entries), "1ABC123")
    assert [(h.entry.priority, h.kind) for h in hits] == [
        (1, MatchKind.EDIT_DISTANCE),
        (2, MatchKind.WILDCARD),
        (3, MatchKind.EXACT),
        (3, MatchKind.LOOKALIKE),
    ]


@given(st.data(), plates)
def test_at_most_one_hit_per_entry_with_the_best_kind(data: st.DataObject, plate: str):
    lists = [hotlist(max_edits=2, max_wildcards=5)]
    pattern = plate[:3] + "*"
    index = HotlistIndex.build(lists, [item(plate), item(pattern, entry_id="wild")])
    read = data.draw(st.one_of(st.just(plate), lookalike_variants(plate), edited(plate, 2)))
    hits = match(index, read)
    assert len({h.entry.entry_id for h in hits}) == len(hits)
    if read == plate:
        assert hits[0].kind is MatchKind.EXACT  # never also reported as an edit


def test_entries_come_back_whole_from_the_columns():
    start = datetime(2025, 1, 1, 10, tzinfo=UTC)
    original = HotlistEntry(
        entry_id="E1",
        list_id="L",
        plate="1ABC123",
        country="BE",
        priority=1,
        valid_from=start,
        valid_until=start + timedelta(days=400),
        source_ref="PV 1/25",
        instructions="Stop with backup.",
        covert=True,
    )
    index = HotlistIndex.build([hotlist()], [original])
    [hit] = match(index, "1ABC123", "BE")
    assert hit.entry == original
    assert index.entry(0) == original and len(index) == 1


# ---- wildcards -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "hits", "misses"),
    [
        ("1AB?123", ["1ABC123", "1ABZ123"], ["1AB123", "1ABCC123", "2ABC123"]),
        ("1AB*", ["1AB", "1ABC123", "1AB9"], ["1A", "X1ABC"]),
        ("*C12*", ["C12", "1ABC123", "XC12"], ["1ABD123"]),
        ("1?B*3", ["1AB3", "1ABC123"], ["1AB4", "AB3"]),
    ],
)
def test_wildcard_semantics(pattern: str, hits: list[str], misses: list[str]):
    index = HotlistIndex.build([hotlist(lookalike=False)], [item(pattern)])
    for plate in hits:
        assert [(h.kind, h.distance) for h in match(index, plate)] == [(MatchKind.WILDCARD, 0)]
    for plate in misses:
        assert match(index, plate) == [], plate


def test_a_wildcard_in_a_lookalike_list_matches_lookalikes_of_its_fixed_characters():
    index = HotlistIndex.build([hotlist()], [item("1AB?12*")])
    assert match(index, "IA8Z12")[0].kind is MatchKind.WILDCARD
    assert not match(index, "IA8Z13")


def test_the_wildcard_limit_of_a_list_is_enforced_at_build():
    lists = [hotlist("A", max_wildcards=2), hotlist("B", max_wildcards=0)]
    HotlistIndex.build(lists, [item("AB?1", "A"), item("AB?2", "A"), item("AB1", "B")])
    with pytest.raises(TooManyWildcards, match="'A' allows 2 wildcard entries"):
        HotlistIndex.build(lists, [item(f"AB?{n}", "A") for n in range(3)])
    with pytest.raises(TooManyWildcards, match="'B' allows 0"):
        HotlistIndex.build(lists, [item("AB*", "B")])


def test_wildcard_reads_of_every_length_are_tested_even_beyond_a_plate():
    index = HotlistIndex.build([hotlist(lookalike=False)], [item("AB*"), item("??????????XYZ")])
    assert match(index, "AB" + "C" * 20)
    assert match(index, "A" * 10 + "XYZ")


# ---- building ------------------------------------------------------------------------


def test_an_entry_of_an_unknown_list_or_two_lists_with_one_id_are_refused():
    with pytest.raises(IndexBuildError, match="unknown list 'nope'"):
        HotlistIndex.build([hotlist()], [item("AB123", "nope")])
    with pytest.raises(IndexBuildError, match="share a list_id"):
        HotlistIndex.build([hotlist(), hotlist()], [])


@given(st.text(alphabet="AB01", max_size=7), st.integers(0, 3))
def test_deletion_levels_are_every_subsequence_by_deleted_count(key: str, depth: int):
    levels = deletion_levels(key, depth)
    assert len(levels) == depth + 1
    for deleted, level in enumerate(levels):
        size = len(key) - deleted
        kept = itertools.combinations(range(len(key)), size) if size >= 0 else []
        expected = ["".join(key[i] for i in positions) for positions in kept]
        assert level == expected


@given(st.text(alphabet="AB01O", max_size=10), st.text(alphabet="AB01O", max_size=10))
def test_the_bit_parallel_distance_is_levenshtein(a: str, b: str):
    assert bit_distance(pattern_bits(a), len(a), b) == reference_levenshtein(a, b)


# ---- covert entries ------------------------------------------------------------------


def test_a_covert_hit_is_allowed_to_the_owning_organisation_only():
    lists = [hotlist("secret", owner_org="zone-5339"), hotlist("open", owner_org="fed")]
    entries = [item("AB123", "secret", covert=True), item("AB123", "open")]
    hits = {h.list.list_id: h for h in match(HotlistIndex.build(lists, entries), "AB123")}
    secret, shared = hits["secret"], hits["open"]
    assert secret.entry.covert and secret.owner_org == "zone-5339"
    assert recipients_allowed(secret, "zone-5339")
    assert not recipients_allowed(secret, "fed")
    assert not recipients_allowed(secret, "zone-5340")
    assert all(recipients_allowed(shared, org) for org in ("fed", "zone-5339", "zone-5340"))


@given(st.booleans(), st.sampled_from(["owner", "other"]), st.sampled_from(["owner", "other"]))
def test_recipients_allowed_is_owner_only_exactly_when_covert(covert: bool, owner: str, org: str):
    hl = hotlist(owner_org=owner)
    hit = Hit(entry=item("AB123", covert=covert), list=hl, kind=MatchKind.EXACT)
    assert recipients_allowed(hit, org) is (not covert or org == owner)


# ---- the holder ----------------------------------------------------------------------


def test_the_holder_starts_empty_and_replace_returns_the_previous_index():
    holder = MatcherHolder()
    assert match(holder, "AB123") == []
    first = holder.current
    new = HotlistIndex.build([hotlist()], [item("AB123")])
    assert holder.replace(new) is first and holder.current is new
    assert [h.entry.plate for h in match(holder, "AB123")] == ["AB123"]
    rebuilt = holder.rebuild_with([hotlist("M")], [item("CD456", "M")])
    assert holder.current is rebuilt
    assert match(holder, "AB123") == [] and match(holder, "CD456")


def test_swapping_the_index_while_matching_shows_one_whole_index_at_a_time():
    # the same plate hits two entries in the old index and one other entry in the new one
    old = HotlistIndex.build([hotlist("old")], [item("AB123", "old"), item("AB12?", "old")])
    new = HotlistIndex.build([hotlist("new")], [item("AB123", "new")])
    old_ids = {h.entry.entry_id for h in match(old, "AB123")}
    new_ids = {h.entry.entry_id for h in match(new, "AB123")}
    holder = MatcherHolder(old)
    stop = threading.Event()
    errors: list[BaseException] = []

    def swap() -> None:
        try:
            for n in range(20_000):
                holder.replace(new if n % 2 == 0 else old)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            stop.set()

    swapper = threading.Thread(target=swap)
    swapper.start()
    seen = []
    while not stop.is_set() or len(seen) < 100:
        seen.append(frozenset(h.entry.entry_id for h in match(holder, "AB123")))
    swapper.join()
    assert not errors
    assert set(seen) <= {frozenset(old_ids), frozenset(new_ids)}
    assert len(old_ids) == 2 and len(new_ids) == 1
