"""How `bench matcher` judges an alert: by the plate of the vehicle really there."""

from __future__ import annotations

import pytest

from veille.bench.matcher import is_true_hit
from veille.domain.hotlists import Category, Hit, Hotlist, HotlistEntry, MatchKind

pytestmark = pytest.mark.unit

LIST = Hotlist("l", "List", Category.STOLEN_VEHICLE, "fed", max_edits=1)


def hit(plate: str, kind: MatchKind) -> Hit:
    return Hit(HotlistEntry(entry_id="e", list_id="l", plate=plate), LIST, kind)


def test_a_hit_is_true_only_on_the_true_plate_whatever_the_read_said():
    assert is_true_hit(hit("1ABC123", MatchKind.LOOKALIKE), "1ABC123")  # a misread of it
    assert not is_true_hit(hit("1ABC123", MatchKind.EXACT), "1ABC128")  # misread into it
    assert not is_true_hit(hit("1ABC123", MatchKind.EDIT_DISTANCE), "1ABC12")  # another car


def test_a_witness_pattern_is_true_when_it_fits_the_true_plate():
    assert is_true_hit(hit("1AB?1?3", MatchKind.WILDCARD), "1ABC123")
    assert not is_true_hit(hit("1AB?1?3", MatchKind.WILDCARD), "1ABC124")
    assert is_true_hit(hit("1AB*", MatchKind.WILDCARD), "1ABZZZZ")
