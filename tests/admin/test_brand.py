"""Tests for gateway/admin/brand.py: ``/v1/brand`` and its logo, through a real
daemon; every change lands in the audit log."""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Herald

LOGO = Path(__file__).resolve().parents[1] / "fixtures" / "logo.png"


def test_the_brand_in_force_starts_from_the_configuration(herald: Herald) -> None:
    """With nothing saved the brand is the configured one (here the defaults), no logo."""
    brand = herald.admin("/v1/brand").json
    assert brand["primary_color"].startswith("#")
    assert brand["logo"] == brand["logo_url"] == ""


def test_a_patch_saves_over_the_configuration_and_null_forgets_it(herald: Herald) -> None:
    """PATCH answers the brand in force with the change; null puts the configured value back."""
    configured = herald.admin("/v1/brand").json["footer"]
    saved = herald.admin_send("PATCH", "/v1/brand", {"footer": "Acme Ltd, Springfield"})
    assert saved.status == 200
    assert saved.json["footer"] == "Acme Ltd, Springfield"
    assert herald.admin("/v1/brand").json["footer"] == "Acme Ltd, Springfield"
    forgotten = herald.admin_send("PATCH", "/v1/brand", {"footer": None})
    assert forgotten.json["footer"] == configured
    changes = herald.admin("/v1/audit?setting=brand").json["changes"]
    assert [c["new"] for c in changes[:2]] == [None, {"footer": "Acme Ltd, Springfield"}]
    assert {c["actor"] for c in changes[:2]} == {"admin-api"}


def test_bad_values_are_refused_naming_the_field_and_nothing_is_saved(herald: Herald) -> None:
    """A colour that is no hex colour, an unknown key and a link without a URL are 422s."""
    before = herald.admin("/v1/brand").json
    for body, pointer in [
        ({"primary_color": "red;x"}, "#/primary_color"),
        ({"no_such_key": "x"}, "#/no_such_key"),
        ({"links": [{"label": "Docs"}]}, "#/links/0"),
        ({"name": "Acme\r\nBcc: x@evil.test"}, "#/name"),
    ]:
        answer = herald.admin_send("PATCH", "/v1/brand", body)
        assert answer.status == 422, body
        assert answer.json["errors"][0]["pointer"] == pointer
    assert herald.admin("/v1/brand").json == before


def test_a_logo_is_saved_from_an_images_bytes_and_forgotten(herald: Herald) -> None:
    """PUT with a PNG's bytes makes the brand's logo the inline cid; bytes that are no
    image are 422 naming the logo; DELETE forgets it."""
    headers = {"Authorization": f"Bearer {Herald.TOKEN}", "Content-Type": "image/png"}
    answer = herald.request("PUT", "/v1/brand/logo", LOGO.read_bytes(), headers)
    assert answer.status == 200, answer.body
    assert answer.json["logo"] == "cid:logo@herald"
    refused = herald.request("PUT", "/v1/brand/logo", b"not an image", headers)
    assert refused.status == 422
    assert refused.json["errors"][0]["pointer"] == "#/logo"
    assert herald.admin("/v1/brand").json["logo"] == "cid:logo@herald"
    forgotten = herald.admin_send("DELETE", "/v1/brand/logo")
    assert (forgotten.status, forgotten.json["logo"]) == (200, "")
    saved, removed = herald.admin("/v1/audit?setting=brand/logo&limit=2").json["changes"][::-1]
    assert removed["new"] is None
    # The audit log says the image changed without keeping a copy of it.
    assert (saved["new"]["data"], removed["old"]["data"]) == ("******** (changed)", "********")


def test_the_brand_needs_a_token(herald: Herald) -> None:
    """Without a token the brand can be neither read nor changed."""
    assert herald.admin("/v1/brand", token=None).status == 401
    answer = herald.admin("/v1/brand", token=None, method="PATCH", body={"footer": "x"})
    assert answer.status == 401
