"""The training and metric policies as plain values (built from settings by the resources).

Kept apart from the modules that use them so that building them imports neither scikit-learn
nor MLflow: the code location loads them in every process.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SplitPolicy:
    """Which matured months train a model and how applicants are split among train/valid/test."""

    training_window_months: int
    matured_label_share: float
    min_training_months: int
    valid_share: float
    test_share: float
    seed: int


@dataclass(frozen=True)
class MetricPolicy:
    """How the classification metrics read scores: PD at or above the policy threshold is a
    decline; precision@k looks at the riskiest share; intervals and tests are at this confidence."""

    policy_threshold: float
    precision_at_k_share: float
    evidence_confidence: float
