"""plan.py: keys, defaults, the day rules, what a renewal keeps, what a run replaces."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from minipaas_certs.errors import InvalidInput
from minipaas_certs.names import SubjectAltName
from minipaas_certs.plan import (
    CASpec,
    KeySpec,
    LeafSpec,
    Plan,
    client_leaves,
    renewal,
    server_leaf,
)

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
    leaf = LeafSpec("client", "ci", KEY, 3650)
    with pytest.raises(InvalidInput, match="--days 3650 must be shorter than --ca-days 3650"):
        Plan(ca=CASpec("ca", KEY, 3650), leaves=(leaf,))


def test_server_defaults() -> None:
    leaf = server_leaf(None, ["10.0.0.5"], True, KEY, 30)
    assert leaf.common_name == "10.0.0.5"
    assert [str(san) for san in leaf.sans] == ["IP:10.0.0.5", "DNS:localhost", "IP:127.0.0.1"]
    assert server_leaf(None, ["*.swarm.example.com"], False, KEY, 30).common_name == "server"


def test_client_bundles_or_the_default_pair() -> None:
    assert [leaf.cert_file for leaf in client_leaves(None, ["ci", "ci", "a"], KEY, 30)] == [
        "clients/ci/cert.pem", "clients/a/cert.pem"]
    (default,) = client_leaves(None, [], KEY, 30)
    assert (default.common_name, default.cert_file) == ("client", "client-cert.pem")


def test_placement_of_a_new_set() -> None:
    plan = Plan(ca=CASpec("ca", KEY, 100), leaves=(
        server_leaf(None, ["a.example"], True, KEY, 30), *client_leaves(None, ["ci"], KEY, 30)))
    placement = plan.placement(plan.leaves)
    assert set(placement.files) == {"ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem"}
    assert placement.files["server-key.pem"] == 0o600 and placement.bundles == ["clients/ci"]


def test_a_renewal_keeps_names_and_key() -> None:
    current = mock.Mock(subject_cn="node", names=["DNS:node.example", "IP:10.0.0.5"],
                        key_type="rsa", key_bits=2048)
    leaf = renewal(current, Path("server-cert.pem"), "server", None, ["10.0.0.9"], 30, None)
    assert leaf.common_name == "node" and leaf.key == KeySpec("rsa", 2048)
    assert SubjectAltName("IP", "10.0.0.9") in leaf.sans and len(leaf.sans) == 3
    with pytest.raises(InvalidInput, match="--san is for server"):
        renewal(current, Path("x"), "client", None, ["10.0.0.9"], 30, None)
