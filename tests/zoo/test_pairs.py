"""Pretrained–initialisation pairs (zoo-pairs), on a tiny config-built BERT (no download)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from criticality.experiments.zoo import pairs as zoo_pairs

TINY = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 32, "max_position_embeddings": 32}  # fmt: skip


def _save(tmp_path: Path, seed: int, scale: float = 1.0) -> str:
    from transformers import BertConfig, BertModel

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(BertConfig(**TINY), add_pooling_layer=False)
    state = {k: v * scale if v.is_floating_point() and "LayerNorm" not in k else v
             for k, v in model.state_dict().items()}  # fmt: skip
    path = tmp_path / f"bert{seed}_{scale}.pt"
    torch.save(state, path)
    return str(path)


def _cfg(weights: str) -> zoo_pairs.PairsConfig:
    return dataclasses.replace(zoo_pairs.PairsConfig.tiny(), bert_config=TINY,
                               bert_weights=weights)  # fmt: skip


def test_a_pair_with_the_twins_own_weights_has_no_difference(tmp_path: Path) -> None:
    """Weights equal to the twin's initialisation (same seed): the two measurements agree
    exactly, so training 'moved' it by 0."""
    rows = zoo_pairs.measure_pairs(_cfg(_save(tmp_path, 0)))
    assert len(rows) == 1
    r = rows[0]
    assert r["λ_1 pretrained"] == pytest.approx(r["λ_1 init"], abs=1e-9)
    assert r["Δ|λ_1| (trained − init)"] == pytest.approx(0.0, abs=1e-9)


def test_other_weights_move_the_exponent_and_the_summary_counts(tmp_path: Path) -> None:
    rows = zoo_pairs.measure_pairs(_cfg(_save(tmp_path, 1, scale=3.0)))
    r = rows[0]
    assert r["λ_1 pretrained"] != pytest.approx(r["λ_1 init"], abs=1e-3)
    s = zoo_pairs.summary(rows * 4)
    assert s["n"] == 4 and s["closer"] in (0, 4)
    assert s["verdict"] == "inconclusive" and "fewer than 6 pairs" in s["reason"]
    assert "of 4 pretrained networks" in zoo_pairs.lead(s)


def test_weights_of_another_shape_are_refused(tmp_path: Path) -> None:
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(3, 3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit"):
        zoo_pairs.measure_pairs(_cfg(str(tmp_path / "bad.pt")))


def test_summary_reads_a_consistent_move_of_many_pairs() -> None:
    rows = [{"λ_1 pretrained": -0.1 * (i + 1), "λ_1 init": -0.5 * (i + 1),
             "Δ|λ_1| (trained − init)": -0.4 * (i + 1)} for i in range(8)]  # fmt: skip
    s = zoo_pairs.summary(rows)
    assert s["closer"] == 8 and s["verdict"] == "supported" and s["wilcoxon"]["p_value"] < 0.05
    assert not math.isnan(s["mean"]["ci_low"])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="nets must be"):
        zoo_pairs.PairsConfig(nets=("gpt5",)).check()
