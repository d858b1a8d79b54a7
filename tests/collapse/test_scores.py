"""Diversity, text and mixture scores on cases whose values are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from criticality.collapse import GMMLearner
from criticality.collapse.gmm import TRUE_WEIGHTS, sample_true_mixture, true_component
from criticality.collapse.judge import diversity
from criticality.collapse.textstats import (
    distinct_ngrams,
    ppl_histogram,
    text_reference,
    text_stats,
)


def test_diversity_of_uniform_and_collapsed_class_histograms() -> None:
    share = torch.full((10,), 0.1)
    uniform = torch.eye(10).repeat(20, 1) * 0.9 + 0.01  # 200 samples, 20 per class, conf 0.91
    d = diversity(uniform, share, k=3)
    assert d.entropy == pytest.approx(math.log(10))
    assert d.tail_mass == pytest.approx(0.3) and d.min_coverage == pytest.approx(1.0)
    assert d.confidence == pytest.approx(0.91)
    one = torch.zeros(50, 10)
    one[:, 4] = 1.0
    d = diversity(one, share)
    assert d.entropy == 0.0 and d.tail_mass == 0.0 and d.min_coverage == 0.0
    assert d.histogram[4] == 1.0 and d.coverage[4] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="real_share"):
        diversity(one, torch.ones(3))


def test_text_statistics() -> None:
    w = torch.tensor([[1, 2, 1, 2, 1, 2]])
    assert distinct_ngrams(w, 2) == pytest.approx(2 / 5)  # (1,2), (2,1)
    assert distinct_ngrams(w, 1) == pytest.approx(2 / 6)

    def enc(t: str) -> torch.Tensor:
        return torch.tensor([ord(c) - 31 for c in t])  # the vocabulary's ids of printable ASCII

    chars = "ab " * 100 + "Z"  # Z: 1 in 301 characters, rare below 1 %
    ref = text_reference(enc(chars), chars, rare_char=0.01)
    assert ref.rare_chars == (ord("Z") - 31,)
    gen = "aZ b"
    assert text_stats(enc(gen)[None], [gen], ref)["rare_char_mass"] == pytest.approx(1 / 4)
    real = "the lord said unto moses the lord the lord"
    ref = text_reference(enc(real), real, rare_word=1)
    gen = "Moses said the blah"
    stats = text_stats(enc(gen)[None], [gen], ref)
    # Words (lower-cased): moses, said (seen once: rare), the (3×), blah (unseen).
    assert stats["rare_word_mass"] == pytest.approx(2 / 4)
    assert stats["nonword_rate"] == pytest.approx(1 / 4)
    assert stats["distinct_words"] == pytest.approx(1.0)


def test_perplexity_histogram_is_a_density() -> None:
    h = ppl_histogram(torch.tensor([0.5, 1.0, 1.5, 2.0]).double())
    widths = np.diff(h["edges"])
    assert float((np.array(h["density"]) * widths).sum()) == pytest.approx(1.0)
    assert h["quantiles"][2] == pytest.approx(1.25)


def test_mixture_sampler_and_gmm_learner() -> None:
    x = sample_true_mixture(20_000, seed=0).numpy()
    share = np.bincount(true_component(x), minlength=len(TRUE_WEIGHTS)) / len(x)
    np.testing.assert_allclose(share, TRUE_WEIGHTS, atol=0.01)
    learner = GMMLearner(6, init_seed=0)
    learner.fit(torch.from_numpy(x[:4000]), seed=0)
    test = sample_true_mixture(2000, seed=1)
    scores = learner.evaluate(test, learner.sample(4000, seed=1), None)
    assert scores["rare_component_mass"] == pytest.approx(TRUE_WEIGHTS[-1], abs=0.01)
    assert scores["tail_mass"] == pytest.approx(0.05, abs=0.02)
    copy = GMMLearner(6, init_seed=5)
    copy.load_state_dict(learner.state_dict())
    assert copy.evaluate(test, learner.sample(10, seed=2), None)["test_loglik"] == pytest.approx(
        scores["test_loglik"]
    )
    torch.testing.assert_close(copy.sample(30, seed=3), learner.sample(30, seed=3))


def test_mixture_l2_and_covariance_match_numerical_integration() -> None:
    import numpy as np
    from scipy import stats

    from criticality.collapse.gmm import mixture_covariance, mixture_l2, sample_true_mixture

    a = (np.array([0.3, 0.7]), np.array([[0.0, 0.0], [2.0, 1.0]]),
         np.array([np.eye(2), [[0.5, 0.1], [0.1, 0.8]]]))  # fmt: skip
    b = (np.array([1.0]), np.array([[0.5, 0.2]]), np.array([[[1.5, 0.0], [0.0, 1.2]]]))

    def pdf(p: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
        return sum(w * stats.multivariate_normal(m, c).pdf(x) for w, m, c in zip(*p, strict=True))

    grid = np.linspace(-8, 10, 361)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.stack([xx.ravel(), yy.ravel()], axis=1)
    numeric = ((pdf(a, pts) - pdf(b, pts)) ** 2).sum() * (grid[1] - grid[0]) ** 2
    assert mixture_l2(a, b) == pytest.approx(numeric, rel=1e-4)
    assert mixture_l2(a, a) == pytest.approx(0.0, abs=1e-12)
    x = sample_true_mixture(200_000, seed=0).numpy()
    from criticality.collapse.gmm import TRUE_MEANS, TRUE_SCALES, TRUE_WEIGHTS

    covs = np.array([s**2 * np.eye(2) for s in TRUE_SCALES])
    cov = mixture_covariance(TRUE_WEIGHTS, TRUE_MEANS, covs)
    assert np.allclose(cov, np.cov(x.T), atol=0.05)


def test_the_mixtures_distance_to_the_truth_grows_as_it_collapses() -> None:
    real, test = sample_true_mixture(4000, seed=0), sample_true_mixture(500, seed=1)
    good, poor = GMMLearner(6, init_seed=0), GMMLearner(6, init_seed=0)
    good.fit(real, seed=0)
    poor.fit(real[:12], seed=0)  # a dozen points: needle-thin components
    g = good.evaluate(test, good.sample(500, seed=1), None)
    p = poor.evaluate(test, poor.sample(500, seed=1), good)
    assert g["log_l2_to_true"] < math.log(1e-3) < p["log_l2_to_true"]
    assert g["l2_to_gen0"] == pytest.approx(0.0, abs=1e-12) and p["l2_to_gen0"] > 0
