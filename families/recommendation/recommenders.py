"""The candidates' old home: models pickled before they moved to candidates.py find their classes here."""

from families.recommendation.candidates import (  # noqa: F401
    CANDIDATES,
    ItemNeighbours,
    Popularity,
    Recommender,
    Scale,
    TruncatedSVD,
    UserNeighbours,
)
