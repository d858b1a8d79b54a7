"""``criticality lm PATH``: how critical is a language model saved in a local folder?"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

NAME = "lm"
HELP = "measure a transformers language model (GPT-2, BERT, Llama) from a local checkpoint folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a folder written by save_pretrained()")
    parser.add_argument(
        "--text",
        type=Path,
        help="probe text (needs the folder's tokenizer); default: random token ids",
    )
    parser.add_argument("--n-probes", type=int, default=8, help="probe sequences")
    parser.add_argument("--length", type=int, default=64, help="tokens per probe sequence")
    parser.add_argument("--measures", nargs="+", default=["lyapunov", "ftle", "branching"])
    parser.add_argument("--k", type=int, default=4, help="Lyapunov exponents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write results.json and report.html here")


def probe_ids(args: argparse.Namespace, vocab: int) -> Any:
    """``(n_probes, length)`` token ids: consecutive windows of the text, or random ids."""
    import torch

    if args.text is None:
        gen = torch.Generator().manual_seed(args.seed)
        return torch.randint(0, vocab, (args.n_probes, args.length), generator=gen)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.path, local_files_only=True)
    ids = torch.tensor(tokenizer(args.text.read_text())["input_ids"])
    n = min(args.n_probes, len(ids) // args.length)
    if n == 0:
        raise ValueError(f"{args.text} has {len(ids)} tokens, fewer than --length {args.length}")
    return ids[: n * args.length].reshape(n, args.length)


def run(args: argparse.Namespace) -> int:
    import transformers

    from criticality.integrations.hf import measure_language_model

    model = None
    for auto in ("AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoModel"):
        try:
            model = getattr(transformers, auto).from_pretrained(args.path, local_files_only=True)
            break
        except ValueError:  # this folder's model type has no such head
            continue
    if model is None:
        raise ValueError(f"{args.path} holds no model that transformers can load")
    ids = probe_ids(args, model.config.vocab_size)
    options: dict[str, Any] = {"lyapunov": {"k": args.k}} if "lyapunov" in args.measures else {}
    report = measure_language_model(
        model.eval(),
        ids,
        measures=args.measures,
        seed=args.seed,
        name=args.path.name,
        progress=True,
        **options,
    )
    print(report.interpretation())
    if args.out is not None:
        from criticality.experiments import render
        from criticality.reporting import write_results

        config = {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if not k.startswith("_")
        }
        data = {"report": report.to_dict(), "command": f"criticality lm {args.path}"}
        write_results(args.out, "measure", config, data, seed=args.seed)
        print(f"report: {render(args.out)}")
    return 0
