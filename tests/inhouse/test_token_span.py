"""The token span: a text of n characters is at least n / span tokens, on the tokenizers the gateway
serves; a tokenizer that can squeeze a long text into few tokens gives no span."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from multimodel.config.load import MODELS_DIR
from multimodel.inhouse import tokenizer as tok_mod
from multimodel.inhouse.tiny import make_tokenizer
from multimodel.inhouse.token_span import max_token_span

SERVED: dict[str, Callable[[], Any]] = {
    "house-tiny": lambda: AutoTokenizer.from_pretrained(MODELS_DIR / "house-tiny"),
    "house-mini": lambda: AutoTokenizer.from_pretrained(MODELS_DIR / "house-mini"),
    "byte-level": lambda: make_tokenizer("Hello there, how are you today? " * 20),  # as the tests' models
}


def _hard_texts(tok: Any, seed: int = 0) -> list[str]:
    """Texts made to need few tokens: runs of the longest spellings, specials, spaces, rare
    characters and bytes, joined at random."""
    vocab = tok.get_vocab()
    longest = sorted(vocab, key=len)[-20:]
    pieces = [tok.decode([vocab[t]]) for t in longest] + [t for t in longest if t in tok.all_special_tokens]
    pieces += [" " * 50, "\n\n", "日本語", "🙂", "e\u0301", "<0x41>", "\x00", "ǅ", "ﬁ", "İ"]
    rng = random.Random(seed)
    texts = [p * 40 for p in pieces]
    texts += ["".join(rng.choice(pieces) for _ in range(200)) for _ in range(50)]
    return texts


@pytest.mark.parametrize("name", SERVED)
def test_no_text_is_fewer_tokens_than_its_length_over_the_span(name: str) -> None:
    tok = SERVED[name]()
    span = max_token_span(tok)
    assert span is not None and 1 < span < 40
    for text in _hard_texts(tok):
        for special in (False, True):
            ids = tok(text, add_special_tokens=special)["input_ids"]
            assert len(ids) * span >= len(text), (text[:60], len(ids), span)


def test_char_level_tokenizer_has_a_span(tmp_path: Path) -> None:
    tok = tok_mod.load(tok_mod.char_tokenizer("to be or not to be", tmp_path))
    span = max_token_span(tok)
    assert span == max(len(s) for s in tok_mod.SPECIALS)
    text = "unseen: €€€ 日本 " * 100  # characters it has no token for are one <unk> each
    assert len(tok(text, add_special_tokens=False)["input_ids"]) * span >= len(text)


def _wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="?")


def _bpe(chars: str, **kw: Any) -> Tokenizer:
    vocab = {c: i for i, c in enumerate(["?", *chars])}
    return Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="?", **kw))


def _fused_unk() -> Tokenizer:
    return _bpe("ab", fuse_unk=True)


def _whitespace() -> Tokenizer:
    tok = _bpe("ab")
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def _strip() -> Tokenizer:
    tok = _bpe("ab ")
    tok.normalizer = normalizers.Strip()
    return tok


def _nfc() -> Tokenizer:
    tok = _bpe("ab\u00e9")
    tok.normalizer = normalizers.NFC()
    return tok


def _rstrip_special() -> Tokenizer:
    tok = _bpe("ab")
    tok.add_special_tokens([AddedToken("<x>", rstrip=True)])
    return tok


# Each tokenizer, and a text it turns into fewer tokens than its length over the longest spelling.
SQUEEZING = {
    "fused unknowns": (_fused_unk, "a" + "€" * 500),
    "whitespace split": (_whitespace, "a" + " " * 500 + "b"),
    "strip normalizer": (_strip, " " * 500 + "a"),
    "NFC composes": (_nfc, "e\u0301" * 500),
    "rstrip special": (_rstrip_special, "<x>" + " " * 500 + "a"),
}


@pytest.mark.parametrize("case", SQUEEZING)
def test_a_tokenizer_that_squeezes_text_has_no_span(case: str) -> None:
    make, text = SQUEEZING[case]
    tok = _wrap(make())
    naive = max(len(s) for s in tok.get_vocab())
    # The naive bound would be wrong here: that is why there is no span.
    assert len(tok(text, add_special_tokens=False)["input_ids"]) * naive < len(text)
    assert max_token_span(tok) is None


def test_other_models_and_slow_tokenizers_have_no_span() -> None:
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    assert max_token_span(_wrap(wordpiece)) is None
    assert max_token_span(object()) is None  # no backend tokenizer: a slow (Python) one
