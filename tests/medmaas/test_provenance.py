"""A run's data hash is the one DVC records in dvc.lock, for a file and for a folder (of images)."""

from dvc_data.hashfile.build import build
from dvc_data.hashfile.db import HashFileDB
from dvc_data.hashfile.hash import file_md5
from dvc_objects.fs.local import LocalFileSystem

from families.imaging.synthetic import write_synthetic_folder
from medmaas.provenance import describe


def test_the_data_hash_of_a_file_and_of_a_folder_is_dvcs(tmp_path, wdbc_csv):
    folder = tmp_path / "images"
    write_synthetic_folder(folder, 30, seed=1)
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("nested files count too")
    fs = LocalFileSystem()
    _, _, tree = build(HashFileDB(fs, str(tmp_path / "odb")), str(folder), fs, "md5")
    assert describe([folder], "p").data_md5 == tree.hash_info.value and tree.hash_info.value.endswith(".dir")
    assert describe([wdbc_csv], "p").data_md5 == file_md5(str(wdbc_csv))
    renamed = folder / "lesion" / sorted(p.name for p in (folder / "lesion").iterdir())[0]
    renamed.rename(renamed.with_name("renamed.png"))
    assert describe([folder], "p").data_md5 != tree.hash_info.value  # a renamed file is a change
