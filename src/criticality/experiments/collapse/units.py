"""The collapse experiment's unit of work: one variant, one condition, one seed.

A unit (``OUT/units/VARIANT/MODE-METHOD/seedS``) runs the recursion of
:func:`criticality.collapse.run_generations`, resumable per generation. Its folder is stamped
with the settings that decide it alone (:func:`unit_fields`), so that a changed setting
recomputes only the units it acts on; a damaged generation file is moved aside and that
generation recomputed (:mod:`criticality.collapse.recursion`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from criticality._files import DamagedFileError, load_tensors, save_tensors, set_aside
from criticality.collapse import (
    CharLMLearner,
    CharLMSpec,
    GMMLearner,
    Recursion,
    TrainSpec,
    VAELearner,
    VAESpec,
    load_judge,
    run_generations,
)
from criticality.collapse.charlm import text_windows
from criticality.collapse.gmm import sample_true_mixture
from criticality.collapse.learners import Decoding
from criticality.collapse.textstats import text_reference, text_stats
from criticality.experiments.collapse.config import CollapseConfig
from criticality.experiments.collapse.results import Condition, Metric
from criticality.reporting import atomic_write, resume_dir

log = logging.getLogger(__name__)


#: Version of the mixture's scores: a unit scored by an earlier version is computed again.
GMM_SCORES = 2


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of work: a variant (``gmm``, ``vae``, ``charlm-gru``, ...), a condition and a
    seed, resumable per generation under ``units``."""

    variant: str
    condition: Condition
    seed: int
    units: Path
    cfg: CollapseConfig

    @property
    def folder(self) -> Path:
        return self.units / self.variant / self.condition.folder / f"seed{self.seed}"


def run_unit(unit: Unit) -> list[dict[str, Any]]:
    """Run (or resume) one unit's generations; one flat row of numbers per generation."""
    cfg, variant = unit.cfg, unit.variant
    stamp = {"variant": variant, "condition": unit.condition.label, "seed": unit.seed,
             **unit_fields(variant, cfg, unit.condition)}  # fmt: skip
    folder = resume_dir(unit.folder, stamp)
    torch.manual_seed(unit.seed)
    setup = setup_of(variant, cfg)
    base = _pretrained(variant, cfg, setup, unit.seed, folder)
    records = run_generations(
        make_learner(variant, unit.condition, cfg, setup, base),
        setup["train"],
        setup["test"],
        recursion_of(variant, unit.condition, unit.seed, cfg),
        out_dir=folder,
        progress=False,
    )
    return [_flat(r) for r in records]


@functools.lru_cache(maxsize=2)
def setup_of(variant: str, cfg: CollapseConfig) -> dict[str, Any]:
    """Real train/test data (and the judge, the text reference) of one model (cached)."""
    if variant == "gmm":
        return {
            "train": sample_true_mixture(5 * cfg.gmm.n, seed=cfg.seed),
            "test": sample_true_mixture(2000, seed=cfg.seed + 1),
        }
    if variant == "vae":
        from criticality.data import load_tensors

        x, _ = load_tensors(cfg.vae.dataset, "train")
        xt, _ = load_tensors(cfg.vae.dataset, "test")
        return {"train": x, "test": xt, "judge": load_judge(cfg.vae.dataset)}
    return _text_setup(cfg)


def _text_setup(cfg: CollapseConfig) -> dict[str, Any]:
    """Blocks of 10,000 characters: every tenth is test text, with validation every ninth too
    (the selection needs real text that neither trains nor tests)."""
    from criticality.data import load_text

    lm = cfg.charlm
    corpus = load_text("kjv")
    text = corpus.text[: lm.chars]
    blocks = [text[i : i + 10_000] for i in range(0, len(text), 10_000)]
    held = {9, 8} if lm.select_every is not None else {9}
    train_text = "".join(b for i, b in enumerate(blocks) if i % 10 not in held)
    test_text = "".join(b for i, b in enumerate(blocks) if i % 10 == 9) or text[-10_000:]
    valid_text = "".join(b for i, b in enumerate(blocks) if i % 10 == 8) or test_text
    train_ids, test_ids = corpus.encode(train_text), corpus.encode(test_text)
    w = lm.window + 1
    ref = text_reference(train_ids, train_text)
    test = text_windows(test_ids, w)
    real_scores = text_stats(test[:, 1:], [corpus.decode(t) for t in test[:, 1:]], ref)
    return {
        "train": text_windows(train_ids, w, stride=w // 2),
        "test": test,
        "valid": text_windows(corpus.encode(valid_text), w)[: lm.n_valid],
        "reference": ref,
        "decode": corpus.decode,
        "reference_scores": real_scores,
    }


def _options(method: str, cfg: CollapseConfig) -> dict[str, Any]:
    if method.startswith("critical"):
        return {"weight": cfg.critical_weight, "sub_batch": cfg.sub_batch}
    return {}


def lm_spec(variant: str, cfg: CollapseConfig) -> CharLMSpec:
    """The language model of ``charlm-gru`` / ``charlm-transformer``."""
    lm, arch = cfg.charlm, variant.removeprefix("charlm-")
    return CharLMSpec(
        arch=arch,
        width=lm.gru_width if arch == "gru" else lm.transformer_width,
        layers=2 if arch == "gru" else 4,
        window=lm.window,
        n_eval=lm.n_eval,
        burn_in=min(16, lm.window // 2),
        context=2 * (lm.window + 1) if lm.decoding == "beam" else None,
    )


def make_learner(
    variant: str,
    cond: Condition,
    cfg: CollapseConfig,
    setup: dict[str, Any],
    base: dict[str, torch.Tensor] | None = None,
) -> Any:
    """``make(generation, init_seed)`` for one variant and condition."""
    method = cond.method
    options = _options(method, cfg)
    if variant == "gmm":
        k = cfg.gmm.components
        return lambda g, s: GMMLearner(k, init_seed=s)
    if variant == "vae":
        v = cfg.vae
        spec = VAESpec(latent=v.latent, hidden=v.hidden, n_eval=v.n_eval)
        ts = TrainSpec(v.steps, v.batch, v.lr, method, options, epochs=cfg.epochs_per_generation)
        shape = tuple(setup["train"].shape[1:])
        return lambda g, s: VAELearner(spec, ts, in_shape=shape, init_seed=s, judge=setup["judge"])
    lm = cfg.charlm
    ts = TrainSpec(lm.steps, lm.batch, lm.lr, method, options, epochs=cfg.epochs_per_generation)
    decoding = Decoding(kind=lm.decoding, temperature=lm.temperature, beams=lm.beams,
                        repetition_penalty=lm.repetition_penalty, prompts=lm.prompts)  # fmt: skip
    selecting = lm.select_every is not None
    return lambda g, s: CharLMLearner(
        lm_spec(variant, cfg),
        ts,
        init_seed=s,
        reference_text=setup["reference"],
        decode=setup["decode"],
        decoding=decoding,
        real_prompts=setup["train"] if lm.prompts == "real" else None,
        validation=setup["valid"] if selecting else None,
        select_every=lm.select_every or 1,
        base_state=base,
    )


def _pretrained(
    variant: str, cfg: CollapseConfig, setup: dict[str, Any], seed: int, folder: Path
) -> dict[str, torch.Tensor] | None:
    """The weights every generation of a language-model unit starts from: a model trained on
    real text for ``charlm.pretrain_steps`` (kept as ``pretrained.pt`` in the unit's folder;
    a file that does not load as plain tensors is moved aside and trained again)."""
    lm = cfg.charlm
    if not variant.startswith("charlm") or lm.pretrain_steps == 0:
        return None
    path = folder / "pretrained.pt"
    if path.exists():
        try:
            state = load_tensors(path)
            if not isinstance(state, dict):
                raise DamagedFileError(path, "not a dict of tensors")
            return state
        except DamagedFileError as err:  # cut, random or pickled: never trusted
            aside = set_aside(path)
            log.warning("%s; moved to %s, training it again", err, aside)
    ts = TrainSpec(lm.pretrain_steps, lm.batch, lm.lr)
    learner = CharLMLearner(
        lm_spec(variant, cfg), ts, init_seed=seed, reference_text=setup["reference"],
        decode=setup["decode"], validation=setup["valid"] if lm.select_every else None,
        select_every=lm.select_every or 1,
    )  # fmt: skip
    learner.fit(setup["train"], seed=seed, checkpoint_dir=folder / "pretrain_checkpoint")
    state = {k: v.detach().clone() for k, v in learner.state_dict().items()}
    save_tensors(path, state)
    shutil.rmtree(folder / "pretrain_checkpoint", ignore_errors=True)
    atomic_write(folder / "pretrained.txt", f"trained {lm.pretrain_steps} steps on real text\n")
    return state


def recursion_of(variant: str, cond: Condition, seed: int, cfg: CollapseConfig) -> Recursion:
    """The recursion of one run: sizes of the variant, mode of the condition."""
    n = {"gmm": cfg.gmm.n, "vae": cfg.vae.n}.get(variant, cfg.charlm.n)
    generations = cfg.generations
    if variant == "gmm" and cfg.gmm.generations is not None:
        generations = cfg.gmm.generations
    return Recursion(
        generations=generations,
        n_samples=n,
        mode=cond.mode,
        real_fraction=cfg.real_fraction,
        n_real=n,
        warm_start=cfg.warm_start,
        fresh_samples=variant == "vae" and cfg.vae.stream == "fresh",
        seed=seed,
    )


def unit_fields(variant: str, cfg: CollapseConfig, condition: Condition) -> dict[str, Any]:
    """The config fields a unit of ``variant`` under ``condition`` depends on (its resume
    stamp): the recursion's, the variant's own block (``gmm``, ``vae``, ``charlm`` without the
    other architectures), and only where they act the criticality penalty's (``critical_*``
    methods) and the mixed modes' share of real data, so that changing one of those
    recomputes only the units it affects."""
    generations = recursion_of(variant, condition, 0, cfg).generations
    out: dict[str, Any] = {"generations": generations, "warm_start": cfg.warm_start,
                           "seed": cfg.seed}  # fmt: skip
    if variant != "gmm":
        out["epochs_per_generation"] = cfg.epochs_per_generation
    if condition.method.startswith("critical"):
        out |= {"critical_weight": cfg.critical_weight, "sub_batch": cfg.sub_batch}
    if condition.mode.startswith("mixed"):
        out["real_fraction"] = cfg.real_fraction
    block = variant.split("-")[0]
    if block == "gmm":
        out["scores"] = GMM_SCORES
    own = dataclasses.asdict(getattr(cfg, block))
    if block == "charlm":
        other = "transformer" if variant == "charlm-gru" else "gru"
        own = {k: v for k, v in own.items() if k != "archs" and k != f"{other}_width"}
    out[block] = own
    return out


def _flat(record: Any) -> dict[str, Any]:
    """A generation's numbers, with criticality keys flattened (``lambda_1/encoder``, ...)."""
    row: dict[str, Any] = {"generation": record.generation, "seconds": record.seconds}
    for key, value in record.scores.items():
        if key == "criticality":
            for part, rec in value.items():
                for k, v in rec.items():
                    row[Metric(k, part).label] = v
        else:
            row[key] = value
    return row
