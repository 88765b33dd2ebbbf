"""Tests of resolvers/: every query, mutation and subscription through the public GraphQL API."""
