"""Tests of schema/: the DataLoaders behind nested fields."""
