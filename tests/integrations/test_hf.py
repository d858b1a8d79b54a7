"""The transformers Trainer callback and language-model helpers, with the real packages."""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

import criticality as cr

V, T = 61, 8


def tiny_gpt2(tf: ModuleType) -> Any:
    config = tf.GPT2Config(
        n_layer=2,
        n_embd=16,
        n_head=2,
        n_positions=16,
        vocab_size=V,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    return tf.GPT2LMHeadModel(config)


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.ids = torch.randint(1, V, (n, T), generator=torch.Generator().manual_seed(5))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


PROBE = torch.randint(1, V, (4, T), generator=torch.Generator().manual_seed(9))


def test_trainer_callback_logs_measure_at_logging_steps(
    transformers: ModuleType, tmp_path: Path
) -> None:
    from criticality.integrations.hf import CriticalityTrainerCallback

    model = tiny_gpt2(transformers)
    snaps: dict[int, dict[str, torch.Tensor]] = {}

    class Keep(transformers.TrainerCallback):
        def on_step_end(
            self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any
        ) -> None:
            snaps[state.global_step] = copy.deepcopy(model.state_dict())

    cb = CriticalityTrainerCallback(PROBE)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        logging_steps=2,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=Tokens(16), callbacks=[Keep(), cb]
    )
    trainer.train()
    history = [h for h in trainer.state.log_history if "criticality/lambda_1" in h]
    assert [h["step"] for h in history] == [2, 4]
    assert all("loss" in h for h in history)  # merged into the Trainer's own entry
    for entry in history:
        twin = tiny_gpt2(transformers)
        twin.load_state_dict(snaps[entry["step"]])
        report = cr.measure(twin, PROBE, start_after="embed", measures=["lyapunov", "branching"])
        assert entry["criticality/lambda_1"] == report.lambda_max
        assert entry["criticality/sigma"] == report.results["branching"].sigma.mean
        assert entry["criticality/ln_g/transformer.h.0"] == report.lyapunov.stage_log_gain[0].mean
    assert history[0]["criticality/lambda_1"] != history[1]["criticality/lambda_1"]


def test_unpadded_cuts_to_the_common_span() -> None:
    from criticality.integrations.hf import unpadded

    ids = torch.arange(12).reshape(3, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [0, 1, 1, 1]])
    assert unpadded(ids, mask).tolist() == [[0, 1, 2], [4, 5, 6], [9, 10, 11]]
    assert unpadded(ids, None) is ids
    with pytest.raises(ValueError, match="one side"):
        unpadded(ids, torch.tensor([[1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]]))


def test_measure_language_model_on_padded_probes(transformers: ModuleType) -> None:
    from criticality.integrations.hf import measure_language_model

    model = tiny_gpt2(transformers)
    mask = torch.ones_like(PROBE)
    mask[0, -2:] = 0  # right padding: the causal model's first 6 tokens are unaffected
    report = measure_language_model(model, PROBE, mask)
    assert report.model == "gpt2" and report.metadata["input_shape"] == [6, 16]
    assert report.lambda_max == cr.measure(model, PROBE[:, :6], start_after="embed").lambda_max
