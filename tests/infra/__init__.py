"""Tests of infra/: migrations, the SQL helper, the Combiner."""
