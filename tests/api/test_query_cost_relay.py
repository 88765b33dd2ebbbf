"""The cost rule sizes backward pages and `nodes(ids)` as it sizes forward pages."""

from __future__ import annotations

import pytest

from tests.api.test_limits import _cost


@pytest.mark.parametrize(
    ("document", "cost"),
    [
        ("{ customers(last: 10) { nodes { id name } } }", 22),  # `last` alone: its size, not first's 50
        ("query ($n: Int) { customers(last: $n) { nodes { id name } } }", 202),  # a variable: 100
        ("{ customers(first: 10, last: 30) { nodes { id } } }", 32),  # refused later; the larger counts
        ('{ nodes(ids: ["a", "b", "c"]) { id } }', 4),  # one item per id
        ("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", 101),  # a variable: the 100 allowed
        (
            "query ($ids: [ID!]!) { nodes(ids: $ids) "
            "{ ... on Customer { transactions(last: 5) { nodes { id } } } } }",
            1 + 100 * (1 + 1 + 5),
        ),
    ],
)
def test_cost_counts_last_and_one_node_per_id(document: str, cost: int) -> None:
    # given / when: a document costed by the rule
    # then: `last` sizes a page like `first`; `nodes` holds one item per id
    assert _cost(document) == cost
