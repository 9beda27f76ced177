"""Developer tools that read the source tree (not installed, never imported by the product)."""
