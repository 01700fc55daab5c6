"""Classifier two-sample test (Lopez-Paz & Oquab, 2017) between real and fake samples.

A classifier is trained to tell real (label 1) from fake (label 0) on one part
of the data and scored on the held-out rest. Under H0 (same distribution) no
classifier beats chance, so the held-out accuracy is ~ Binomial(n_test, 1/2) / n_test;
accuracy near 0.5 means indistinguishable, near 1 means easily separable.

Protocol used here:
- classes are balanced first: the larger set is randomly subsampled to the
  size of the smaller one (so chance level is exactly 0.5);
- a stratified random split puts `test_fraction` of each class in the test set;
- features are standardised with statistics of the training part only;
- classifier "logistic": L2-regularised logistic regression (sklearn, C=1),
  a linear test, sensitive to mean shifts; "mlp": one hidden layer of 64 ReLU
  units (sklearn MLPClassifier, adam, early stopping on 10% of the training
  part), which also detects differences in spread or shape;
- p-value: one-sided exact binomial test of H0 "accuracy = 0.5" against
  "accuracy > 0.5" (scipy.stats.binomtest); below-chance accuracy is no
  evidence of a difference.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from .checks import as_features, public_metric

__all__ = ["c2st_accuracy", "CLASSIFIERS"]

CLASSIFIERS = ("logistic", "mlp")


def _make_classifier(name: str, seed: int):
    # sklearn is imported here, not at the top: it takes ~2 s, and this module is
    # loaded with ganscape.metrics (so with every `ganscape` command).
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if name == "logistic":
        model = LogisticRegression(C=1.0, max_iter=1000)
    else:
        model = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True, max_iter=500,
                              random_state=seed)
    return make_pipeline(StandardScaler(), model)


@public_metric
def c2st_accuracy(fake, real, *, seed: int = 0, test_fraction: float = 0.5,
                  classifier: str = "logistic") -> Dict[str, float]:
    """Held-out accuracy of a real-vs-fake classifier, with a binomial p-value.

    Args:
        fake: (M, D) generated samples or features (array or tensor; tensors
            that require grad are detached).
        real: (N, D) reference samples or features, same D.
        seed: seed of the class balancing, the split and the MLP initialisation.
        test_fraction: share of each (balanced) class held out, in (0, 1).
        classifier: "logistic" or "mlp" (see the module docstring).

    Returns:
        {"accuracy": held-out accuracy in [0, 1] (0.5 = indistinguishable),
         "n_train": training samples (both classes), "n_test": test samples,
         "p_value": one-sided binomial p-value for accuracy > 0.5}.
    """
    from scipy.stats import binomtest  # imported here for speed, as in _make_classifier
    fake = as_features(fake, "fake")
    real = as_features(real, "real")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: fake has D={fake.shape[1]}, "
                         f"real has D={real.shape[1]}")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    x, y, _, _, train, test = balanced_split(real, fake, test_fraction, seed)
    x_train, x_test, y_train, y_test = x[train], x[test], y[train], y[test]

    model = _make_classifier(classifier, seed)
    model.fit(x_train, y_train)
    correct = int((model.predict(x_test) == y_test).sum())
    n_test = len(y_test)
    return {
        "accuracy": correct / n_test,
        "n_train": len(y_train),
        "n_test": n_test,
        "p_value": float(binomtest(correct, n_test, 0.5, alternative="greater").pvalue),
    }


def balanced_split(real: np.ndarray, fake: np.ndarray, test_fraction: float, seed: int):
    """The two-sample test's data: n = min(N, M) examples of each set drawn without replacement (real
    first, then fake, from one seeded generator), labelled 1 (real) and 0, and a stratified split holding
    out round(test_fraction * n) of each class. Returns (x, y, real_idx, fake_idx, train, test): x the
    2n stacked examples, real_idx / fake_idx the rows drawn from each set, train / test indices into x.
    c2st_accuracy and the ordered flaws (flaws.py) share it, so with one seed they see the same split."""
    from sklearn.model_selection import train_test_split
    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake))
    n_test_per_class = int(round(test_fraction * n))
    if n_test_per_class < 1 or n - n_test_per_class < 2:
        raise ValueError(f"too few samples for a train/test split: {n} per class after balancing "
                         f"(real N={len(real)}, fake M={len(fake)}) with test_fraction={test_fraction}; "
                         f"need at least 2 training and 1 test sample per class")
    real_idx = rng.choice(len(real), n, replace=False)
    fake_idx = rng.choice(len(fake), n, replace=False)
    x = np.concatenate([real[real_idx], fake[fake_idx]])
    y = np.concatenate([np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)])
    train, test = train_test_split(np.arange(2 * n), test_size=2 * n_test_per_class, stratify=y,
                                   random_state=int(rng.integers(2 ** 31)))
    return x, y, real_idx, fake_idx, train, test
