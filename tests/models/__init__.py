"""Tests of models/: the ledger, money, alerts, throttling and lock order."""
