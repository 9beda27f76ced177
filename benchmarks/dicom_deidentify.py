"""DICOM de-identification throughput: files per second for `medmaas deidentify <folder>` on pydicom's CT_small.dcm.

    python benchmarks/dicom_deidentify.py [--files 500]

Writes ``--files`` copies of the test scan (one patient per 10 files, every file its own SOP instance) into a temporary
folder, de-identifies them into another and prints files/s and MB/s. One process, this machine's disk.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import medmaas  # noqa: E402,F401


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    args = parser.parse_args()
    import pydicom
    from pydicom.data import get_testdata_file

    from families.imaging.dicom_deidentify import deidentify_folder

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in", Path(folder) / "out"
        source.mkdir()
        scan = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        for i in range(args.files):
            scan.PatientID, scan.SOPInstanceUID = f"P{i // 10}", f"1.2.826.0.1.3680043.10.{i}"
            scan.file_meta.MediaStorageSOPInstanceUID = scan.SOPInstanceUID
            scan.save_as(source / f"{i}.dcm", enforce_file_format=True)
        size = sum(p.stat().st_size for p in source.iterdir())
        started = time.perf_counter()
        report = deidentify_folder(source, target)
        seconds = time.perf_counter() - started
    print(
        f"{report.written} files ({size / 1e6:.1f} MB) in {seconds:.2f} s: {report.written / seconds:.0f} files/s, "
        f"{size / 1e6 / seconds:.1f} MB/s"
    )
    print(report.summary())


if __name__ == "__main__":
    main()
