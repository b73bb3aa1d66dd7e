"""Responses <-> Chat Completions translation. Pure: no I/O, no clock, no randomness."""
