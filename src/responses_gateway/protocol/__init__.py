"""The wire vocabulary we read and write. Pure: no I/O, no other project modules."""
