"""Output primitives that must match rkt (Go) byte for byte: JSON, tables, times, sizes."""
