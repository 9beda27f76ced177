"""Diagnosis: classify a patient from clinical and lab features (seeds 000, 004).

Bundled data: the Wisconsin diagnostic breast cancer set shipped in scikit-learn (569 patients,
30 nuclear features). Any CSV with one row per patient, an id, a label and numeric features
trains through the same path (binary or multiclass): point ``diagnosis.data`` at it.
"""

from families.diagnosis.family import Diagnosis

FAMILY = Diagnosis
