"""The collapse experiment's configuration: shared settings, and one nested block per model.

Every model's settings are a field holding a small dataclass (``cfg.vae.latent``,
``cfg.charlm.decoding``), as minGPT composes component defaults; :func:`with_changes` replaces
nested fields by dotted names (``{"vae.latent": 8}``), as ``--set vae.latent=8`` does.
Presets: :meth:`CollapseConfig.tiny` (seconds), :meth:`~CollapseConfig.demo` (minutes), the
defaults (``full``), :meth:`~CollapseConfig.shumailov` (the language-model protocol of
Shumailov et al.) and :meth:`~CollapseConfig.reference` (every model on the references'
protocols, sized for one CPU core in about half an hour).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from criticality.collapse import DATA_MODES
from criticality.training.methods import get_method

MODELS = ("gaussian", "regression", "gmm", "vae", "charlm")
CONTROL = "replace/plain"


@dataclasses.dataclass(frozen=True)
class GMMSettings:
    """The Gaussian mixture's recursion.

    Attributes:
        n: real points of generation 0 and samples per generation.
        components: mixture components of each fit (the real mixture has 6).
        generations: generations after generation 0 (``None``: the shared ``generations``).
            A mixture needs hundreds to collapse: for one 2-D Gaussian ``E ln det Σ`` falls by
            about ``3/N`` per generation while its spread grows like ``√(g · 2·2/N)``
            (:func:`criticality.collapse.expected_log_det`).
    """

    n: int = 200
    components: int = 6
    generations: int | None = 300


@dataclasses.dataclass(frozen=True)
class VAESettings:
    """The VAE's recursion.

    Attributes:
        dataset: ``"mnist"`` or ``"digits"``.
        n: real images of generation 0 and samples per generation.
        latent: latent dimension.
        hidden: encoder widths (the decoder mirrors them).
        steps: Adam steps per generation.
        batch: images per step.
        lr: learning rate.
        n_eval: real test images scored per generation.
        stream: ``"pool"`` (train on a fixed pool of ``n`` samples of the previous generation)
            or ``"fresh"`` (decode a fresh batch of the previous generation at every step,
            none reused, as the reference notebook; ``replace`` mode only).
    """

    dataset: str = "mnist"
    n: int = 10_000
    latent: int = 16
    hidden: tuple[int, ...] = (256, 256, 256)
    steps: int = 800
    batch: int = 128
    lr: float = 1e-3
    n_eval: int = 1000
    stream: str = "pool"


@dataclasses.dataclass(frozen=True)
class CharLMSettings:
    """The character-level language models' recursion.

    Attributes:
        archs: ``"gru"`` and/or ``"transformer"``.
        chars: characters of the KJV text used (the first ones; blocks of 10,000 characters,
            every tenth the test text, and with ``select_every`` every ninth the validation
            text).
        window: characters per training window ``T`` (windows hold ``T + 1`` ids; a sampled
            window is ``T + 1`` new tokens).
        n: training windows of generation 0 and sampled windows per generation.
        steps: Adam steps per generation (fine-tuning steps with ``pretrain_steps``).
        batch: windows per step.
        lr: learning rate.
        gru_width: GRU hidden width (2 layers, embedding 32).
        transformer_width: transformer width (4 blocks, 4 heads).
        n_eval: real test windows scored per generation.
        decoding: ``"sample"`` (unconditional, at ``temperature``) or ``"beam"`` (from
            prompts, ``beams`` beams with ``repetition_penalty``).
        temperature: of ``"sample"``.
        beams: of ``"beam"``.
        repetition_penalty: of ``"beam"``.
        prompts: ``"pool"`` (windows of the generation's own training data) or ``"real"``.
        select_every: keep the weights with the best loss on real validation text, checked
            every this many steps (``None``: keep the last weights).
        n_valid: real validation windows for the selection.
        pretrain_steps: steps of a model trained on real text (per seed, with the selection)
            that every generation starts from and fine-tunes (``0``: fresh initialisations).
    """

    archs: tuple[str, ...] = ("gru", "transformer")
    chars: int = 1_000_000
    window: int = 64
    n: int = 2048
    steps: int = 300
    batch: int = 32
    lr: float = 3e-3
    gru_width: int = 128
    transformer_width: int = 64
    n_eval: int = 256
    decoding: str = "sample"
    temperature: float = 1.0
    beams: int = 5
    repetition_penalty: float = 3.0
    prompts: str = "pool"
    select_every: int | None = None
    n_valid: int = 256
    pretrain_steps: int = 0


@dataclasses.dataclass(frozen=True)
class CollapseConfig:
    """What the experiment runs.

    Attributes:
        models: subset of :data:`MODELS`.
        modes: data modes run with the control method (``"replace"`` is always run):
            ``"mixed"`` keeps ``real_fraction`` of generation 0's data, ``"mixed_fresh"`` draws
            it from all real data, ``"accumulate"`` keeps everything.
        methods: training methods run under ``replace`` for the neural models (``"plain"``
            is the control and always run).
        seeds: replicates: one run per seed and condition (initialisations, data order,
            samples); distinct values.
        generations: generations after generation 0 of the networks (and of the mixture
            unless ``gmm.generations`` is set).
        real_fraction: share of real data in the mixed modes.
        epochs_per_generation: passes over each generation's pool for the networks instead of
            their fixed steps (the Koyejo lab trains one epoch over the growing accumulated
            pool); ``None``: the fixed steps.
        warm_start: start each generation from the previous weights (default: fresh init).
        critical_weight: weight of the criticality penalty (the registry's default, 5).
        sub_batch: inputs per step of the criticality penalty.
        gaussian_n: points per generation of the exact Gaussian case.
        gaussian_dim: its dimension.
        gaussian_runs: its independent runs (vectorised).
        stat_generations: generations of the Gaussian and regression cases.
        regression_n: rows ``T`` per generation of the regression.
        regression_dim: its input dimension ``d``.
        regression_runs: its independent runs.
        gmm: the mixture (:class:`GMMSettings`).
        vae: the VAE (:class:`VAESettings`).
        charlm: the language models (:class:`CharLMSettings`).
        executor: ``"local"`` (units one after another) or ``"ray"`` (one task per unit).
        address: the Ray cluster's address (``None``: a local Ray instance).
        seed: seed of the data subsets and of the exact cases' draws.
    """

    models: tuple[str, ...] = MODELS
    modes: tuple[str, ...] = ("replace", "mixed", "accumulate")
    methods: tuple[str, ...] = ("plain", "critical_global", "critical_stagewise")
    seeds: tuple[int, ...] = (0, 1, 2)
    generations: int = 5
    real_fraction: float = 0.1
    epochs_per_generation: float | None = None
    warm_start: bool = False
    critical_weight: float = 5.0
    sub_batch: int = 16
    gaussian_n: int = 100
    gaussian_dim: int = 1
    gaussian_runs: int = 2000
    stat_generations: int = 200
    regression_n: int = 50
    regression_dim: int = 10
    regression_runs: int = 2000
    gmm: GMMSettings = GMMSettings()
    vae: VAESettings = VAESettings()
    charlm: CharLMSettings = CharLMSettings()
    executor: str = "local"
    address: str | None = None
    seed: int = 0

    @classmethod
    def tiny(cls) -> CollapseConfig:
        """Seconds-long version for tests."""
        return cls(
            modes=("replace", "mixed"),
            methods=("plain", "critical_global"),
            seeds=(0, 1),
            generations=1,
            gaussian_n=10,
            gaussian_runs=200,
            stat_generations=10,
            regression_n=20,
            regression_dim=3,
            regression_runs=200,
            gmm=GMMSettings(n=200, generations=None),
            vae=VAESettings(dataset="digits", n=256, latent=4, hidden=(16, 16), steps=10,
                            batch=32, n_eval=64),
            charlm=CharLMSettings(archs=("gru",), chars=40_000, window=16, n=32, steps=5,
                                  batch=8, gru_width=16, n_eval=16),
        )  # fmt: skip

    @classmethod
    def demo(cls) -> CollapseConfig:
        """About two minutes of one CPU thread: the exact Gaussian and regression, a small VAE
        on digits (tanh 128-128, latent 8: its generation 0 covers all ten classes), a short
        GRU run on a slice of the KJV text; 3 seeds, replace vs critical_global vs accumulate,
        3 generations (the mixed mode and longer chains: the committed reference study,
        ``results/collapse``)."""
        return cls(
            models=("gaussian", "regression", "vae", "charlm"),
            modes=("replace", "accumulate"),
            methods=("plain", "critical_global"),
            generations=3,
            gaussian_runs=1000,
            stat_generations=100,
            regression_runs=1000,
            vae=VAESettings(dataset="digits", n=1438, latent=8, hidden=(128, 128), steps=400,
                            batch=64, lr=1.5e-3, n_eval=359),
            charlm=CharLMSettings(archs=("gru",), chars=200_000, window=32, n=256, steps=50,
                                  batch=16, gru_width=64, n_eval=128),
        )  # fmt: skip

    @classmethod
    def named_presets(cls) -> dict[str, Callable[[], CollapseConfig]]:
        """Presets beyond tiny / demo / full that ``--preset`` accepts."""
        return {"shumailov": cls.shumailov, "reference": cls.reference}

    @classmethod
    def shumailov(cls) -> CollapseConfig:
        """Shumailov et al.'s language-model protocol (Nature 2024), at character level.

        Values from ``Zakahler/curse_recurse`` (the OPT-125m experiment):

        * ``decoding="beam"``, ``beams=5``, ``repetition_penalty=3.0``, 64 new tokens
          (``window=63``: windows of 64 ids): ``main.py`` line 305,
          ``model.generate(input_ids, num_beams=5, max_new_tokens=64, min_new_tokens=64,
          repetition_penalty=3.0)``, and line 306 keeps only the new tokens;
        * 64-token prompts from the generation's training set (``prompts="pool"``): the
          prompts are the batches of ``data_loader.train_dataloader`` (``main.py`` line 290),
          the real training blocks of ``dataset.py`` line 31 (``block_size=64``) at generation
          0 and the loaded generated data after (``main.py`` lines 203–205);
        * selection on real validation text (``select_every``): ``ModelCheckpoint(monitor=
          "val_loss", mode="min", save_top_k=1)``, ``main.py`` lines 231–238, validated on the
          real validation split (line 212);
        * every generation fine-tunes a model trained on real text (``pretrain_steps``): the
          pretrained OPT-125m loaded with ``-p`` (``main.py`` lines 187–188); here a GRU
          trained on real text stands in for it;
        * 10 % of the original data kept in the mixed mode: ``generate_percentage`` keeps the
          first batches of the training set (``main.py`` lines 286 and 298);
        * 5 epochs per generation (``main.py`` line 91) become ``steps`` fine-tuning steps
          sized for one CPU core (an epoch over 2,048 windows of 32 is 64 steps).

        Our model is a character GRU on the KJV text, not OPT-125m on wikitext-2: the
        protocol is the reference's, the scale is not.
        """
        return cls(
            models=("charlm",),
            modes=("replace", "mixed"),
            methods=("plain", "critical_global"),
            generations=5,
            charlm=CharLMSettings(
                archs=("gru",), chars=400_000, window=63, n=1024, steps=160, batch=32,
                lr=2e-3, gru_width=128, n_eval=256, decoding="beam", beams=5,
                repetition_penalty=3.0, prompts="pool", select_every=40, n_valid=128,
                pretrain_steps=1500,
            ),
        )  # fmt: skip

    @classmethod
    def reference(cls) -> CollapseConfig:
        """Every model on the references' protocols, sized for about half an hour of one core.

        * Gaussian and regression: the closed-form cases (N = 10 and 100, 200 generations).
        * Mixture: N = 100 points, 200 generations (the reference refits 2,050 times at
          N = 1,000, ``Normals_GMM_experiments.ipynb``): for one 2-D Gaussian at N = 100,
          ``E ln det Σ`` falls 0.051 per generation, 10.2 over 200, against a run-to-run
          spread (sd) of 2.9, so collapse is visible before the remedies are read.
        * VAE: the reference notebook's stream (``VAE_experiments.ipynb`` cell 4: a fresh
          decoded batch at every step), 5 generations (cell 9, ``range(5)``), latent 20 and
          batch 256 (cell 1; 30 epochs of MNIST there, 7,050 steps, here ``vae.steps``), on
          the digits data.
        * Language models: :meth:`shumailov`'s protocol, smaller.
        """
        lm = cls.shumailov().charlm
        return cls(
            modes=("replace", "mixed", "accumulate"),
            methods=("plain", "critical_global"),
            seeds=(0, 1, 2),
            generations=5,
            gaussian_n=10,
            gaussian_runs=2000,
            stat_generations=200,
            regression_n=50,
            regression_runs=2000,
            gmm=GMMSettings(n=100, generations=200),
            vae=VAESettings(dataset="digits", n=1438, latent=20, hidden=(128, 128), steps=1000,
                            batch=256, lr=1e-3, n_eval=359, stream="fresh"),
            charlm=dataclasses.replace(lm, chars=200_000, n=256, steps=60, select_every=20,
                                       n_valid=64, pretrain_steps=400, n_eval=128),
        )  # fmt: skip

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        if bad := set(self.models) - set(MODELS):
            raise ValueError(f"unknown models {sorted(bad)}; choose from {MODELS}")
        if bad := set(self.modes) - set(DATA_MODES):
            raise ValueError(f"unknown modes {sorted(bad)}; use some of {DATA_MODES}")
        if bad := set(self.charlm.archs) - {"gru", "transformer"}:
            raise ValueError(f"unknown charlm.archs {sorted(bad)}; use gru, transformer")
        if not self.seeds:
            raise ValueError("seeds is empty: give at least one seed (3 or more for CIs)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat a value: give distinct replicates")
        e = self.epochs_per_generation
        if e is not None and not (math.isfinite(e) and e > 0):
            raise ValueError(f"epochs_per_generation must be positive or None, got {e}")
        if self.vae.stream not in ("pool", "fresh"):
            raise ValueError(f"vae.stream must be 'pool' or 'fresh', got {self.vae.stream!r}")
        if self.charlm.decoding not in ("sample", "beam"):
            raise ValueError(f"charlm.decoding must be 'sample' or 'beam', got "
                             f"{self.charlm.decoding!r}")  # fmt: skip
        for method in self.methods:
            get_method(method)  # a ValueError lists the registered methods

    def conditions(self, model: str) -> list[str]:
        """``"mode/method"`` conditions of ``model``; the control first. A VAE that streams
        fresh samples runs only ``replace`` (a pool is what the other modes mix)."""
        if model in ("gaussian", "regression"):
            return []
        modes = [m for m in self.modes if m != "replace"]
        if model == "vae" and self.vae.stream == "fresh":
            modes = []
        if model == "gmm":
            return [CONTROL, *(f"{m}/plain" for m in modes)]
        methods = [m for m in self.methods if m != "plain"]
        return [CONTROL, *(f"replace/{m}" for m in methods), *(f"{m}/plain" for m in modes)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (nested dicts, lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollapseConfig:
        """The config of a ``results.json`` (nested blocks, or the flat ``vae_*`` /
        ``charlm_*`` / ``gmm_*`` fields of results written before the blocks)."""
        flat = dict(data)
        nested: dict[str, Any] = {}
        for block, kind in (("gmm", GMMSettings), ("vae", VAESettings),
                            ("charlm", CharLMSettings)):  # fmt: skip
            old = {k.removeprefix(f"{block}_"): flat.pop(k) for k in list(flat)
                   if k.startswith(f"{block}_")}  # fmt: skip
            value = flat.pop(block, None) or old
            names = {f.name for f in dataclasses.fields(kind)}
            nested[block] = kind(**_tuples({k: v for k, v in value.items() if k in names}))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**_tuples({k: v for k, v in flat.items() if k in names}), **nested)


def _tuples(d: Mapping[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples of the config's fields."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def with_changes(cfg: Any, changes: Mapping[str, Any]) -> Any:
    """``cfg`` with fields replaced, nested ones by dotted names: ``{"vae.latent": 8}``, each
    value checked against its field's type (what ``--set`` does,
    :func:`criticality.experiments._config.apply_overrides`).

    A ``ValueError`` names an unknown field and lists the known ones.
    """
    from criticality.experiments._config import apply_overrides

    return apply_overrides(cfg, changes, flag="with_changes")
