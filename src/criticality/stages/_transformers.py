"""Stage adapters for transformer language models of Hugging Face ``transformers``.

Depth is time for a language model too: the state is the hidden states ``h`` of shape
``(B, T, D)``, and the stages are

* ``"embed"``: token ids ``(B, T)`` to the first hidden states (token and position embeddings,
  and what the family adds: BERT's token types and LayerNorm; dropout is off in ``eval()``);
* one stage per transformer block, named by its module path (``"transformer.h.3"``,
  ``"bert.encoder.layer.3"``, ``"model.layers.3"``);
* ``"head"``: the final norm and the language-model head (logits ``(B, T, V)``) where the
  model has them; a bare ``GPT2Model``/``LlamaModel`` ends with its final norm, a bare
  ``BertModel`` with its last block (its output is the last hidden state).

Each block gets the attention mask the model itself would build (causal for GPT-2 and Llama,
bidirectional for BERT; padding from ``attention_mask``), made by ``transformers``' own mask
functions for the model's attention implementation, and Llama's rotary position embeddings;
so composing the stages equals the model's output bit for bit. Measures perturb float
states: measure from the embedding output on with ``measure(model, ids, start_after="embed")``.

Stages bound to an ``attention_mask`` of ``B`` rows take states of ``B`` rows (or of any
batch when all rows of the mask are equal): a measure that regroups the probe batch raises a
``ValueError`` saying so. :func:`criticality.integrations.hf.unpadded` cuts padded probes to
their common length, after which no mask is needed.

``transformers`` is imported only when a model of these families is split.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from criticality.stages._core import Fn, Stage, register_adapter

_GPT2 = "transformers.models.gpt2.modeling_gpt2."
_BERT = "transformers.models.bert.modeling_bert."
_LLAMA = "transformers.models.llama.modeling_llama."


class _Attention:
    """What every block of one model needs besides the state: the mask (and positions).

    Built once per stage list; the mask for a state of a given batch, length, dtype and device
    is made on first use and reused by every block.
    """

    def __init__(self, config: Any, attention_mask: torch.Tensor | None, *, causal: bool) -> None:
        if attention_mask is not None and attention_mask.ndim != 2:
            raise ValueError(
                f"attention_mask must have shape (B, T) (1 = token, 0 = padding), "
                f"got {tuple(attention_mask.shape)}"
            )
        self.config, self.attention_mask, self.causal = config, attention_mask, causal
        self._cache: dict[tuple[Any, ...], Any] = {}

    def positions(self, h: torch.Tensor) -> torch.Tensor:
        """Position ids ``(1, T)`` as the model makes them without a cache."""
        return torch.arange(h.shape[1], device=h.device).unsqueeze(0)

    def _padding(self, batch: int) -> torch.Tensor | None:
        mask = self.attention_mask
        if mask is None or mask.shape[0] == batch:
            return mask
        if bool((mask == mask[:1]).all()):
            return mask[:1].expand(batch, -1)
        raise ValueError(
            f"these stages are bound to an attention mask of {mask.shape[0]} rows, but a state "
            f"of {batch} rows came in (a measure split or regrouped the probe batch); cut padded "
            "probes to their common length with criticality.integrations.hf.unpadded and "
            "measure without a mask"
        )

    def mask(self, h: torch.Tensor) -> Any:
        """The mask the model's blocks get for a state shaped like ``h`` ``(B, T, D)``."""
        key = (tuple(h.shape), h.dtype, h.device)
        if key not in self._cache:
            from transformers import masking_utils

            # Only the shape, dtype and device of ``inputs_embeds`` are read: a plain tensor
            # keeps autograd transforms (JVP, vmap) out of the mask.
            like = torch.empty(h.shape, dtype=h.dtype, device=h.device)
            padding = self._padding(h.shape[0])
            if self.causal:
                self._cache[key] = masking_utils.create_causal_mask(
                    config=self.config, inputs_embeds=like, attention_mask=padding,
                    past_key_values=None, position_ids=self.positions(h),
                )  # fmt: skip
            else:
                self._cache[key] = masking_utils.create_bidirectional_mask(
                    config=self.config, inputs_embeds=like, attention_mask=padding
                )
        return self._cache[key]


def _stage(name: str, fn: Callable[..., torch.Tensor], **modules: nn.Module) -> Stage:
    return Stage(name, Fn(fn, **modules))


def _prefix(model: nn.Module, inner: str) -> tuple[Any, str]:
    """The model's base transformer and the module path prefix of its blocks."""
    base = getattr(model, inner, None)
    return (base, f"{inner}.") if isinstance(base, nn.Module) else (model, "")


# ---- GPT-2 ------------------------------------------------------------------------------------


def _gpt2_embed(ids: torch.Tensor, wte: nn.Module, wpe: nn.Module, drop: nn.Module) -> torch.Tensor:
    positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)  # (1, T)
    return drop(wte(ids) + wpe(positions))  # (B, T, D)


def _gpt2_block(h: torch.Tensor, block: nn.Module, *, att: _Attention) -> torch.Tensor:
    out: torch.Tensor = block(h, None, att.mask(h), None, encoder_attention_mask=None,
                              use_cache=False, position_ids=att.positions(h))  # fmt: skip
    return out


def _gpt2(model: Any, attention_mask: torch.Tensor | None) -> list[Stage]:
    base, prefix = _prefix(model, "transformer")
    att = _Attention(base.config, attention_mask, causal=True)
    out = [_stage("embed", _gpt2_embed, wte=base.wte, wpe=base.wpe, drop=base.drop)]
    out += [
        _stage(f"{prefix}h.{i}", functools.partial(_gpt2_block, att=att), block=block)
        for i, block in enumerate(base.h)
    ]
    head = getattr(model, "lm_head", None) if base is not model else None
    return [*out, _head(base.ln_f, head)]


def _head(norm: nn.Module, head: nn.Module | None) -> Stage:
    if head is None:
        return Stage("head", norm)
    return Stage("head", nn.Sequential(norm, head))


# ---- BERT -------------------------------------------------------------------------------------


def _bert_embed(ids: torch.Tensor, embeddings: nn.Module) -> torch.Tensor:
    out: torch.Tensor = embeddings(input_ids=ids, position_ids=None, token_type_ids=None,
                                   inputs_embeds=None, past_key_values_length=0)  # fmt: skip
    return out


def _bert_layer(h: torch.Tensor, layer: nn.Module, *, att: _Attention) -> torch.Tensor:
    out: torch.Tensor = layer(h, att.mask(h), None, encoder_attention_mask=None,
                              past_key_values=None, position_ids=None)  # fmt: skip
    return out


def _bert_classify(h: torch.Tensor, pooler: nn.Module, dropout: nn.Module,
                   classifier: nn.Module) -> torch.Tensor:  # fmt: skip
    out: torch.Tensor = classifier(dropout(pooler(h)))  # (B, C)
    return out


def _bert(model: Any, attention_mask: torch.Tensor | None) -> list[Stage]:
    base, prefix = _prefix(model, "bert")
    att = _Attention(base.config, attention_mask, causal=bool(base.config.is_decoder))
    out = [_stage("embed", _bert_embed, embeddings=base.embeddings)]
    out += [
        _stage(f"{prefix}encoder.layer.{i}", functools.partial(_bert_layer, att=att), layer=layer)
        for i, layer in enumerate(base.encoder.layer)
    ]
    if isinstance(getattr(model, "cls", None), nn.Module):  # masked / causal LM heads
        out.append(Stage("head", model.cls))
    elif isinstance(getattr(model, "classifier", None), nn.Module):  # sequence classification
        out.append(_stage("head", _bert_classify, pooler=base.pooler, dropout=model.dropout,
                          classifier=model.classifier))  # fmt: skip
    return out


# ---- Llama ------------------------------------------------------------------------------------


def _llama_layer(
    h: torch.Tensor, layer: nn.Module, rotary: nn.Module, *, att: _Attention
) -> torch.Tensor:
    positions = att.positions(h)
    like = torch.empty(0, dtype=h.dtype, device=h.device)  # rotary reads only dtype and device
    out: torch.Tensor = layer(h, attention_mask=att.mask(h), position_ids=positions,
                              past_key_values=None, use_cache=False,
                              position_embeddings=rotary(like, position_ids=positions))  # fmt: skip
    return out


def _llama(model: Any, attention_mask: torch.Tensor | None) -> list[Stage]:
    base, prefix = _prefix(model, "model")
    att = _Attention(base.config, attention_mask, causal=True)
    layer_fn = functools.partial(_llama_layer, att=att)
    out = [Stage("embed", base.embed_tokens)]
    out += [
        _stage(f"{prefix}layers.{i}", layer_fn, layer=layer, rotary=base.rotary_emb)
        for i, layer in enumerate(base.layers[: base.config.num_hidden_layers])
    ]
    head = getattr(model, "lm_head", None) if base is not model else None
    return [*out, _head(base.norm, head)]


# ---- registration -----------------------------------------------------------------------------

_FAMILIES: dict[str, Callable[[Any, torch.Tensor | None], list[Stage]]] = {
    _GPT2 + "GPT2Model": _gpt2,
    _GPT2 + "GPT2LMHeadModel": _gpt2,
    _BERT + "BertModel": _bert,
    _BERT + "BertForMaskedLM": _bert,
    _BERT + "BertLMHeadModel": _bert,
    _BERT + "BertForSequenceClassification": _bert,
    _LLAMA + "LlamaModel": _llama,
    _LLAMA + "LlamaForCausalLM": _llama,
}


def _unmasked(family: Callable[[Any, torch.Tensor | None], list[Stage]]) -> Any:
    return lambda model: family(model, None)


for _name, _family in _FAMILIES.items():
    register_adapter(_name)(_unmasked(_family))


def language_model_stages(
    model: nn.Module, attention_mask: torch.Tensor | None = None
) -> list[Stage]:
    """The stages of a ``transformers`` language model, bound to an attention mask.

    ``criticality.stages(model)`` gives the same stages without a padding mask (every token
    attends to all, or for decoders to all earlier, tokens).

    Args:
        model: a GPT-2, BERT or Llama model of ``transformers`` (bare or with its head).
        attention_mask: ``(B, T)``, 1 for tokens and 0 for padding, as the model takes it.

    Returns:
        ``[embed, blocks..., head]``; composing them on token ids ``(B, T)`` gives the model's
        logits (or last hidden state) for ``model(ids, attention_mask=attention_mask)``.

    Raises:
        TypeError: ``model`` is of no family listed here.
    """
    for cls in type(model).__mro__:
        family = _FAMILIES.get(f"{cls.__module__}.{cls.__qualname__}")
        if family is not None:
            return family(model, attention_mask)
    known = ", ".join(sorted(name.rsplit(".", 1)[1] for name in _FAMILIES))
    raise TypeError(f"{type(model).__name__} is no supported language model; supported: {known}")
