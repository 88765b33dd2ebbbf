"""Every part of the schema says what it is for; Decimal and DateTime name their specification."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    specified_scalar_types,
)

from api.schema import build_schema


def _undescribed(named: GraphQLNamedType) -> Iterator[str]:
    """The coordinates (`Type`, `Type.field`, `Type.field(arg:)`, `Enum.VALUE`) of one type lacking one."""
    if not named.description:
        yield named.name
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        for field_name, field in named.fields.items():
            if not field.description:
                yield f"{named.name}.{field_name}"
            for arg_name, arg in field.args.items():
                if not arg.description:
                    yield f"{named.name}.{field_name}({arg_name}:)"
    elif isinstance(named, GraphQLInputObjectType):
        for field_name, input_field in named.fields.items():
            if not input_field.description:
                yield f"{named.name}.{field_name}"
    elif isinstance(named, GraphQLEnumType):
        for value_name, value in named.values.items():
            if not value.description:
                yield f"{named.name}.{value_name}"
    else:
        assert isinstance(named, GraphQLScalarType | GraphQLUnionType), named


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Every type, field, argument, input field and enum value of ours without a description."""
    ours = (
        named
        for name, named in sorted(schema.type_map.items())
        if not name.startswith("__") and name not in specified_scalar_types
    )
    return [coordinate for named in ours for coordinate in _undescribed(named)]


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    # given: the executable schema
    schema = build_schema()._schema

    # when: it is walked, introspection types and the built-in scalars aside
    missing = undescribed(schema)

    # then: nothing lacks a description
    assert missing == [], f"{len(missing)} without a description:\n" + "\n".join(missing)


def test_the_walk_names_what_lacks_a_description() -> None:
    # given: a type whose field, argument and enum value have no description
    from graphql import build_schema as from_sdl

    schema = from_sdl('"""Root."""\ntype Query { """Has one."""\n a(x: Int): E }\nenum E { A }')

    # when: it is walked
    missing = undescribed(schema)

    # then: each is named by its coordinate
    assert missing == ["E", "E.A", "Query.a(x:)"]


def test_decimal_and_datetime_name_their_specification() -> None:
    # given: the executable schema
    schema = build_schema()._schema

    # when: its two custom scalars are read
    urls = {name: schema.type_map[name].specified_by_url for name in ("Decimal", "DateTime")}

    # then: both carry @specifiedBy with an absolute URL
    assert all(urls.values()), urls
    assert urls["DateTime"] == "https://scalars.graphql.org/andimarek/date-time"
    assert all(url.startswith("https://") for url in urls.values()), urls
