"""medmaas: medical model-as-a-service.

Importing the package applies the embedded defaults (Prefect home, MLflow store, offline
flags) before Prefect, MLflow or BentoML read their settings at import time.
"""

from medmaas.environment import apply_embedded_defaults

apply_embedded_defaults()
