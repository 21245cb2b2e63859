"""Test helpers for applications built on aiopubsub."""
