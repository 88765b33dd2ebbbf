"""Tests of the benchmark tool (bench/): what it runs and reports, not how fast anything is."""
