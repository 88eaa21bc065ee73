"""Model quality metrics for a PD model, with the definitions a reviewer can check.

ECE uses 10 equal-mass bins: predictions are sorted and cut into ten groups of (nearly) equal
size; ECE is the size-weighted mean absolute gap between mean predicted PD and observed default
rate. Equal-mass bins keep every bin populated although most PDs sit below 0.2.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    roc_curve,
)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, bins)
    n = len(p)
    return float(sum(len(g) / n * abs(p[g].mean() - y[g].mean()) for g in groups if len(g)))


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def precision_recall_at(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = p >= threshold
    positives = y.sum()
    precision = float(y[flagged].mean()) if flagged.any() else 0.0
    recall = float(y[flagged].sum() / positives) if positives else 0.0
    return precision, recall


def precision_at_k(y: np.ndarray, p: np.ndarray, share: float) -> float:
    k = max(1, round(len(p) * share))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean())


def classification_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float, k_share: float
) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    auc = float(roc_auc_score(y, p))
    precision, recall = precision_recall_at(y, p, threshold)
    return {
        "roc_auc": auc,
        "pr_auc": float(average_precision_score(y, p)),
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, p),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "precision_at_threshold": precision,
        "recall_at_threshold": recall,
        "precision_at_k": precision_at_k(y, p, k_share),
        "rows": float(len(y)),
        "defaults": float(y.sum()),
        "default_rate": float(y.mean()),
        "mean_pd": float(p.mean()),
    }
