"""The recursion of model collapse: generation ``n + 1`` learns from samples of generation ``n``.

Generation 0 is fitted to real data. After each fit the generation draws ``n_samples`` samples;
the next generation's training pool is built from them by the data mode (DESIGN §8):

* ``"replace"``: only the newest samples, ``n_samples`` points;
* ``"accumulate"``: the real data and every earlier generation's samples,
  ``n_real + g · n_samples`` points at generation ``g`` (Gerstgrasser et al. 2024);
* ``"mixed"``: ``round(f · n_samples)`` points of generation 0's real data (drawn anew from
  that subset each generation) plus ``n_samples − round(f · n_samples)`` of the newest samples:
  Shumailov et al. 2024 keep 10 % of the original data (``curse_recurse/main.py`` lines
  286–298 keep the first batches of the generation's training set);
* ``"mixed_fresh"``: the same shares, but the real points are drawn from the whole real
  training set, so the recursion sees real points that generation 0 never had (this
  library's behaviour before; kept as a named mode for comparison).

With ``fresh_samples`` (``replace`` only) a generation does not train on a pool: it draws a fresh
batch from its predecessor at every step, none reused (the reference VAE notebook's stream), so
there is no finite-sample error, only the model's own.

Each generation starts from a fresh initialisation (seeded by ``(seed, g)``) or from the
previous generation's weights (``warm_start``). :func:`run_generations` drives any learner that
fits, samples and scores itself; with ``out_dir`` every finished generation is saved (model
state, samples, record) and a rerun resumes after the last finished one, so that a killed run
ends with the same records as one that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from criticality._files import DamagedFileError, load_tensors, read_json, save_tensors, set_aside

log = logging.getLogger(__name__)

DataMode = Literal["replace", "accumulate", "mixed", "mixed_fresh"]
DATA_MODES: tuple[DataMode, ...] = ("replace", "accumulate", "mixed", "mixed_fresh")


@dataclasses.dataclass(frozen=True)
class Recursion:
    """How generations follow each other.

    Attributes:
        generations: generations after generation 0 (so ``generations + 1`` fits in all).
        n_samples: samples each generation draws for the next.
        mode: ``"replace"``, ``"accumulate"``, ``"mixed"`` or ``"mixed_fresh"``.
        real_fraction: share of real data in each ``"mixed"`` (``"mixed_fresh"``) pool, in
            ``[0, 1]``.
        n_real: real points generation 0 trains on (drawn once, seeded); ``None``: all given.
        warm_start: start each generation from the previous one's weights instead of a fresh
            initialisation.
        fresh_samples: generations after 0 train on a stream ``draw(n, seed)`` of fresh
            samples of their predecessor instead of a pool (``replace`` only; the learner's
            ``fit`` must accept a callable).
        seed: seed of the real subset, the initialisations, the training and the sampling.
    """

    generations: int
    n_samples: int
    mode: DataMode = "replace"
    real_fraction: float = 0.1
    n_real: int | None = None
    warm_start: bool = False
    fresh_samples: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fresh_samples and self.mode != "replace":
            raise ValueError(
                f"fresh_samples streams the previous generation's samples, which only the "
                f"replace mode trains on alone; got mode {self.mode!r}"
            )
        if self.mode not in DATA_MODES:
            raise ValueError(f"mode must be one of {DATA_MODES}, got {self.mode!r}")
        if self.generations < 0 or self.n_samples < 1:
            raise ValueError(
                f"need generations >= 0 and n_samples >= 1, got {self.generations} and "
                f"{self.n_samples}"
            )
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(f"real_fraction must lie in [0, 1], got {self.real_fraction}")
        if self.n_real is not None and self.n_real < 1:
            raise ValueError(f"n_real must be a positive number of points or None: {self.n_real}")

    def pool_size(self, generation: int, n_real: int) -> tuple[int, int]:
        """``(real, synthetic)`` points in generation ``generation``'s training pool."""
        if generation == 0:
            return n_real, 0
        if self.mode == "replace":
            return 0, self.n_samples
        if self.mode == "accumulate":
            return n_real, generation * self.n_samples
        fresh = round(self.real_fraction * self.n_samples)
        return fresh, self.n_samples - fresh

    def generation_seed(self, generation: int, purpose: str) -> int:
        """A seed for one generation and one purpose (``"init"``, ``"fit"``, ``"sample"``, ...)."""
        tag = int.from_bytes(purpose.encode()[:8].ljust(8, b"\0"), "little")
        return int(np.random.SeedSequence([self.seed, generation, tag]).generate_state(1)[0])


def training_pool(
    recursion: Recursion,
    generation: int,
    real: torch.Tensor,
    samples: Sequence[torch.Tensor],
) -> torch.Tensor:
    """The points generation ``generation`` trains on.

    Args:
        recursion: the options.
        generation: ``g >= 0``.
        real: all real training points, shape ``(N_real_all, ...)``.
        samples: samples drawn by generations ``0 .. g − 1`` in order, each ``(n_samples, ...)``
            (only the last is needed for ``"replace"`` and ``"mixed"``).

    Returns:
        The pool, shape ``(M, ...)`` with ``M`` as in :meth:`Recursion.pool_size`; real points
        first.
    """
    base = _real_subset(recursion, real)
    if generation == 0:
        return base
    if len(samples) < generation and recursion.mode == "accumulate":
        raise ValueError(f"accumulate needs the samples of all {generation} earlier generations")
    if not samples:
        raise ValueError("generation > 0 needs the previous generation's samples")
    if recursion.mode == "replace":
        return samples[-1][: recursion.n_samples]
    if recursion.mode == "accumulate":
        return torch.cat([base, *samples[:generation]])
    n_fresh, n_syn = recursion.pool_size(generation, len(base))
    source = base if recursion.mode == "mixed" else real
    if n_fresh > len(source):
        raise ValueError(
            f"mixed mode needs {n_fresh} real points per generation but generation 0 has "
            f"{len(source)}; lower real_fraction or n_samples, or raise n_real"
        )
    gen = torch.Generator().manual_seed(recursion.generation_seed(generation, "real"))
    fresh = source[torch.randperm(len(source), generator=gen)[:n_fresh]]
    return torch.cat([fresh, samples[-1][:n_syn]])


def _real_subset(recursion: Recursion, real: torch.Tensor) -> torch.Tensor:
    n = len(real) if recursion.n_real is None else recursion.n_real
    if n > len(real):
        raise ValueError(f"n_real={n} exceeds the {len(real)} real points given")
    gen = torch.Generator().manual_seed(recursion.generation_seed(0, "real"))
    return real[torch.randperm(len(real), generator=gen)[:n]]


class Learner(Protocol):
    """A generative model the recursion can drive (one object per generation)."""

    def fit(self, data: torch.Tensor, *, seed: int, checkpoint_dir: Path | None) -> None:
        """Train on ``data`` (shape ``(M, ...)``; with ``fresh_samples`` a stream
        ``draw(n, seed)``); resume from ``checkpoint_dir`` if given."""

    def sample(self, n: int, *, seed: int) -> torch.Tensor:
        """Draw ``n`` samples shaped like the real data."""

    def evaluate(
        self, real_test: torch.Tensor, samples: torch.Tensor, reference: Learner | None
    ) -> dict[str, Any]:
        """Scores on held-out real data and on the samples (JSON-ready), and criticality.

        ``reference`` is generation 0's learner (``None`` while evaluating generation 0).
        """

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> Any: ...


@dataclasses.dataclass(frozen=True)
class GenerationRecord:
    """What one generation was trained on and how it scored.

    Attributes:
        generation: ``g``.
        n_real: real points in its pool.
        n_synthetic: synthetic points in its pool.
        scores: the learner's :meth:`Learner.evaluate` output.
        seconds: wall time of the generation (fit, sample, evaluate).
    """

    generation: int
    n_real: int
    n_synthetic: int
    scores: dict[str, Any]
    seconds: float


MakeLearner = Callable[[int, int], Learner]
"""``make(generation, init_seed) -> learner`` with freshly initialised weights."""


def run_generations(
    make: MakeLearner,
    real_train: torch.Tensor,
    real_test: torch.Tensor,
    recursion: Recursion,
    *,
    out_dir: str | Path | None = None,
    progress: bool | None = None,
    on_generation: Callable[[GenerationRecord], None] | None = None,
) -> list[GenerationRecord]:
    """Train ``recursion.generations + 1`` generations, each on its predecessor's samples.

    Args:
        make: builds a freshly initialised learner for a generation.
        real_train: real training points, shape ``(N, ...)``.
        real_test: held-out real points for the scores, shape ``(N_test, ...)``.
        recursion: the data mode and sizes.
        out_dir: keep ``gen_XXX/{model.pt, samples.pt, record.json}`` here and resume after the
            last finished generation (and mid-generation from the learner's checkpoints in
            ``gen_XXX/checkpoint/``, removed when the generation is done). Samples no later
            generation needs (``replace``, ``mixed``) are removed too.
        progress: a progress bar over generations (default: only on a terminal).
        on_generation: called with each new record (e.g. to write results as they come).

    Returns:
        One :class:`GenerationRecord` per generation.
    """
    from tqdm.auto import tqdm

    root = Path(out_dir) if out_dir is not None else None
    records: list[GenerationRecord] = []
    samples: list[torch.Tensor] = []
    reference: Learner | None = None
    previous: Learner | None = None
    show = sys.stderr.isatty() if progress is None else progress
    for g in tqdm(range(recursion.generations + 1), desc="generations", disable=not show):
        gdir = root / f"gen_{g:03d}" if root is not None else None
        learner, done = _resume_generation(gdir, make, g, recursion.generation_seed(g, "init"))
        if done is not None:
            record, new_samples = done
        else:
            began = time.perf_counter()
            if recursion.warm_start and previous is not None:
                learner.load_state_dict(previous.state_dict())
            if g > 0 and previous is not None and samples and samples[-1].numel() == 0:
                # The previous generation was loaded without its samples (removed once a later
                # generation had used them): draw them again, with the same seed.
                samples[-1] = previous.sample(
                    recursion.n_samples, seed=recursion.generation_seed(g - 1, "sample")
                )
            pool: Any = training_pool(recursion, g, real_train, samples)
            if recursion.fresh_samples and previous is not None:
                pool = _stream(previous)
            ckpt = gdir / "checkpoint" if gdir is not None else None
            learner.fit(pool, seed=recursion.generation_seed(g, "fit"), checkpoint_dir=ckpt)
            new_samples = learner.sample(
                recursion.n_samples, seed=recursion.generation_seed(g, "sample")
            )
            scores = learner.evaluate(real_test, new_samples, reference)
            n_real, n_syn = recursion.pool_size(g, len(_real_subset(recursion, real_train)))
            record = GenerationRecord(g, n_real, n_syn, scores, time.perf_counter() - began)
            _save_generation(gdir, learner, new_samples, record)
            log.info("generation %d: %s", g, _short(scores))
            if gdir is not None:
                shutil.rmtree(gdir / "checkpoint", ignore_errors=True)
                if recursion.mode != "accumulate" and g > 0:  # never needed again
                    (gdir.parent / f"gen_{g - 1:03d}" / "samples.pt").unlink(missing_ok=True)
        records.append(record)
        if on_generation is not None:
            on_generation(record)
        samples = [*samples, new_samples] if recursion.mode == "accumulate" else [new_samples]
        previous = learner
        if g == 0:
            reference = learner
    return records


def _stream(learner: Learner) -> Callable[[int, int], torch.Tensor]:
    def draw(n: int, seed: int) -> torch.Tensor:
        return learner.sample(n, seed=seed)

    return draw


class DamagedGenerationError(ValueError):
    """A finished generation's file that does not load as the recursion wrote it."""


def _save_generation(
    gdir: Path | None, learner: Learner, samples: torch.Tensor, record: GenerationRecord
) -> None:
    if gdir is None:
        return
    gdir.mkdir(parents=True, exist_ok=True)
    save_tensors(gdir / "model.pt", learner.state_dict())
    save_tensors(gdir / "samples.pt", samples)
    tmp = gdir / "record.json.tmp"
    tmp.write_text(json.dumps(dataclasses.asdict(record)))
    tmp.replace(gdir / "record.json")  # written last: its presence marks the generation done


def _resume_generation(
    gdir: Path | None, make: MakeLearner, generation: int, init_seed: int
) -> tuple[Learner, tuple[GenerationRecord, torch.Tensor] | None]:
    """A generation's learner and, if it finished, its record and samples (else ``None``).

    A generation whose files do not load (cut, random bytes, a pickle that would run code) is
    damaged: a warning names the file, the generation's folder and every later one are moved
    aside (``gen_XXX.damaged-N``, never deleted), and the recursion computes them again from
    there; earlier generations and other units are kept.
    """
    learner = make(generation, init_seed)
    try:
        return learner, _load_generation(gdir, learner, generation)
    except DamagedGenerationError as err:
        assert gdir is not None
        moved = [set_aside(d, "damaged") for d in _this_and_later(gdir)]
        log.warning(
            "%s; recomputing generation %d onward (set aside: %s)",
            err,
            generation,
            ", ".join(str(m) for m in moved),
        )
        # A fresh learner: the damaged files may have been half applied to this one.
        return make(generation, init_seed), None


def _this_and_later(gdir: Path) -> list[Path]:
    first = int(gdir.name.removeprefix("gen_"))
    later = [
        d
        for d in gdir.parent.glob("gen_*")
        if d.is_dir() and d.name[4:].isdigit() and int(d.name[4:]) >= first
    ]
    return sorted(later)


def _load_generation(
    gdir: Path | None, learner: Learner, generation: int
) -> tuple[GenerationRecord, torch.Tensor] | None:
    if gdir is None or not (gdir / "record.json").exists():
        return None
    record = _load_record(gdir / "record.json", generation)
    state = _load_tensors(gdir / "model.pt")
    if not isinstance(state, Mapping):
        raise DamagedGenerationError(f"{gdir / 'model.pt'} holds no model state")
    # Samples of a generation that a later one has replaced may have been removed: an empty
    # tensor stands for them (the recursion draws them again if it needs them).
    path = gdir / "samples.pt"
    samples = _load_tensors(path) if path.exists() else torch.empty(0)
    if not isinstance(samples, torch.Tensor):
        raise DamagedGenerationError(f"{path} holds no tensor of samples")
    try:
        learner.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise DamagedGenerationError(
            f"{gdir / 'model.pt'} does not fit the model ({type(err).__name__}: {err})"
        ) from None
    log.info("generation %d: loaded from %s", record.generation, gdir)
    return record, samples


def _load_tensors(path: Path) -> Any:
    """Tensors of a file the recursion wrote; never unpickles code (:mod:`criticality._files`)."""
    try:
        return load_tensors(path)
    except FileNotFoundError:
        raise DamagedGenerationError(f"{path} is missing") from None
    except DamagedFileError as err:
        raise DamagedGenerationError(str(err)) from None


def _load_record(path: Path, generation: int) -> GenerationRecord:
    try:
        record = GenerationRecord(**read_json(path))
    except DamagedFileError as err:
        raise DamagedGenerationError(str(err)) from None
    except (TypeError, OSError) as err:
        raise DamagedGenerationError(f"{path} is damaged ({type(err).__name__}: {err})") from None
    if record.generation != generation or not isinstance(record.scores, dict):
        raise DamagedGenerationError(f"{path} does not hold generation {generation}'s record")
    return record


def _short(scores: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in scores.items() if isinstance(v, (int, float)))
