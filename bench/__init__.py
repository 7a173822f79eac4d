"""Benchmarks and the production topology of dsign (`python -m bench`, `scripts/topology.sh`)."""
