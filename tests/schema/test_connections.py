"""Every connection pages both ways (API.md, "Clients": `first`/`after` and `last`/`before`)."""

from __future__ import annotations

from graphql import GraphQLObjectType, get_named_type

from api.schema import build_schema

PAGING = {"first", "after", "last", "before"}


def test_every_connection_field_takes_first_after_last_and_before() -> None:
    # given: every field of the schema whose type is a connection
    schema = build_schema()._schema
    fields = {
        f"{named.name}.{name}": set(field.args)
        for named in schema.type_map.values()
        if isinstance(named, GraphQLObjectType) and not named.name.startswith("__")
        for name, field in named.fields.items()
        if get_named_type(field.type).name.endswith("Connection")
    }

    # when: their arguments are read
    missing = {coordinate: sorted(PAGING - args) for coordinate, args in fields.items() if PAGING - args}

    # then: there are connections, and each takes all four
    assert len(fields) >= 9, sorted(fields)
    assert not missing, missing
