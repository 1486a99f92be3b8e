"""Pods: their directories and lifecycle, manifests from the command line, status and gc."""
