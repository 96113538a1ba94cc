"""Export a trained Decoder as a Hugging Face Llama directory: transformers, vLLM and llama.cpp's
`convert_hf_to_gguf.py` load it, and the gateway's in-house provider serves it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from multimodel.inhouse.hf import DTYPES, hf_config, to_hf_state_dict
from multimodel.inhouse.model import Decoder
from multimodel.inhouse.tokenizer import sentencepiece_model

FORMAT_VERSION = 1
OPTIONAL_TOKENIZER_FILES = ("special_tokens_map.json", "chat_template.jinja", "tokenizer.model")


def export(
    model: Decoder, tokenizer_dir: Path, out_dir: Path, *, meta: dict[str, Any], dtype: str = "float32"
) -> Path:
    """Write config.json, generation_config.json, model.safetensors, the tokenizer and meta.json.

    A byte-fallback BPE tokenizer (`train_bpe`) also gets a SentencePiece tokenizer.model: llama.cpp's
    converter takes the merge priorities from it (see `tokenizer.sentencepiece_model`).

    The model's (padded) vocabulary may be larger than the tokenizer's; the extra rows are never
    produced by the tokenizer. Returns `out_dir`.
    """
    from tokenizers import Tokenizer

    cfg = model.cfg
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    if cfg.head_dim not in (64, 128):
        raise ValueError(f"head_dim {cfg.head_dim} is not 64 or 128, which vLLM and llama.cpp need")
    if cfg.vocab_size % 128:
        raise ValueError(f"vocab_size {cfg.vocab_size} is not a multiple of 128; pad it with pad_vocab")
    tokenizer_dir, out_dir = Path(tokenizer_dir), Path(out_dir)
    for required in ("tokenizer.json", "tokenizer_config.json"):
        if not (tokenizer_dir / required).exists():
            raise FileNotFoundError(f"no {required} in tokenizer directory {tokenizer_dir}")

    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    n_tokens = max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1
    if n_tokens > cfg.vocab_size:
        raise ValueError(
            f"the tokenizer has {n_tokens} tokens but the model only {cfg.vocab_size} embeddings"
        )
    tok_config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())

    def token_id(role: str) -> int | None:
        token = tok_config.get(role)
        content = token.get("content") if isinstance(token, dict) else token
        if content is None:
            return None
        tid = tokenizer.token_to_id(content)
        if tid is None:
            raise ValueError(f"{role} {content!r} is not in the tokenizer's vocabulary")
        return int(tid)

    bos, eos, pad = token_id("bos_token"), token_id("eos_token"), token_id("pad_token")
    if eos is None:
        raise ValueError("the tokenizer has no eos_token; generation would never stop")

    out_dir.mkdir(parents=True, exist_ok=True)
    config = hf_config(cfg, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, dtype=dtype)
    write_json(out_dir / "config.json", config)
    generation = {"bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad}
    write_json(out_dir / "generation_config.json", {k: v for k, v in generation.items() if v is not None})
    # Copies, not the model's live tensors: safetensors wants contiguous CPU tensors, and the tied
    # head is already left out, so no two entries share storage.
    tensors = {
        name: t.detach().to("cpu", DTYPES[dtype]).contiguous() for name, t in to_hf_state_dict(model).items()
    }
    # transformers 4.x refuses a safetensors file without format metadata.
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})

    shutil.copyfile(tokenizer_dir / "tokenizer.json", out_dir / "tokenizer.json")
    for name in OPTIONAL_TOKENIZER_FILES:
        if (tokenizer_dir / name).exists():
            shutil.copyfile(tokenizer_dir / name, out_dir / name)
    if not (tokenizer_dir / "tokenizer.model").exists():
        spm = sentencepiece_model(json.loads(tokenizer.to_str()))
        if spm is not None:
            (out_dir / "tokenizer.model").write_bytes(spm)
        else:
            (out_dir / "tokenizer.model").unlink(missing_ok=True)  # from an earlier export there
    write_json(
        out_dir / "tokenizer_config.json",
        portable_tokenizer_config(tok_config, tokenizer_dir, cfg.max_seq_len),
    )

    write_json(
        out_dir / "meta.json",
        {
            **meta,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "parameters": model.num_params(),
            "format_version": FORMAT_VERSION,
        },
    )
    return out_dir


def portable_tokenizer_config(
    tok_config: dict[str, Any], tokenizer_dir: Path, max_seq_len: int
) -> dict[str, Any]:
    """tokenizer_config.json that older transformers (and so vLLM) read too."""
    out = dict(tok_config)
    # transformers 5 saves its fast tokenizers as "TokenizersBackend", a class 4.x does not have;
    # PreTrainedTokenizerFast is the same tokenizer.json-backed class under its 4.x name, which 5.x
    # still maps.
    if out.get("tokenizer_class") in (None, "TokenizersBackend"):
        out["tokenizer_class"] = "PreTrainedTokenizerFast"
    # transformers before 4.43 read the chat template only from here, not from chat_template.jinja.
    template = tokenizer_dir / "chat_template.jinja"
    if "chat_template" not in out and template.exists():
        out["chat_template"] = template.read_text()
    # The tokenizer's default is "unlimited"; the model's context is the real limit.
    out["model_max_length"] = max_seq_len
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
