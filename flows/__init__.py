"""Flows: the order of the steps. Each reads as a table of contents."""
