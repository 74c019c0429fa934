"""The `gpuml` command line."""
