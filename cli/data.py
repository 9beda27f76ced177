"""Data: bundled data sets, de-identification, and scoring a file with a champion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import ParamsOption, app, champion_of, fail, family_from
from medmaas.environment import PROJECT_ROOT

PANEL = "Data"  # --help groups commands by audience


@app.command(rich_help_panel=PANEL)
def ingest(family: str) -> None:
    """Export a family's bundled data set to data/raw/ (what the DVC stage runs; never touches your own data)."""
    from families import export_bundled

    typer.echo(f"wrote {export_bundled(family).relative_to(PROJECT_ROOT)}")


@app.command(rich_help_panel=PANEL)
def deidentify(
    input_csv: Annotated[
        Path, typer.Argument(exists=True, help="a CSV with free-text columns, or a folder of DICOM files")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="CSV to write (identifiers replaced by [NAME], [DATE], ...), or for a "
            "folder an empty folder for the de-identified DICOM copies",
        ),
    ],
    column: Annotated[
        Optional[list[str]],
        typer.Option("--column", "-c", help="a free-text column (repeat it); default: every text column"),
    ] = None,
) -> None:
    """Replace names, dates, phone numbers, ids, addresses and other Safe Harbor identifiers in a CSV's free text; or
    write de-identified copies of a folder's DICOM files (DICOM PS3.15 Basic Profile, as a keep-list:
    families/imaging/dicom_deidentify.py)."""
    if input_csv.is_dir():
        from families.imaging.dicom_deidentify import deidentify_folder

        try:
            report = deidentify_folder(input_csv, output)
        except (FileExistsError, ValueError, OSError) as error:
            fail(str(error))
        if not (report.written or report.unreadable or report.duplicates):
            fail(
                f"no DICOM file under {input_csv} (a DICOM file has 'DICM' at byte 128); a CSV of texts is given as a "
                "file"
            )
        typer.echo(f"{report.summary()}; into {output}")
        if report.unreadable:
            raise typer.Exit(1)
        return

    import pandas as pd
    from rich.progress import track

    from blocks.deidentify import Deidentifier

    try:
        frame = pd.read_csv(input_csv, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as error:
        fail(f"cannot read {input_csv.name} as CSV: {str(error).splitlines()[0][:200]}")
    columns = column or [c for c in frame.columns if frame[c].str.contains(r"[A-Za-z]", regex=True).any()]
    if missing := [c for c in columns if c not in frame.columns]:
        fail(f"no column {', '.join(map(repr, missing))} in {input_csv.name}; it has: {', '.join(frame.columns)}")
    found = Deidentifier().columns(
        frame,
        columns,
        progress=lambda chunks, name: track(
            chunks, description=f"de-identifying {name}", disable=len(chunks) < 2, transient=True
        ),
    )
    frame.to_csv(output, index=False)
    summary = ", ".join(f"{kind} {count}" for kind, count in found.most_common()) or "none"
    typer.echo(
        f"wrote {len(frame)} rows to {output}; de-identified {', '.join(columns) or 'no column'}; replaced: {summary}"
    )


@app.command(rich_help_panel=PANEL)
def predict(
    family: str,
    input_csv: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="rows to score, with the model's feature columns")
    ],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="CSV to write (default: print)")] = None,
    params: ParamsOption = None,
) -> None:
    """Score a CSV with a family's champion."""
    import pandas as pd
    from rich.progress import track

    instance = family_from(family, params)
    model = champion_of(instance).load()
    try:  # the block's read options (delimiter, decimals, missing markers, Parquet), ids as text
        frame = instance.settings.data.read_file(input_csv.resolve(), family)
    except ValueError as error:
        fail(str(error))
    try:
        scored = instance.predict_in_chunks(
            model, frame, progress=lambda chunks: track(chunks, description="scoring", disable=len(chunks) < 3)
        )
    except ValueError as error:
        fail(str(error))
    keep = [c for c in instance.identifier_columns() if c in frame.columns]  # the user's own ids, to join back
    result = pd.concat([frame[keep], scored], axis=1)
    if output:
        result.to_csv(output, index=False)
        typer.echo(f"wrote {len(result)} predictions to {output}")
    else:
        typer.echo(result.to_csv(index=False))
