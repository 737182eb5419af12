"""render.py: the strict, sandboxed environment and what it refuses."""

from __future__ import annotations

import pytest

from minipaas_certs import render
from minipaas_certs.errors import InvalidInput


@pytest.mark.parametrize("bad", ["a\nb", "x#y", "$HOME", "a,b", 'q"', "back\\", "a=b", None,
                                 True, 1.5, ["list"]])
def test_renderer_refuses_unsafe_values_even_past_the_validators(bad: object) -> None:
    with pytest.raises(InvalidInput, match="refusing to render"):
        render.SHIPPED.render("client.cnf.j2", common_name=bad, key_type="ecdsa")


def test_renderer_is_strict_about_missing_values() -> None:
    with pytest.raises(InvalidInput, match=r"server\.cnf\.j2: 'dns_names' is undefined"):
        render.SHIPPED.render("server.cnf.j2", common_name="x", key_type="rsa")


def test_server_config_has_one_name_per_line() -> None:
    text = render.SHIPPED.render("server.cnf.j2", common_name="node", key_type="ecdsa",
                         dns_names=["a.example", "b.example"], ip_addresses=["10.0.0.1"])
    assert "DNS.1 = a.example\nDNS.2 = b.example\nIP.1 = 10.0.0.1\n" in text
    assert "keyEncipherment" not in text
