"""The most characters of text one token can stand for: a text of n characters is at least n / K
tokens, so a prompt can be proved too long for a context window from its length alone, without
tokenizing it (which takes seconds and memory for megabytes of text).

A BPE token is a piece of the text as the model sees it (after normalizing and pre-tokenizing),
spelled in the vocabulary: K, the longest spelling there (added tokens included), bounds what one
token covers. Spellings can only be longer than what they cover: a byte-level token spells each byte
of its text as one character and a character is one to four bytes; `<0x41>` covers one byte. The
bound holds only when no step shrinks the text before the model sees it and no token stands for an
unbounded run of it, so `max_token_span` answers None (no cheap bound) unless:

- the model is BPE and a character it has no token for never becomes a fused `<unk>` (one for a
  whole run): it has all 256 byte tokens (byte fallback) or the byte-level alphabet, or an unfused
  unknown token;
- every normalizer only adds or maps characters (NFC/NFKC compose several into one, Strip and
  StripAccents delete some);
- no pre-tokenizer drops characters (Whitespace and BERT's drop spaces, a "Removed" split its
  matches);
- no added token swallows the whitespace beside it (`lstrip`/`rstrip`).
"""

from __future__ import annotations

import json
from typing import Any

_GROWING_NORMALIZERS = {"NFD", "NFKD", "Lowercase", "Prepend", "ByteLevel"}
_KEEPING_PRE_TOKENIZERS = {"ByteLevel", "Metaspace", "Digits", "UnicodeScripts"}


def max_token_span(tokenizer: Any) -> int | None:
    """K for a transformers tokenizer, or None when it gives no sound bound (see the module)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)  # only fast tokenizers have one
    if backend is None:
        return None
    spec = json.loads(backend.to_str())
    vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
    model = spec.get("model") or {}
    if (
        model.get("type") != "BPE"
        or not _keeps_unknowns(model, spec.get("pre_tokenizer"), vocab)
        or not _grows(spec.get("normalizer"))
        or not _keeps(spec.get("pre_tokenizer"))
        or any(t.get("lstrip") or t.get("rstrip") for t in spec.get("added_tokens") or [])
    ):
        return None
    return max(1, max(map(len, vocab), default=1))


def _keeps_unknowns(model: dict[str, Any], pre: dict[str, Any] | None, vocab: dict[str, int]) -> bool:
    if model.get("byte_fallback") and all(f"<0x{b:02X}>" in vocab for b in range(256)):
        return True
    if _has(pre, "ByteLevel"):
        from tokenizers.pre_tokenizers import ByteLevel

        if all(c in vocab for c in ByteLevel.alphabet()):
            return True
    # Without a token for it, an unknown character is dropped (no unk token) or, fused, one
    # `<unk>` stands for a whole run of them.
    return model.get("unk_token") is not None and not model.get("fuse_unk")


def _grows(norm: dict[str, Any] | None) -> bool:
    if norm is None:
        return True
    kind = norm.get("type")
    if kind == "Sequence":
        return all(_grows(n) for n in norm.get("normalizers") or [])
    if kind == "Replace":
        pattern = (norm.get("pattern") or {}).get("String")
        return isinstance(pattern, str) and len(norm.get("content") or "") >= len(pattern)
    return kind in _GROWING_NORMALIZERS


def _keeps(pre: dict[str, Any] | None) -> bool:
    if pre is None:
        return True
    kind = pre.get("type")
    if kind == "Sequence":
        return all(_keeps(p) for p in pre.get("pretokenizers") or [])
    if kind in ("Split", "Punctuation"):
        return pre.get("behavior") != "Removed"
    return kind in _KEEPING_PRE_TOKENIZERS


def _has(pre: dict[str, Any] | None, kind: str) -> bool:
    if pre is None:
        return False
    if pre.get("type") == "Sequence":
        return any(_has(p, kind) for p in pre.get("pretokenizers") or [])
    return pre.get("type") == kind
