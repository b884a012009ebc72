"""Prometheus metric definitions: every metric MPC-API exports is declared in `definitions`."""
