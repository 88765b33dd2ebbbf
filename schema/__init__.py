"""Strawberry types, inputs and payloads: the shapes of the public contract."""
