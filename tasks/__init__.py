"""Generic steps as Prefect tasks. Nothing here names a family."""
