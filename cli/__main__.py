"""`python -m cli ...` = the `medmaas` command."""

from cli import app

app()
