"""The sync engine: one module per pipeline stage. Imports no Flask."""
