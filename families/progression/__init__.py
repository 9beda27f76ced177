"""Disease progression (tabular): predict how far a disease progresses from baseline measurements (seeds 003, 004).

Bundled data: scikit-learn's diabetes set in raw clinical units (442 patients, 10 baseline
variables; target = a quantitative measure of progression one year after baseline). Any CSV
with one row per patient, an id, a numeric outcome and numeric features trains the same way.
"""

from families.progression.family import Progression

FAMILY = Progression
