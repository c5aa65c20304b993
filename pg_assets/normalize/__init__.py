"""Turning raw items into typed rows of named tables: naming, types, flattening, child tables, variants."""
