"""Accept-style headers read one way: values in order, lowercased, with their q-values."""

from __future__ import annotations

import pytest

from api.negotiation import weighted


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("", []),
        ("gzip", [("gzip", 1.0)]),
        ("Text/Event-Stream;q=0.5, a/b", [("text/event-stream", 0.5), ("a/b", 1.0)]),
        ("br;q=0, gzip; Q=0.8", [("br", 0.0), ("gzip", 0.8)]),
        ("gzip;q=abc, identity;q=7, *;q=-1", [("gzip", 0.0), ("identity", 0.0), ("*", 0.0)]),
        (" , ,gzip", [("gzip", 1.0)]),
    ],
)
def test_values_come_in_order_with_their_q_values(header: str, values: list[tuple[str, float]]) -> None:
    # given a header / when it is read / then each value with its q-value (1 absent, 0 unreadable or invalid)
    assert weighted(header) == values
