"""plan.py: keys, defaults, the day rules, what a renewal keeps, what a run replaces."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest
from as_user import ok
from conftest import load_cert
from cryptography.x509.oid import NameOID

from minipaas_certs.errors import Conflict, InvalidInput
from minipaas_certs.names import SubjectAltName
from minipaas_certs.plan import (
    BACKDATE,
    DAY,
    HOUR,
    CASpec,
    KeySpec,
    LeafSpec,
    Plan,
    Request,
    Window,
    as_option,
    chosen_lifetime,
    client_leaves,
    describe,
    renewal,
    server_leaf,
    span,
    time_left,
)
from minipaas_certs.signers.ca_files import CAFiles
from minipaas_certs.signers.new_ca import NewCA

OUT = "my certs"

KEY = KeySpec.parse("ecdsa")


@pytest.mark.parametrize("kind,bits,text", [("ecdsa", None, "ECDSA P-256"),
                                            ("rsa", None, "RSA 3072"),
                                            ("ed25519", None, "Ed25519")])
def test_key_defaults(kind: str, bits: int | None, text: str) -> None:
    assert str(KeySpec.parse(kind, bits)) == text


@pytest.mark.parametrize("kind,bits", [("rsa", 1024), ("ecdsa", 521), ("dsa", None)])
def test_keys_refused(kind: str, bits: int | None) -> None:
    with pytest.raises(InvalidInput):
        KeySpec.parse(kind, bits)


def test_a_leaf_never_outlives_a_new_ca() -> None:
    leaf = LeafSpec("client", "ci", KEY, 3650 * DAY)
    with pytest.raises(InvalidInput, match="--days 3650 must be shorter than --ca-days 3650"):
        Plan.new_set(NewCA(CASpec("ca", KEY, 3650)), (leaf,))


def test_server_defaults() -> None:
    leaf = server_leaf(None, ["10.0.0.5"], True, KEY, 30 * DAY)
    assert leaf.common_name == "10.0.0.5"
    assert [str(san) for san in leaf.sans] == ["IP:10.0.0.5", "DNS:localhost", "IP:127.0.0.1"]
    assert server_leaf(None, ["*.swarm.example.com"], False, KEY, 30 * DAY).common_name == "server"


def test_client_bundles_or_the_default_pair() -> None:
    assert [leaf.cert_file for leaf in client_leaves(None, ["ci", "ci", "a"], KEY, 30 * DAY)] == [
        "clients/ci/cert.pem", "clients/a/cert.pem"]
    (default,) = client_leaves(None, [], KEY, 30 * DAY)
    assert (default.common_name, default.cert_file) == ("client", "client-cert.pem")


def test_placement_of_a_new_set() -> None:
    plan = Plan.new_set(NewCA(CASpec("ca", KEY, 100)), (
        server_leaf(None, ["a.example"], True, KEY, 30 * DAY),
        *client_leaves(None, ["ci"], KEY, 30 * DAY)))
    placement = plan.placement(plan.leaves)
    assert set(placement.files) == {"ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem"}
    assert placement.files["server-key.pem"] == 0o600 and placement.bundles == ["clients/ci"]


def test_a_renewal_keeps_names_and_key() -> None:
    current = mock.Mock(subject_cn="node", names=["DNS:node.example", "IP:10.0.0.5"],
                        other_names=(), key_type="rsa", key_bits=2048)
    leaf = renewal(current, Path("server-cert.pem"), "server", None, ["10.0.0.9"], 30 * DAY, None)
    assert leaf.common_name == "node" and leaf.key == KeySpec("rsa", 2048)
    assert SubjectAltName("IP", "10.0.0.9") in leaf.sans and len(leaf.sans) == 3
    with pytest.raises(InvalidInput, match="--san is for server"):
        renewal(current, Path("x"), "client", None, ["10.0.0.9"], 30 * DAY, None)


def test_lifetimes_from_days_or_hours() -> None:
    assert chosen_lifetime() == 365 * DAY
    assert chosen_lifetime(days=30) == 30 * DAY and chosen_lifetime(hours=8) == 8 * HOUR
    with pytest.raises(InvalidInput, match="--days and --hours cannot be combined"):
        chosen_lifetime(days=1, hours=1)


@pytest.mark.parametrize("lifetime, text, option", [
    (365 * DAY, "365 days", "--days 365"), (DAY, "1 day", "--days 1"),
    (HOUR, "1 hour", "--hours 1"), (36 * HOUR, "36 hours", "--hours 36"),
    (24 * HOUR, "1 day", "--days 1"),
])
def test_lifetimes_are_described_as_they_are_asked_for(lifetime, text: str, option: str) -> None:
    assert (describe(lifetime), as_option(lifetime)) == (text, option)


def test_time_left_is_in_hours_under_a_day() -> None:
    assert time_left(DAY * 3 + HOUR * 20) == "3 days"
    assert time_left(HOUR * 23 + HOUR / 2) == "23 hours"
    assert time_left(HOUR / 2) == "less than an hour"


def certificate_spanning(length):  # type: ignore[no-untyped-def]
    import datetime

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return mock.Mock(not_before=start, not_after=start + length)


@pytest.mark.parametrize("length, kept", [
    (8 * HOUR + BACKDATE, 8 * HOUR),                    # ours: backdated 5 minutes
    (365 * DAY + BACKDATE, 365 * DAY),
    (90 * DAY + HOUR / 120, 90 * DAY),                  # another issuer's 30 s backdating
    (2 * HOUR - HOUR / 4, 2 * HOUR),
    (23 * HOUR + BACKDATE, 23 * HOUR), (25 * HOUR + BACKDATE, 25 * HOUR),
    (47 * HOUR + BACKDATE, 47 * HOUR), (DAY + HOUR / 120, DAY),
    (BACKDATE, HOUR),                                   # never zero
])
def test_a_renewal_keeps_the_span_asked_for(length, kept) -> None:  # type: ignore[no-untyped-def]
    assert span(certificate_spanning(length)) == kept


def test_only_what_expires_within_the_window_is_due() -> None:
    import datetime

    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    plan = Plan.renew_all(CAFiles(), within=Window(days=30))
    assert plan.others is not None and Plan.renew_all(CAFiles()).others is not None
    assert plan.others.is_due(mock.Mock(not_after=now + 30 * DAY), now)
    assert not plan.others.is_due(mock.Mock(not_after=now + 30 * DAY + HOUR), now)
    assert Plan.renew_all(CAFiles()).others.is_due(mock.Mock(not_after=now + 3000 * DAY), now)


def _spanning(start: object, hours: int) -> mock.Mock:
    import datetime

    return mock.Mock(not_before=start, not_after=start + datetime.timedelta(hours=hours))


@pytest.mark.parametrize("window, elapsed_hours, due", [
    (Window(), 5, False), (Window(), 6, True),  # 8 hours: due under 2 h 40 min left
    (Window(), 243 * 24, False), (Window(), 244 * 24, True),  # 365 days: 121.7 left
    (Window.parse("50%"), 3, False), (Window.parse("50%"), 5, True),
    (Window.parse("100%"), 0, True), (Window.parse("0%"), 7, False),
    (Window.parse("30"), 0, True),  # 8 hours expire within 30 days: the old trap
])
def test_the_default_window_is_a_third_of_each_lifetime(window: Window, elapsed_hours: int,
                                                        due: bool) -> None:
    import datetime

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    hours = 8 if elapsed_hours < 24 or window.days is not None else 365 * 24
    now = start + datetime.timedelta(hours=elapsed_hours)
    assert window.is_due(_spanning(start, hours), now) is due


@pytest.mark.parametrize("text, days, percent", [
    ("30", 30, None), ("0", 0, None), ("36500", 36500, None), ("33%", None, 33),
    ("100%", None, 100), (" 7 ", 7, None)])
def test_within_takes_days_or_a_percentage(text: str, days: int | None,
                                           percent: int | None) -> None:
    window = Window.parse(text)
    assert window.days == days
    if percent is not None:
        assert window.share * 100 == percent


@pytest.mark.parametrize("text, message", [
    ("x", "'x' is neither days (30) nor a share of the lifetime (33%)"),
    ("-1", "'-1' is neither days (30) nor a share of the lifetime (33%)"),
    ("1.5%", "'1.5%' is neither days (30) nor a share of the lifetime (33%)"),
    ("\uff13\uff10", "is neither days (30) nor a share of the lifetime (33%)"),
    ("101%", "'101%': a share of the lifetime is 0% to 100%"),
    ("36501", "'36501': at most 36500 days"),
])
def test_within_refuses_what_is_neither(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        Window.parse(text)


def test_each_run_kind_decides_from_the_snapshot_what_it_replaces() -> None:
    """Placement reads nothing: the names present come from the store's snapshot."""
    bundle = LeafSpec("client", "ci", KEY, 30 * DAY, bundle="ci")
    present = frozenset({"ca.pem", "ca-key.pem", "clients", "clients/ci"})
    request = Request("client", "ci")
    with pytest.raises(Conflict, match="clients/ci already exists; use --force"):
        Plan.issue(CAFiles(), (request,)).placement([bundle], Path("out"), present.intersection)
    for plan in (Plan.issue(CAFiles(), (request,), force=True),
                 Plan.renewal(CAFiles(), Request("client", "ci", existing_only=True)),
                 Plan.renew_all(CAFiles())):
        assert plan.placement([bundle], Path("out"), present.intersection).keep == ["clients/ci"]
    assert Plan.issue(CAFiles(), (request,)).placement([bundle], Path("out")).keep == []
    with pytest.raises(Conflict, match="a new CA never replaces them"):
        Plan.new_set(NewCA(CASpec("ca", KEY, 100))).placement([], Path("out"), present.intersection)


def test_a_plan_refuses_a_kind_its_signer_cannot_carry() -> None:
    with pytest.raises(ValueError, match="disagree on a new CA"):
        Plan.new_set(CAFiles())
    with pytest.raises(ValueError, match="disagree on a new CA"):
        Plan.issue(NewCA(CASpec("ca", KEY, 100)), ())
    revocation = Plan.revocation(NewCA(CASpec("ca", KEY, 100)), ["a", "a"])  # type: ignore[list-item]
    assert revocation.force and revocation.reissue and revocation.revoke == ("a",)
    assert Plan.new_set(NewCA(CASpec("ca", KEY, 100)), reissue=True).reissue
    assert not Plan.new_set(NewCA(CASpec("ca", KEY, 100))).reissue


def ca_cn(path: Path) -> str:
    return str(load_cert(path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_a_third_replacement_ca_does_not_take_the_first_cas_name(tmp_path: Path) -> None:
    """Item 10: two CAs made the same day get distinct CNs.  ``ca --force --reissue``
    twice: the second new CA only avoids the CN of the CA it replaces, so it takes back
    the plain ``minipaas-ca`` of the first CA, which is still in a backup folder."""
    ok(tmp_path, "all", "--out", OUT)
    ok(tmp_path, "ca", "--out", OUT, "--force", "--reissue")
    ok(tmp_path, "ca", "--out", OUT, "--force", "--reissue")
    names = [ca_cn(p) for p in sorted((tmp_path / OUT).glob("backup-*/ca.pem"))]
    names.append(ca_cn(tmp_path / OUT / "ca.pem"))
    assert len(names) == 3
    assert len(set(names)) == 3, names
