"""Drug bioactivity: predict a compound's blood-brain-barrier permeability from its structure (seed 001, drug
discovery).

Bundled data: B3DB (Meng et al., Scientific Data 2021; CC0), 7,807 compounds as SMILES labelled
BBB+ / BBB-, read by path from the `qc-b3db` wheel at ingest. Any CSV of SMILES and a binary
label trains the same way. Molecules become Morgan count fingerprints and a few RDKit 2D
descriptors; the split keeps every Bemis-Murcko scaffold on one side, and the served answer says
whether the molecule lies inside the training set's applicability domain.
"""

from families.bioactivity.family import Bioactivity

FAMILY = Bioactivity
