"""Clinical text: classify free text (seeds 001 and 002: BERT-family fine-tuning on case notes), de-identified first.

Bundled data: ICD-10-CM 2026's code descriptions (public-domain CMS data, via `simple-icd-10-cm`), labelled with their
chapter; the 7th-character encounter variants ("initial encounter", "sequela") are left out, and no 3-character category
sits on both sides of the split. The patient-written drug reviews of the recommendation family are exported beside it
(negative / neutral / positive). Any CSV with a text column and a label column trains the same way. Every text passes
through de-identification (blocks/deidentify.py) before the gate's other checks, before training and before anything is
logged. Candidates: TF-IDF with logistic regression or a linear SVM (the baselines), frozen MiniLM sentence embeddings
with logistic regression, and MiniLM fine-tuned end to end, served as int8 when that costs at most 0.5 accuracy points.
"""

from families.clinical_text.family import ClinicalText

FAMILY = ClinicalText
