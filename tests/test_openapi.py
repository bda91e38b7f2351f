"""Tests for gateway/openapi.py: the operations each route module declares, and
the one document they are joined into."""

from __future__ import annotations

from gateway import __version__, openapi


def test_a_scoped_operation_names_its_scope_and_the_answers_a_token_brings() -> None:
    """A guarded call answers 401, 403 and 429 besides its own; a public one does not."""
    ok = {200: openapi.json_body({"type": "object"}, "Fine")}
    guarded = openapi.operation("Read", scope="runs:read", ok=ok, problems=(404,))
    assert guarded["security"] == [{"bearer": ["runs:read"]}]
    assert sorted(guarded["responses"]) == ["200", "401", "403", "404", "429"]
    assert guarded["responses"]["404"]["content"] == {
        openapi.PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    public = openapi.operation("Health", scope=None, ok=ok, problems=(503,))
    assert public["security"] == []
    assert sorted(public["responses"]) == ["200", "503"]


def test_an_operation_with_a_body_answers_what_reading_json_may_refuse() -> None:
    """A JSON body brings 400 (malformed), 415 (not JSON) and 422 (invalid)."""
    written = openapi.operation(
        "Write", scope=None, ok={200: openapi.json_body({}, "Saved")}, body={"type": "object"}
    )
    assert sorted(written["responses"]) == ["200", "400", "415", "422"]
    assert written["requestBody"]["required"] is True


def test_simple_paths_take_their_parameters_from_the_template() -> None:
    """Each ``{name}`` in a path becomes a required path parameter; put and patch read a body."""
    paths = openapi.simple(
        "queue:operate",
        ("get", "/v1/queue/{message_id}", "One"),
        ("put", "/v1/queue/{message_id}", "Change"),
    )
    [only] = paths
    get, put = paths[only]["get"], paths[only]["put"]
    assert [p["name"] for p in get["parameters"]] == ["message_id"]
    assert get["parameters"][0]["required"] is True
    assert "requestBody" not in get
    assert "requestBody" in put
    assert "422" in put["responses"]


def test_the_document_joins_fragments_and_schemas_sorted() -> None:
    """Operations on the same path from two modules meet; schemas add to Problem."""
    read = {"/v1/b": {"get": {"summary": "b"}}, "/v1/a": {"get": {"summary": "a"}}}
    write = {"/v1/a": {"put": {"summary": "put a"}}}
    document = openapi.document([read, write], [{"Thing": {"type": "object"}}])
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    assert list(document["paths"]) == ["/v1/a", "/v1/b"]
    assert set(document["paths"]["/v1/a"]) == {"get", "put"}
    assert set(document["components"]["schemas"]) == {"Problem", "Thing"}
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
