"""reports: the counted nouns every printed count goes through."""

from __future__ import annotations

from minipaas_certs.reports import count, plural


def test_count_says_one_noun_or_many() -> None:
    assert count(1, "certificate") == "1 certificate"
    assert count(0, "certificate") == "0 certificates"
    assert count(2, "day") == "2 days"


def test_plural_takes_an_irregular_form() -> None:
    assert plural(1, "matches", "match") == "matches"
    assert plural(3, "matches", "match") == "match"
