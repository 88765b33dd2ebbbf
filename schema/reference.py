"""The API reference (docs/api.md) written from the schema's own descriptions, in Markdown.

`python server.py api-docs > docs/api.md` (or `make docs`) rewrites it; a test fails while the
committed file and the schema disagree, so the reference cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    get_named_type,
    print_ast,
)

INTRODUCTION = """\
# API reference

Every query, mutation, subscription and type of the GraphQL API at `/graphql`, with what each one
means. It is written from the descriptions in the code (the same ones GraphiQL shows) by
`python server.py api-docs > docs/api.md` (`make docs`); do not edit it by hand. The schema itself
is [`schema.graphql`](../schema.graphql); the [README](../README.md) shows the API at work.

Conventions that hold everywhere:

- Log in with `login(email, password)` and send `Authorization: Bearer <token>` on every request
  (on a websocket, in the `connection_init` payload). Without a valid token every operation answers
  a top-level error with `extensions.code` `UNAUTHENTICATED`; an operation your role may never run
  answers `FORBIDDEN`.
- Credits are `Decimal` strings with two decimals (`"100.00"`, `"-15.00"`), never floats, in both
  directions.
- A mutation's expected failures come back in its payload's `userErrors` (a `code` from
  [ErrorCode](#errorcode), the `field` path of the input at fault and a message); its other fields
  are then null. Something of another customer looks exactly like something that does not exist:
  null from a query, `NOT_FOUND` from a mutation.
- Grants, withdrawals and service requests take an `idempotencyKey`: sending the same one again
  returns the first answer instead of acting twice.
- Lists are Relay connections: `first` / `after` forward, `last` / `before` backward, with
  `pageInfo` and an opaque cursor on every edge.
"""

ROOTS = (("Queries", "query"), ("Mutations", "mutation"), ("Subscriptions", "subscription"))
KINDS: tuple[tuple[str, type], ...] = (
    ("Objects", GraphQLObjectType),
    ("Interfaces", GraphQLInterfaceType),
    ("Unions", GraphQLUnionType),
    ("Input types", GraphQLInputObjectType),
    ("Enums", GraphQLEnumType),
    ("Scalars", GraphQLScalarType),
)


def render(sdl: str) -> str:
    """The whole reference for the schema written as `sdl`."""
    schema = build_schema(sdl)
    parts = [INTRODUCTION]
    roots = {root.name for root in _roots(schema)}
    for title, operation in ROOTS:
        root = getattr(schema, f"{operation}_type")
        if root is None:
            continue
        parts.append(f"## {title}\n")
        parts.extend(_operation(name, field, operation) for name, field in root.fields.items())
    parts.append("## Types\n")
    named = [
        t for name, t in sorted(schema.type_map.items()) if not name.startswith("__") and name not in roots
    ]
    for title, kind in KINDS:
        of_kind = [t for t in named if isinstance(t, kind)]
        if of_kind:
            parts.append(f"### {title}\n")
            parts.extend(_type(t) for t in of_kind)
    return "\n".join(parts).rstrip("\n") + "\n"


def _roots(schema: GraphQLSchema) -> Iterable[GraphQLObjectType]:
    """The schema's query, mutation and subscription types."""
    return [t for t in (schema.query_type, schema.mutation_type, schema.subscription_type) if t]


def _operation(name: str, field: GraphQLField, operation: str) -> str:
    """One root field: its signature, description and arguments (heading `name` + operation, so its
    anchor never collides with a type's)."""
    lines = [f"### `{name}` {operation}\n", "```graphql", _signature(name, field), "```\n"]
    if field.description:
        lines.append(_paragraph(field.description) + "\n")
    if field.deprecation_reason:
        lines.append(f"Deprecated: {field.deprecation_reason}\n")
    if field.args:
        lines.append("| argument | type | description |\n| --- | --- | --- |")
        lines.extend(_argument_row(arg_name, arg) for arg_name, arg in field.args.items())
        lines.append("")
    lines.append(f"Returns {_type_link(field.type)}.\n")
    return "\n".join(lines)


def _signature(name: str, field: GraphQLField) -> str:
    """`name(arg: Type = default): Type`, as in the SDL."""
    args = ", ".join(f"{arg_name}: {arg.type}{_default(arg)}" for arg_name, arg in field.args.items())
    return f"{name}({args}): {field.type}" if args else f"{name}: {field.type}"


def _type(named: GraphQLNamedType) -> str:
    """One named type: its description, then its fields, input fields or values."""
    lines = [f"#### {named.name}\n"]
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and named.interfaces:
        lines.append("Implements " + ", ".join(_link(i.name) for i in named.interfaces) + ".\n")
    if named.description:
        lines.append(_paragraph(named.description) + "\n")
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        lines.append("| field | type | description |\n| --- | --- | --- |")
        lines.extend(_field_row(field_name, field) for field_name, field in named.fields.items())
        lines.append("")
        lines.extend(
            _field_arguments(field_name, field) for field_name, field in named.fields.items() if field.args
        )
    elif isinstance(named, GraphQLInputObjectType):
        lines.append("| input field | type | description |\n| --- | --- | --- |")
        lines.extend(_argument_row(field_name, field) for field_name, field in named.fields.items())
        lines.append("")
    elif isinstance(named, GraphQLEnumType):
        lines.append("| value | meaning |\n| --- | --- |")
        lines.extend(
            f"| `{value_name}` | {_cell(value.description)} |" for value_name, value in named.values.items()
        )
        lines.append("")
    elif isinstance(named, GraphQLUnionType):
        lines.append("One of " + ", ".join(_link(t.name) for t in named.types) + ".\n")
    return "\n".join(lines)


def _field_row(name: str, field: GraphQLField) -> str:
    """A table row for an output field (its arguments are named here, described under the table)."""
    description = _cell(field.description)
    if field.deprecation_reason:
        description += f"<br>Deprecated: {_cell(field.deprecation_reason)}"
    shown = f"`{name}({', '.join(field.args)})`" if field.args else f"`{name}`"
    return f"| {shown} | {_type_link(field.type)} | {description} |"


def _field_arguments(name: str, field: GraphQLField) -> str:
    """The arguments of an output field, as a list under its type's table."""
    lines = [f"Arguments of `{name}`:\n"]
    for arg_name, arg in field.args.items():
        lines.append(
            f"- `{arg_name}: {arg.type}{_default(arg)}`"
            + (f": {_cell(arg.description)}" if arg.description else "")
        )
    return "\n".join(lines) + "\n"


def _argument_row(name: str, arg: GraphQLArgument | GraphQLInputField) -> str:
    """A table row for an argument or input field, its default after its type."""
    default = _default(arg).removeprefix(" = ")
    type_text = _type_link(arg.type) + (f" = `{default}`" if default else "")
    return f"| `{name}` | {type_text} | {_cell(arg.description)} |"


def _default(arg: GraphQLArgument | GraphQLInputField) -> str:
    """` = value` when the SDL gives the argument a default, else nothing."""
    node = arg.ast_node.default_value if arg.ast_node else None
    return f" = {print_ast(node)}" if node else ""


def _type_link(type_: object) -> str:
    """`Customer!` with the named type linked to its section."""
    named = get_named_type(type_)  # type: ignore[arg-type]
    escaped = str(type_).replace("[", "\\[").replace("]", "\\]")
    return escaped.replace(named.name, _link(named.name), 1)


def _link(name: str) -> str:
    """A link to a type's heading (GitHub's anchor: the lower-cased name)."""
    return f"[{name}](#{name.lower()})"


def _paragraph(text: str) -> str:
    """A description as a Markdown paragraph."""
    return text.strip()


def _cell(text: str | None) -> str:
    """A description fit for one table cell: one line, pipes escaped."""
    return " ".join((text or "").split()).replace("|", "\\|")
