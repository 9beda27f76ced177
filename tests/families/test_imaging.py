"""The imaging family: the loaders (folder, MedMNIST npz, DICOM), the gate, the grouped split, augmentation, Grad-CAM on
SYNTHETIC lesions, and quality floors on Br35H."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from support import Replace, malformed_dicom

from families import family_class, load_params
from families.imaging.family import PIXELS, TABLE
from families.imaging.loaders import image_files
from families.imaging.synthetic import synthetic_lesions, write_synthetic_folder
from tasks.gate import run_gate

SYNTHETIC = {
    "labels": ["lesion", "normal"],
    "positive_label": "lesion",
    "image_size": 32,
    "min_images_per_class": 5,
    "min_rows": 20,
}


def family_for(write_params, path=None, data=None, **overrides):
    block = {"imaging": {**({"data": {"path": str(path), **(data or {})}} if path else {}), **overrides}}
    params = load_params(write_params(block, keep_families=("imaging",)))
    return family_class("imaging")(params.families["imaging"], params.project.seed)


def gate(family, tables=None):
    tables = tables or family.load()
    return run_gate(family.registered_model, tables, family.expectations(tables), family.identifier_columns())


@pytest.fixture(scope="module")
def br35h(write_params):
    family = family_for(write_params)
    return family, family.load()


def test_the_export_copies_br35h_as_it_ships_in_two_labelled_folders(br35h_folder):
    files = image_files(br35h_folder)
    assert len(files) == 3000 and {p.parent.name for p in files} == {"tumour", "normal"}
    assert sum(p.parent.name == "tumour" for p in files) == 1500


def test_br35h_passes_the_gate_and_its_mixed_modes_and_near_duplicates_are_reported(br35h):
    family, tables = br35h
    report = gate(family, tables)
    assert report.passed, report.to_markdown()
    assert tables[PIXELS]["pixels"][0].shape == (1, 64, 64)  # grey, resized
    assert {"RGB", "L", "RGBA", "P"} <= set(tables[TABLE]["mode"])
    notes = " ".join(family.gate_notes(tables))
    groups = re.search(r"(\d+) groups for 3000 images: (\d+) groups of near-duplicates .* hold (\d+) images", notes)
    assert groups and "converted to grey" in notes
    assert int(groups[1]) < 1000 and int(groups[3]) > 2500  # Br35H ships flipped and turned copies of most of its scans


def test_the_split_keeps_near_duplicates_and_identical_files_on_one_side(br35h):
    family, tables = br35h
    split = family.split(tables)
    table = tables[TABLE]
    train_rows = np.isin(np.arange(len(table)), split.train.rows)
    assert not train_rows[split.test.rows].any() and len(split.train.rows) + len(split.test.rows) == len(table)
    assert not set(table.loc[train_rows, "content_sha1"]) & set(table.loc[~train_rows, "content_sha1"])
    assert (
        split.test.distance_to_training.min() > family.settings.split.near_duplicate_radius
    )  # no held-out image near a training one
    assert split.sizes["test"] == len(split.test.codes) and 0.17 < len(split.test.codes) / len(table) < 0.23
    assert abs(split.sizes["test_tumour"] - split.sizes["test_normal"]) < 60 and "0 groups" in split.description


def test_a_flipped_a_turned_a_shifted_and_a_contrast_changed_copy_join_their_originals_group(
    br35h, br35h_folder, tmp_path
):
    from PIL import ImageEnhance, ImageOps

    from families.imaging.family import split_groups
    from families.imaging.loaders import read_folder

    family, tables = br35h
    files = image_files(br35h_folder)
    originals = [
        files[i] for i in pd.Series(tables[TABLE]["group"]).drop_duplicates().index[:8]
    ]  # 8 scans of different groups
    copies = {
        "flipped": ImageOps.mirror,
        "turned": lambda image: image.rotate(90, expand=True),
        "shifted": lambda image: image.transform(
            image.size, Image.Transform.AFFINE, (1, 0, -0.02 * image.width, 0, 1, -0.02 * image.height)
        ),
        "contrast": lambda image: ImageEnhance.Contrast(image).enhance(0.8),
    }
    for i, path in enumerate(originals):
        image = Image.open(path).convert("L")
        for name, change in {"original": lambda image: image, **copies}.items():
            (tmp_path / "scans" / name).mkdir(parents=True, exist_ok=True)
            change(image).save(tmp_path / "scans" / name / f"{i}.png")
    table = read_folder(tmp_path / "scans", 64, 1, 10**8).table
    table["group"] = split_groups(table, family.settings.split.near_duplicate_radius)
    table["scan"] = [int(Path(name).stem) for name in table["file"]]
    assert table.groupby("scan")["group"].nunique().eq(1).all()  # every copy in its original's group
    assert table.groupby("group")["scan"].nunique().eq(1).all()  # and different scans apart


def test_a_flipped_copy_of_a_training_scan_counts_as_seen_by_the_model_that_trained_on_it(br35h, br35h_folder):
    # the registry compares an old champion only on held-out rows it never trained on: a mirrored copy is not one of
    # those
    from PIL import ImageOps

    from families.imaging.family import Images
    from families.imaging.near_duplicates import near_hashes, parsed

    family, _ = br35h
    scan = Image.open(image_files(br35h_folder)[0]).convert("L")
    copies = [scan, ImageOps.mirror(scan), scan.rotate(180)]
    hashes, _ = parsed(pd.Series([near_hashes(image) for image in copies]))
    pixels = np.stack([np.asarray(image.resize((64, 64)))[None] for image in copies])
    images = Images(pixels, np.zeros(3, dtype=int), np.arange(3), np.arange(3), hashes=hashes)
    trained = set(family.training_keys(images.take(np.array([0]))))
    assert all(set(keys) & trained for keys in family.row_keys(images))
    assert (
        len({keys[0] for keys in family.row_keys(images)}) == 3
    )  # the pixels differ: the content key alone would miss them


def test_a_patients_images_stay_on_one_side(write_params, tmp_path):
    write_synthetic_folder(tmp_path / "images", 120, seed=3)
    files = [str(p.relative_to(tmp_path / "images")) for p in image_files(tmp_path / "images")]
    patients = pd.DataFrame(
        {"file": files, "patient_id": [f"P{i % 30}" for i in range(len(files))]}
    )  # 4 images each, across classes
    patients.to_csv(tmp_path / "patients.csv", index=False)
    family = family_for(
        write_params, tmp_path / "images", {**SYNTHETIC, "patients_csv": str(tmp_path / "patients.csv")}
    )
    tables = family.load()
    assert gate(family, tables).passed
    split = family.split(tables)
    patient = tables[TABLE]["patient"].to_numpy()
    assert (
        not set(patient[split.train.rows]) & set(patient[split.test.rows])
        and "a patient (patients_csv)" in split.description
    )
    patients.iloc[5:].to_csv(tmp_path / "patients.csv", index=False)  # five images with no patient
    failed = {(f.column, f.expectation): f.problem for f in gate(family).failures}
    assert (
        "5 images; the first by position (0-based): 0, 1, 2, 3, 4"
        in failed[("patient", "expect_column_values_to_not_be_null")]
    )


def test_bad_files_fail_the_gate_by_position_and_reason_never_by_name(write_params, tmp_path):
    folder = tmp_path / "images"
    write_synthetic_folder(folder, 60, seed=4)
    lesions, normals = sorted((folder / "lesion").iterdir()), sorted((folder / "normal").iterdir())
    lesions[1].write_bytes(lesions[1].read_bytes()[:200])  # truncated
    (folder / "lesion" / "john-smith-1950.png").write_bytes(b"Patient John Smith, not an image")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)).save(
        folder / "normal" / "tiny.png"
    )
    Image.new("L", (64, 64), 0).save(folder / "normal" / "blank.png")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(folder / "normal" / "grey.png")
    shutil.copy(lesions[2], folder / "normal" / "same-file-other-label.png")
    (folder / "other").mkdir()
    shutil.copy(normals[0], folder / "other" / "x.png")
    position = {str(p.relative_to(folder)): i for i, p in enumerate(image_files(folder))}
    report = gate(family_for(write_params, folder, SYNTHETIC))
    failed = {(f.column, f.expectation): f.problem for f in report.failures}
    unreadable = failed[("readable", "expect_column_values_to_be_in_set")]
    positions = sorted([position[f"lesion/{lesions[1].name}"], position["lesion/john-smith-1950.png"]])
    assert f"2 images; the first by position (0-based): {', '.join(map(str, positions))}" in unreadable
    assert "truncated or corrupt image data: 1" in unreadable and "not a readable PNG or JPEG image: 1" in unreadable
    assert ("width", "expect_column_values_to_be_between") in failed and (
        "height",
        "expect_column_values_to_be_between",
    ) in failed
    blank = sorted([position["normal/blank.png"], position["normal/grey.png"]])
    assert (
        f"2 images; the first by position (0-based): {blank[0]}, {blank[1]}"
        in failed[("blank", "expect_column_values_to_be_in_set")]
    )
    conflict = failed[("conflicting_duplicate", "expect_column_values_to_be_in_set")]
    assert (
        "4 images" in conflict and str(position["normal/same-file-other-label.png"]) in conflict
    )  # and other/x.png, a copy of a normal one
    assert ("label", "expect_column_values_to_be_in_set") in failed
    text = report.to_markdown() + report.to_json()
    assert "john" not in text.lower() and "same-file" not in text and "synthetic-" not in text


def _medmnist(path, size=28, rgb=False, duplicate_across=False):
    parts = {
        "train": synthetic_lesions(60, size, seed=5),
        "val": synthetic_lesions(20, size, seed=6),
        "test": synthetic_lesions(30, size, seed=7),
    }
    arrays = {}
    for split, images in parts.items():
        pixels = images.pixels[:, 0]
        arrays[f"{split}_images"] = np.repeat(pixels[..., None], 3, axis=3) if rgb else pixels
        arrays[f"{split}_labels"] = (
            (images.labels == "normal").astype(np.uint8).reshape(-1, 1)
        )  # MedMNIST: (n, 1) integers
    if duplicate_across:
        arrays["test_images"][0] = arrays["train_images"][0]
    np.savez(path, **arrays)
    return parts


@pytest.mark.parametrize(("size", "rgb", "channels"), [(28, False, 1), (64, True, 3), (28, True, 1)])
def test_a_medmnist_file_is_read_with_its_own_split_at_any_size(write_params, tmp_path, size, rgb, channels):
    parts = _medmnist(tmp_path / "pneumoniamnist.npz", size, rgb)
    family = family_for(
        write_params, tmp_path / "pneumoniamnist.npz", {**SYNTHETIC, "format": "npz", "channels": channels}
    )
    tables = family.load()
    assert gate(family, tables).passed
    assert tables[PIXELS]["pixels"][0].shape == (channels, 32, 32)
    assert list(tables[TABLE]["official_split"].value_counts().sort_index()) == [30, 60, 20]  # test, train, val
    assert list(tables[TABLE]["label"][:60]) == list(parts["train"].labels)  # label 0 is labels[0]
    split = family.split(tables)
    assert (
        len(split.test.codes) == 30
        and len(split.train.codes) == 80
        and split.train.validation.sum() == 20
        and "official" in split.description
    )
    assert "the file's official split is kept" in " ".join(family.gate_notes(tables))


def test_a_medmnist_test_image_identical_to_a_training_one_fails_the_gate(write_params, tmp_path):
    _medmnist(tmp_path / "leaky.npz", duplicate_across=True)
    report = gate(family_for(write_params, tmp_path / "leaky.npz", {**SYNTHETIC, "format": "npz"}))
    failed = {(f.column, f.expectation): f.problem for f in report.failures}
    assert (
        "1 images; the first by position (0-based): 0"
        in failed[("in_test_and_training", "expect_column_values_to_be_in_set")]
    )


def test_dicom_files_are_windowed_from_their_header_labelled_by_study_and_no_identifying_field_is_kept(
    write_params, tmp_path
):
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    from families.imaging.loaders import decode_dicom

    folder = tmp_path / "dicom"
    folder.mkdir()
    studies = {}
    for name, label in (("CT_small.dcm", "lesion"), ("MR_small.dcm", "normal")):
        shutil.copy(get_testdata_file(name), folder / name)
        studies[str(pydicom.dcmread(folder / name).StudyInstanceUID)] = label
    (folder / "notes.txt").write_text("not DICOM")
    pd.DataFrame({"study_id": list(studies), "label": list(studies.values())}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    family = family_for(
        write_params,
        folder,
        {**SYNTHETIC, "format": "dicom", "labels_csv": str(tmp_path / "labels.csv"), "image_size": 64},
    )
    tables = family.load()
    table = tables[TABLE]
    assert list(table["label"]) == ["lesion", "normal"] and table["readable"].all()
    ct = pydicom.dcmread(folder / "CT_small.dcm")
    assert table["pixel_spacing_mm"][0] == pytest.approx(float(ct.PixelSpacing[0]))
    windowed = (
        apply_voi_lut(apply_modality_lut(ct.pixel_array, ct).astype(float), ct)
        if "WindowCenter" in ct
        else apply_modality_lut(ct.pixel_array, ct)
    )
    expected = np.asarray(
        Image.fromarray(((windowed - windowed.min()) / np.ptp(windowed) * 255).astype(np.uint8)).resize(
            (64, 64), Image.Resampling.BILINEAR
        )
    )
    assert np.abs(tables[PIXELS]["pixels"][0][0].astype(int) - expected).max() <= 1
    identifying = [
        str(ct.PatientName),
        str(ct.PatientID),
        str(ct.get("InstitutionName", "JFK IMAGING CENTER")),
        str(ct.get("PatientBirthDate", "")) or "x" * 9,
    ]
    kept = table.drop(columns=sorted(family.identifier_columns() & set(table.columns))).astype(str).to_string()
    assert not [value for value in identifying if value and value in kept]
    report = gate(family, tables)
    assert not [value for value in identifying if value in report.to_markdown()]
    with pytest.raises(ValueError, match="DICOM: no readable pixel data"):  # a header and no image
        decode_dicom(b"\0" * 128 + b"DICM" + b"\0" * 10, 64, 1, 10**7)


@pytest.mark.parametrize("value", [b"SMITH^JOHN\\0.66", b"DOE^JANE"])
def test_a_malformed_dicom_header_is_an_unreadable_file_whose_reason_never_quotes_the_header(
    write_params, tmp_path, value
):
    from families.imaging.loaders import UnreadableImage, decode_file

    for tag in (b"\x28\x00\x30\x00", b"\x28\x00\x53\x10"):  # PixelSpacing, RescaleSlope
        with pytest.raises(UnreadableImage) as refused:
            decode_file(malformed_dicom(value, tag), 32, 1, 10**7)
        assert "SMITH" not in str(refused.value) and "DOE" not in str(refused.value)
    folder = tmp_path / "dicom"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(malformed_dicom(value))
    pd.DataFrame({"study_id": ["x"], "label": ["lesion"]}).to_csv(tmp_path / "labels.csv", index=False)
    family = family_for(
        write_params, folder, {**SYNTHETIC, "format": "dicom", "labels_csv": str(tmp_path / "labels.csv")}
    )
    tables = family.load()  # the file is a row the gate names, not a stopped run
    report = gate(family, tables)
    assert (
        not tables[TABLE]["readable"].any() and "1 images; the first by position (0-based): 0" in report.to_markdown()
    )
    assert (
        "SMITH" not in report.to_markdown() + report.to_json() and "DOE" not in report.to_markdown() + report.to_json()
    )


def test_augmentation_keeps_shape_and_range_and_flips_only_when_allowed():
    import torch

    from families.imaging.network import augment
    from families.imaging.settings import Augmentation

    images = torch.from_numpy(synthetic_lesions(16, 32, seed=8).pixels.astype(np.float32) / 255)
    generator = torch.Generator().manual_seed(0)
    still = Augmentation(
        flip_horizontal=False, rotation_degrees=0, scale=(1, 1), translate=0, brightness=0, contrast=0, noise_std=0
    )
    assert torch.allclose(augment(images, still, generator), images, atol=1e-5)
    flipped = augment(images, still.model_copy(update={"flip_horizontal": True}), generator)
    mirrored = [torch.allclose(a, b.flip(-1), atol=1e-5) for a, b in zip(flipped, images)]
    unchanged = [torch.allclose(a, b, atol=1e-5) for a, b in zip(flipped, images)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and 0 < sum(mirrored) < 16
    moved = augment(images, Augmentation(), generator)
    assert (
        moved.shape == images.shape
        and moved.min() >= 0
        and moved.max() <= 1
        and not torch.allclose(moved, images, atol=1e-2)
    )


@pytest.mark.slow
def test_grad_cam_peaks_on_the_synthetic_lesion_far_more_often_than_chance():
    from families.imaging.network import ImageCNN

    size = 64
    train, test = synthetic_lesions(600, size, seed=1), synthetic_lesions(300, size, seed=2)
    network = ImageCNN(max_epochs=8, random_state=0).fit(train.pixels, (train.labels == "normal").astype(int))
    lesion = test.labels == "lesion"
    maps = network.grad_cam(test.pixels[lesion], np.zeros(lesion.sum(), dtype=int))
    assert maps.shape == (lesion.sum(), size, size) and maps.min() >= 0 and maps.max() <= 1
    hit_rate, chance = _hit_rate(maps, test, size)  # chance: a peak anywhere in the image
    assert hit_rate >= 0.7 and hit_rate > 5 * chance, (hit_rate, chance)  # measured: 0.83, chance 0.09


def _hit_rate(maps: np.ndarray, images, size: int) -> tuple[float, float]:
    """Share of maps whose peak lies within 1.5 lesion radii of the SYNTHETIC lesion's centre, and that share by
    chance."""
    peaks = np.column_stack(np.unravel_index(maps.reshape(len(maps), -1).argmax(axis=1), (size, size))) + 0.5
    reach = 1.5 * images.radius
    lesion = images.labels == "lesion"
    return float((np.linalg.norm(peaks - images.centres[lesion], axis=1) <= reach).mean()), np.pi * reach**2 / size**2


def test_a_pixel_baselines_occlusion_map_peaks_on_the_synthetic_lesion_far_more_often_than_chance():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from families.imaging.model import OCCLUSION, ImageModel, downsampled

    size = 64
    train, test = synthetic_lesions(400, size, seed=1), synthetic_lesions(120, size, seed=2)
    pixels = Pipeline(
        [
            ("pixels", FunctionTransformer(downsampled, kw_args={"side": 16})),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.1, max_iter=3000)),
        ]
    ).fit(train.pixels, (train.labels == "normal").astype(int))
    model = ImageModel(pixels, ["lesion", "normal"], size, 1, 10**7, positive=0)
    lesion = test.labels == "lesion"
    maps = model.explanation_maps(test.pixels[lesion], np.zeros(lesion.sum(), dtype=int))
    hit_rate, chance = _hit_rate(maps, test, size)
    assert model.explanation_method == OCCLUSION and maps.min() >= 0 and maps.max() <= 1
    assert hit_rate >= 0.6 and hit_rate > 5 * chance, (hit_rate, chance)


@pytest.mark.slow
def test_on_br35h_the_cnn_and_the_pixel_baseline_clear_their_floors_and_score_files(br35h, write_params, tmp_path):
    # on the split that keeps flipped and turned copies together: the augmented CNN of params.yaml
    family, tables = br35h
    family = family_for(
        write_params, bootstrap_resamples=50, candidates=Replace({"cnn": {}, "pixel_logistic_regression": {"C": [0.1]}})
    )
    split = family.split(tables)
    cnn = family.fit("cnn", split.train)
    metrics = family.evaluate(cnn.model, split.test)
    assert (
        metrics.metrics["roc_auc"].value >= 0.85 and metrics.metrics["sensitivity"].value >= 0.7
    )  # measured 0.882 and 0.763
    assert {"roc.png", "calibration.png", "confusion.png", "confident_errors.png"} <= set(metrics.figures)
    audit = metrics.tables["memorisation audit"].set_index("distance to the nearest training image")
    assert audit.iloc[0]["images"] == 0 and audit.iloc[-1]["images"] == (split.test.distance_to_training > 12).sum()
    baseline = family.fit("pixel_logistic_regression", split.train)
    assert (
        family.evaluate(baseline.model, split.test).metrics["roc_auc"].value >= 0.70
    )  # measured 0.766 on the near-duplicate split
    files = image_files(family.settings.data.resolved_path())[:3]
    (tmp_path / "broken.png").write_bytes(b"no image")
    scored = family.predict_frame(cnn.model, pd.DataFrame({"file": [str(p) for p in files]}))
    assert list(scored.columns) == ["probability_tumour", "probability_normal", "predicted"]
    assert np.allclose(scored.iloc[:, :2].sum(axis=1), 1) and set(scored["predicted"]) <= {"tumour", "normal"}
    with pytest.raises(ValueError, match=re.escape("1 images; the first by position (0-based): 1")):
        family.predict_frame(cnn.model, pd.DataFrame({"file": [str(files[0]), str(tmp_path / "broken.png")]}))


def test_a_bad_block_names_its_key(write_params):
    from medmaas.settings import ConfigError

    with pytest.raises(ConfigError, match=r"imaging\.data"):
        load_params(write_params({"imaging": {"data": {"positive_label": "cancer"}}}, keep_families=("imaging",)))
    with pytest.raises(ConfigError, match=r"imaging\.data"):
        load_params(write_params({"imaging": {"data": {"format": "dicom"}}}, keep_families=("imaging",)))
    with pytest.raises(ConfigError, match=r"imaging\.candidates\.cnn\.widht"):
        load_params(write_params({"imaging": {"candidates": {"cnn": {"widht": 8}}}}, keep_families=("imaging",)))


def test_a_transparent_image_is_flattened_on_black_then_made_grey_and_resized(tmp_path):
    from families.imaging.loaders import decode_file, read_folder

    grey = synthetic_lesions(1, 48, seed=9).pixels[0, 0]
    alpha = (
        np.where(np.arange(48)[None, :] < 24, 255, 0).astype(np.uint8).repeat(48, axis=0)
    )  # the right half transparent
    (tmp_path / "lesion").mkdir()
    Image.fromarray(np.dstack([grey, grey, grey, alpha]), "RGBA").save(tmp_path / "lesion" / "a.png")
    expected = np.asarray(
        Image.fromarray(np.where(alpha == 255, grey, 0).astype(np.uint8)).resize((32, 32), Image.Resampling.BILINEAR)
    )
    uploaded = decode_file((tmp_path / "lesion" / "a.png").read_bytes(), 32, 1, 10**7)
    assert (
        np.abs(uploaded.pixels[0].astype(int) - expected).max() <= 1 and uploaded.mode == "RGBA" and uploaded.bands == 4
    )
    folder = read_folder(tmp_path, 32, 1, 10**7)
    assert (folder.pixels[0] == uploaded.pixels).all() and folder.table["width"][0] == 48


def test_a_cnn_trained_beside_another_in_threads_is_the_same_as_trained_alone():
    """Candidates train side by side: a seed must fix the run whatever else uses torch's global generator meanwhile."""
    import threading

    import torch

    from families.imaging.network import ImageCNN
    from families.imaging.settings import Augmentation

    images = synthetic_lesions(160, 32, seed=3)
    codes = (images.labels == "normal").astype(int)

    def fitted(seed: int) -> np.ndarray:
        return (
            ImageCNN(max_epochs=2, augmentation=Augmentation(), random_state=seed)
            .fit(images.pixels, codes)
            .predict_proba(images.pixels)
        )

    alone = fitted(0)
    side_by_side: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda s=s: side_by_side.__setitem__(s, fitted(s))) for s in (0, 1)]
    torch.manual_seed(123)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.array_equal(side_by_side[0], alone) and not np.allclose(side_by_side[1], alone)
