"""The imaging service over HTTP: PNG, JPEG and DICOM uploads in, class probabilities and Grad-CAM maps out; batched
single-image requests; 400s that name the file's position and the reason, never its name or a DICOM header field."""

import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz, scraped
from support import Replace, Server, malformed_dicom

from families.imaging.synthetic import synthetic_lesions, write_synthetic_folder
from flows.train import run_family
from medmaas.environment import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving_imaging"), pytest.mark.usefixtures("prefect_harness")]
MODEL = "imaging_serving"
MAX_ITEMS, MAX_FILE_BYTES, MAX_PIXELS = 4, 300_000, 1_000_000


@pytest.fixture(scope="module")
def serving_params(write_params, tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic") / "images"
    write_synthetic_folder(folder, 240, size=32, seed=11)
    path = write_params(
        {
            "imaging": {
                "registered_model": MODEL,
                "bootstrap_resamples": 50,
                "error_grid": False,  # the repository's Br35H block turns it on
                "data": {
                    "path": str(folder),
                    "labels": ["lesion", "normal"],
                    "positive_label": "lesion",
                    "image_size": 32,
                    "min_images_per_class": 20,
                    "min_rows": 100,
                    "max_pixels": MAX_PIXELS,
                },
                "serving": {"max_items_per_request": MAX_ITEMS, "max_file_bytes": MAX_FILE_BYTES},
                "candidates": Replace({"cnn": {"max_epochs": 8, "patience": 3}}),
                "acceptance": {"minimums": {"roc_auc": 0.8}},
            }
        },
        keep_families=("imaging",),
    )
    os.environ["MEDMAAS_PARAMS"] = str(path)
    yield path
    os.environ.pop("MEDMAAS_PARAMS", None)


@pytest.fixture(scope="module")
def champion(serving_params):
    decision = run_family("imaging", serving_params)
    assert decision.promoted, decision.summary()
    return decision


@pytest.fixture(scope="module")
def server(champion):
    running = Server("serving.imaging:ImagingService", PROJECT_ROOT)
    yield running
    running.stop()


def encoded(array: np.ndarray, format: str = "PNG", mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, format=format)
    return buffer.getvalue()


def upload(
    server: Server, route: str, files: list[tuple[str, bytes]], field: str = "images", headers: dict | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/{route}",
        files=[(field, (name, data)) for name, data in files],
        headers=server.headers if headers is None else headers,
        timeout=60,
    )


@pytest.fixture(scope="module")
def fresh():
    """SYNTHETIC images the model never saw: lesions first, then normal ones."""
    images = synthetic_lesions(40, 48, seed=12)
    order = np.argsort(images.labels != "lesion", kind="stable")
    return images.pixels[order, 0], images.labels[order]


def dicom_file() -> bytes:
    from pydicom.data import get_testdata_file

    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        return handle.read()


def test_png_jpeg_and_dicom_uploads_get_probabilities_in_request_order_and_no_header_field_comes_back(
    server, champion, fresh
):
    import pydicom

    pixels, labels = fresh
    files = [
        ("a.png", encoded(pixels[0])),
        ("b.jpg", encoded(pixels[-1], "JPEG", "RGB")),
        ("Roe^Jane.dcm", dicom_file()),
    ]
    response = upload(server, "predict", files)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["predicted"] for a in answers[:2]] == [labels[0], labels[-1]] == ["lesion", "normal"]
    assert all(
        sum(a["probabilities"].values()) == pytest.approx(1.0) and a["version"] == str(champion.challenger_version)
        for a in answers
    )
    header = pydicom.dcmread(io.BytesIO(dicom_file()))
    leaked = [str(header.PatientName), str(header.PatientID), str(header.InstitutionName), "Roe^Jane"]
    assert not [v for v in leaked if v in response.text or v in server.log_text()]
    info = server.post("model_info", {}).json()
    assert info["image_size"] == 32 and info["labels"] == ["lesion", "normal"] and info["metrics"]["roc_auc"] >= 0.8


def test_each_answer_says_whether_the_image_is_like_the_training_images_and_model_info_says_how_that_is_decided(
    server, fresh
):
    pixels, _ = fresh
    before = scraped(server)
    rng = np.random.default_rng(0)
    noise = [("noise.png", encoded(rng.integers(0, 256, (32, 32), dtype=np.uint8)))]
    blank = [("blank.png", encoded(np.zeros((32, 32), dtype=np.uint8)))]
    ordinary = [(f"{i}.png", encoded(p)) for i, p in enumerate(pixels)]
    answers = [
        a
        for i in range(0, len(ordinary), MAX_ITEMS)
        for a in upload(server, "predict", ordinary[i : i + MAX_ITEMS]).json()
    ]
    foreign = upload(server, "predict", noise + blank).json()
    detector = server.post("model_info", {}).json()["out_of_distribution"]
    assert detector["score"] in ("reconstruction", "mahalanobis") and detector["threshold"] > 0
    assert "99th percentile" in detector["how"]
    assert np.mean([a["in_distribution"] for a in answers]) >= 0.8  # SYNTHETIC images it never saw, like its own
    assert foreign[0]["in_distribution"] is False and foreign[0]["ood_score"] > detector["threshold"]
    assert all((a["ood_score"] <= detector["threshold"]) == a["in_distribution"] for a in answers + foreign)
    after = scraped(server)  # the operations team sees the same count, and the classes predicted

    def grew(name: str) -> dict[str, float]:
        return {
            dict(labels).get("outcome", ""): value - before.get((n, labels), 0.0)
            for (n, labels), value in after.items()
            if n == name
        }

    flagged = sum(not a["in_distribution"] for a in answers + foreign)
    assert sum(grew("medmaas_out_of_distribution_total").values()) == flagged > 0
    predicted = grew("medmaas_predictions_total")
    assert sum(predicted.values()) == len(answers + foreign)
    assert {k for k, v in predicted.items() if v} == {a["predicted"] for a in answers + foreign}


def test_single_image_requests_sent_together_are_batched_and_answered_as_one_request_would(server, fresh):
    pixels, _ = fresh
    files = [(f"{i}.png", encoded(p)) for i, p in enumerate(pixels[:16])]
    together = [
        a["probabilities"]["lesion"]
        for chunk in range(0, 16, MAX_ITEMS)
        for a in upload(server, "predict", files[chunk : chunk + MAX_ITEMS]).json()
    ]
    with ThreadPoolExecutor(16) as pool:
        alone = list(pool.map(lambda f: upload(server, "predict", [f]), files))
    assert [r.status_code for r in alone] == [200] * 16
    assert [r.json()[0]["probabilities"]["lesion"] for r in alone] == pytest.approx(together, abs=1e-5)


def test_an_explanation_is_a_grad_cam_map_of_the_predicted_class_as_numbers_and_as_a_png(server, fresh):
    pixels, _ = fresh
    data = encoded(pixels[0])
    explanation = upload(server, "explain", [("a.png", data)], field="image").json()
    predicted = upload(server, "predict", [("a.png", data)]).json()[0]
    assert explanation["explained_class"] == predicted["predicted"] and "Grad-CAM" in explanation["method"]
    assert explanation["probabilities"] == pytest.approx(predicted["probabilities"], abs=1e-5)
    heatmap = np.asarray(explanation["heatmap"])
    assert heatmap.shape == (32, 32) and heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    assert Image.open(io.BytesIO(base64.b64decode(explanation["heatmap_png"]))).format == "PNG"


def _truncated(pixels):
    return encoded(pixels[0])[:300]


@pytest.mark.parametrize(
    ("case", "make", "named", "reason"),
    [
        (
            "truncated",
            lambda p: [("a.png", encoded(p[0])), ("b.png", _truncated(p))],
            '["images", 1]',
            "truncated or corrupt",
        ),
        (
            "not an image",
            lambda p: [("Jane-Doe-secret.png", b"Jane Doe secret, not an image")],
            '["images", 0]',
            "not a readable PNG or JPEG",
        ),
        (
            "a GIF",
            lambda p: [("a.png", encoded(p[0])), ("c.gif", encoded(p[1], "GIF"))],
            '["images", 1]',
            "GIF images are not read",
        ),
        (
            "too large a file",
            lambda p: [("big.png", encoded(np.random.default_rng(0).integers(0, 255, (600, 600), dtype=np.uint8)))],
            '["images", 0]',
            f"larger than {MAX_FILE_BYTES} bytes",
        ),
        (
            "too many pixels",
            lambda p: [("wide.png", encoded(np.zeros((1100, 1000), dtype=np.uint8)))],
            '["images", 0]',
            f"more than {MAX_PIXELS}",
        ),
        ("too many files", lambda p: [(f"{i}.png", encoded(p[0])) for i in range(MAX_ITEMS + 1)], "images", "at most"),
    ],
)
def test_bad_uploads_get_a_400_naming_the_position_and_the_reason_never_the_file(
    server, fresh, case, make, named, reason
):
    response = upload(server, "predict", make(fresh[0]))
    assert response.status_code == 400, response.text
    assert named in response.text and reason in response.text, response.text
    assert "Jane" not in response.text and ".png" not in response.text and ".gif" not in response.text
    assert (
        upload(server, "predict", [("a.png", encoded(fresh[0][0]))]).status_code == 200
    )  # and the service keeps answering


def test_a_dicom_whose_header_breaks_gets_a_400_that_does_not_quote_it(server):
    response = upload(server, "predict", [("Smith.dcm", malformed_dicom(b"SMITH^JOHN\\0.66"))])
    assert response.status_code == 400 and '["images", 0]' in response.text and "DICOM" in response.text
    assert "SMITH" not in response.text and "SMITH" not in server.log_text()


def test_an_unknown_form_field_or_no_file_is_refused(server, fresh):
    extra = httpx.post(
        f"{server.url}/predict",
        files=[("images", ("a.png", encoded(fresh[0][0])))],
        data={"patient_name": "Jane Roe"},
        headers=server.headers,
        timeout=30,
    )
    assert extra.status_code == 400 and "Jane" not in extra.text and "unknown field" in extra.text
    assert server.post("predict", {"images": []}).status_code == 400
    for form in (
        {"images": "http://127.0.0.1:9/Jane-Roe.png"},
        {"image": "file:///etc/passwd"},
    ):  # BentoML would fetch a URL given as text
        for files in (None, [("unused", ("a.png", encoded(fresh[0][0])))]):  # urlencoded, then multipart
            response = httpx.post(
                f"{server.url}/{'predict' if 'images' in form else 'explain'}",
                data=form,
                files=files,
                headers=server.headers,
                timeout=30,
            )
            assert (
                response.status_code == 400
                and "must be an uploaded file" in response.text
                and "Jane" not in response.text
            )


def test_every_route_needs_a_key_and_each_request_gets_one_audit_line(server):
    assert_keys_required(server)
    assert_one_audit_line_per_request(server, "imaging", "model_info", {}, ["Private Patient Jane Roe"])


def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo_of_bad_input(server):
    counts = fuzz(server)
    assert sum(n for (path, status), n in counts.items() if path == "/predict" and 400 <= status < 500) > 0


def test_no_training_image_and_no_file_name_is_stored_with_the_model_or_its_run(champion, serving_params, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = client.get_model_version(MODEL, champion.challenger_version)
    model_files = Path(
        mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{version.version}", dst_path=str(tmp_path / "model"))
    )
    run_files = Path(client.download_artifacts(version.run_id, "", str(tmp_path / "run")))
    assert (run_files / "plots" / "roc.png").is_file() and not (
        run_files / "plots" / "confident_errors.png"
    ).exists()  # error_grid is off
    assert (
        not [p for p in model_files.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".dcm")]
        and not (model_files / "input_example.json").exists()
    )
    stored = "\n".join(
        p.read_text(errors="replace")
        for folder in (model_files, run_files)
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".json", ".md", ".yaml", ".txt", "")
    )
    assert "synthetic-0" not in stored and "lesion/" not in stored  # no file of the training folder is named


def write_pngs(folder: Path, pixels: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


def test_monitor_compares_a_folder_of_images_by_their_summaries_and_flags_a_shifted_one(
    champion, serving_params, tmp_path
):
    from flows.monitor import monitor_family

    # SYNTHETIC, never seen, with the held-out side's lesion share (23%): a class mix unlike it is drift too (the
    # embedding and the contrast separate the classes)
    unseen = synthetic_lesions(60, 32, seed=31, lesion_share=0.23).pixels[:, 0]
    same = monitor_family("imaging", str(write_pngs(tmp_path / "same", unseen)), str(serving_params))
    darker = monitor_family(
        "imaging", str(write_pngs(tmp_path / "darker", (unseen * 0.5).astype(np.uint8))), str(serving_params)
    )
    assert same.status == "no drift", same.to_markdown()
    assert darker.status == "drift" and {"mean_intensity", "ood_score"} <= set(darker.features.drifted)
    assert same.rows == darker.rows == 60
    for report in (same, darker):
        text = report.to_markdown()
        assert "embedding_1" in text and "000.png" not in text  # summaries compared; no file name reported


def test_a_folder_with_a_file_that_is_no_image_fails_the_gate_naming_its_position(champion, serving_params, tmp_path):
    from flows.monitor import monitor_family

    folder = write_pngs(tmp_path / "broken", synthetic_lesions(40, 32, seed=32).pixels[:, 0])
    (folder / "Roe^Jane.png").write_bytes(b"not an image at all")
    report = monitor_family("imaging", str(folder), str(serving_params))
    assert report.status == "gate failed" and report.features is None
    assert "every file is an image" in report.to_markdown() and "Roe" not in report.to_markdown()


def test_the_service_logs_each_image_as_a_summary_that_monitoring_reads(server, champion, serving_params, fresh):
    from flows.monitor import monitor_family
    from medmaas.prediction_log import read_log

    pixels, _ = fresh
    for i in range(0, len(pixels), MAX_ITEMS):
        chunk = [(f"{j}.png", encoded(p)) for j, p in enumerate(pixels[i : i + MAX_ITEMS])]
        assert upload(server, "predict", chunk).status_code == 200
    logged = read_log(MODEL).features
    assert {"embedding_1", "ood_score", "mean_intensity", "predicted_probability"} <= set(logged.columns)
    assert not [c for c in logged.columns if "pixel" in c or c in ("file", "image")]  # the images are never stored
    report = monitor_family("imaging", None, str(serving_params))
    assert report.status in ("drift", "no drift") and report.features is not None and report.rows >= len(pixels)
