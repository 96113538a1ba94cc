"""The one-to-one mapping between our `Decoder` and transformers' `LlamaForCausalLM`.

Our module names are Llama's, so a weight's Hugging Face name is ours under `model.`, except the
output head, which sits at the top as `lm_head.weight` and is left out when tied (as
`save_pretrained` leaves it out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from multimodel.inhouse.model import Decoder, DecoderConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def hf_config(
    cfg: DecoderConfig,
    *,
    bos_token_id: int | None,
    eos_token_id: int,
    pad_token_id: int | None,
    dtype: str = "float32",
) -> dict[str, Any]:
    """`config.json` for `cfg`, readable by transformers 4.x and 5.x, vLLM and llama.cpp's converter."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.ffn_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        # transformers 4.x, vLLM and llama.cpp read `rope_theta`; transformers 5 reads `rope_parameters`.
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_scaling": None,
        "tie_word_embeddings": cfg.tie_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "use_cache": True,
        # transformers < 4.56 reads `torch_dtype`, later versions `dtype`.
        "torch_dtype": dtype,
        "dtype": dtype,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
    }


def to_hf_state_dict(model: Decoder) -> dict[str, torch.Tensor]:
    """Our weights under LlamaForCausalLM's names (no `lm_head.weight` when tied). Shares storage
    with the model: clone before changing them."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            if not model.cfg.tie_embeddings:
                out[name] = tensor
        else:
            out["model." + name] = tensor
    return out


def decoder_config(config: dict[str, Any], max_seq_len: int | None = None) -> DecoderConfig:
    """Our config for a Hugging Face `config.json`; ValueError for anything we would not reproduce."""
    archs = config.get("architectures") or []
    if config.get("model_type") != "llama" or (archs and "LlamaForCausalLM" not in archs):
        raise ValueError(
            f"not a Llama checkpoint (model_type {config.get('model_type')!r}, architectures {archs}); "
            "only LlamaForCausalLM weights map onto our decoder"
        )
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"unsupported hidden_act {config['hidden_act']!r}; our decoder uses silu")
    if config.get("attention_bias") or config.get("mlp_bias"):
        raise ValueError("checkpoint has attention or MLP biases; our decoder has none")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"unsupported RoPE scaling {rope_type!r}; our decoder implements plain RoPE")
    dim, n_heads = config["hidden_size"], config["num_attention_heads"]
    if config.get("head_dim") not in (None, dim // n_heads):
        raise ValueError(
            f"head_dim {config['head_dim']} != hidden_size / num_attention_heads ({dim // n_heads})"
        )
    return DecoderConfig(
        vocab_size=config["vocab_size"],
        dim=dim,
        n_layers=config["num_hidden_layers"],
        n_heads=n_heads,
        n_kv_heads=config.get("num_key_value_heads") or n_heads,
        ffn_dim=config["intermediate_size"],
        max_seq_len=max_seq_len or config["max_position_embeddings"],
        rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
        norm_eps=config.get("rms_norm_eps", 1e-6),
        tie_embeddings=config.get("tie_word_embeddings", False),
    )


def load_safetensors(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of `model.safetensors`, or of the shards a `model.safetensors.index.json` names."""
    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.exists():
        return load_file(single)
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in load_file(directory / shard).items()}
    raise FileNotFoundError(f"no model.safetensors or model.safetensors.index.json in {directory}")


def from_hf(directory: Path, *, max_seq_len: int | None = None) -> Decoder:
    """A float32 Decoder holding a Llama-architecture checkpoint's weights (for `--init DIR`).

    `max_seq_len` defaults to the checkpoint's max_position_embeddings; a shorter one only trims the
    RoPE tables.
    """
    directory = Path(directory)
    cfg = decoder_config(json.loads((directory / "config.json").read_text()), max_seq_len)
    tensors = load_safetensors(directory)
    state = {k.removeprefix("model."): v for k, v in tensors.items() if not k.startswith("lm_head.")}
    if cfg.tie_embeddings and "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    elif "lm_head.weight" in tensors:
        state["lm_head.weight"] = tensors["lm_head.weight"]
    # Built on the meta device: no time spent on random weights that are overwritten at once.
    with torch.device("meta"):
        model = Decoder(cfg)
    model.materialize("cpu")
    model.load_state_dict(state, strict=True)  # copies into float32, whatever the file's dtype
    return model
