"""Tokenizers for the in-house models, saved in Hugging Face format (tokenizer.json + config).

Two kinds, sharing the special tokens and the chat template:

- `train_bpe`: a Llama/SentencePiece-style BPE. Spaces become "▁" (Metaspace, one "▁" prepended at
  the start of a text), and the 256 byte tokens `<0x00>`..`<0xFF>` are in the vocabulary with
  `byte_fallback`, so any text encodes without `<unk>`. Its pipeline is exactly the one
  transformers 5 rebuilds for `LlamaTokenizer`, and the layout is the one llama.cpp's converter
  (`LlamaHfVocab`) accepts: BPE, `byte_fallback: true`, a `Sequence` decoder. Like every
  Llama tokenizer, decoding drops one leading space of a text that starts with one (" hi" ->
  "hi"): the decoder removes the prepended "▁", which such a text never got.
- `char_tokenizer`: one token per distinct character, nanoGPT's char-level Shakespeare. No byte
  tokens (they would quadruple a 65-character vocabulary): a character it never saw is `<unk>`.

Specials: `<unk>`=0, `<s>`=1 (bos), `</s>`=2 (eos, also ends each chat turn), then the chat
markers `<|system|>`=3, `<|user|>`=4, `<|assistant|>`=5. The pad token is `<unk>`: a BPE text
never encodes to it, so padding is unambiguous.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
ROLES = ("system", "user", "assistant")
ROLE_TOKENS = tuple(f"<|{role}|>" for role in ROLES)
SPECIALS = (UNK, BOS, EOS, *ROLE_TOKENS)
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))

# A turn is "<|role|>\n" + content + "</s>"; the prompt starts with <s> and ends with
# "<|assistant|>\n", so the model's reply ends where it emits </s>, the eos that stops generation.
# The template writes every special token itself (the gateway encodes its output with
# add_special_tokens=False).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{% if m['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unsupported role: ' + m['role']) }}"
    "{% endif %}"
    "<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# The most single characters a BPE vocabulary keeps (the classic WordPiece default); rarer ones
# are spelled with byte tokens, as SentencePiece's character_coverage does.
MAX_ALPHABET = 1000


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: Path) -> Path:
    """Train a byte-fallback BPE of at most `vocab_size` entries on `texts`; save it in `out_dir`.

    The vocabulary is laid out like Llama's: the specials, the 256 byte tokens, then the learned
    characters and merges (fewer than asked when the text runs out of pairs). Returns `out_dir`.
    """
    floor = len(SPECIALS) + len(BYTE_TOKENS)
    if vocab_size <= floor:
        raise ValueError(f"vocab_size {vocab_size} leaves no room to learn: it must exceed {floor}")
    budget = vocab_size - len(BYTE_TOKENS)  # the trainer's share: specials, characters, merges
    trainer = trainers.BpeTrainer(
        vocab_size=budget,
        special_tokens=list(SPECIALS),
        limit_alphabet=min(MAX_ALPHABET, budget - len(SPECIALS)),
        show_progress=False,
    )
    learner = Tokenizer(models.BPE(unk_token=UNK))
    # Split at spaces while learning so that no merge spans two words; then the final tokenizer
    # can skip the split (as transformers' LlamaTokenizer and llama.cpp do) and encode the same.
    learner.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    learner.train_from_iterator(texts, trainer=trainer)

    learned = json.loads(learner.to_str())["model"]
    pieces = [token for token, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1])]
    # dict.fromkeys keeps the first id of a duplicate (a learned piece spelled "<0x41>") so ids
    # stay contiguous, which llama.cpp's converter needs.
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*SPECIALS, *BYTE_TOKENS, *pieces]))}
    # Older tokenizers versions store a merge as "a b"; pieces never hold a space (it is "▁").
    pairs = (m.split(" ") if isinstance(m, str) else m for m in learned["merges"])
    merges = [(str(a), str(b)) for a, b in pairs]
    bpe = models.BPE(vocab=vocab, merges=merges, unk_token=UNK, fuse_unk=True, byte_fallback=True)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(content=" ", left=1, right=0),  # the "▁" the pre-tokenizer prepended
        ]
    )
    return _save(tok, Path(out_dir), tokenizer_class="LlamaTokenizerFast")


def char_tokenizer(text: str, out_dir: Path) -> Path:
    """A character-level tokenizer over the distinct characters of `text`; save it in `out_dir`.

    BPE with no merges and no pre-tokenizer: every character, space and newline included, is one
    token, so a text of n characters is n tokens (as in nanoGPT). Returns `out_dir`.
    """
    chars = sorted(set(text))
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*SPECIALS, *chars]))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.decoder = decoders.Fuse()  # join the characters back with nothing between them
    # Not Llama's class: transformers 5 would rebuild it with Llama's space handling.
    return _save(tok, Path(out_dir), tokenizer_class="PreTrainedTokenizerFast")


def load(path: Path) -> PreTrainedTokenizerFast:
    """The tokenizer saved in directory `path` (by `train_bpe`, `char_tokenizer` or save_pretrained)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = Path(path)
    if not (p / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"{p} is not a tokenizer directory: no tokenizer.json in it "
            "(make one with train_bpe or char_tokenizer)"
        )
    tok = AutoTokenizer.from_pretrained(str(p))
    if not isinstance(tok, PreTrainedTokenizerFast):  # a tokenizer.json always gives a fast one
        raise TypeError(f"{p}: expected a fast (tokenizer.json) tokenizer, got {type(tok).__name__}")
    return tok


def sentencepiece_model(spec: dict) -> bytes | None:
    """A SentencePiece `tokenizer.model` equivalent to a `train_bpe` tokenizer.json (`spec`, parsed),
    or None for any other tokenizer (the char level one, a GPT-2 style byte-level BPE).

    llama.cpp's converter reads BPE merge priorities only from a tokenizer.model (as pieces'
    scores); from tokenizer.json alone it gives every piece the same score, and llama.cpp's
    tokenizer then merges left to right, which splits about half of all lines differently. Here a
    merged piece scores minus its merge's rank, so the highest-scoring pair is the first merge,
    as in our BPE. Written with the standard library: the protobuf fields are those of
    sentencepiece_model.proto (BPE, byte fallback, no normalization but whitespace escaping).
    """
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    if (
        model.get("type") != "BPE"
        or not model.get("byte_fallback")
        or pre.get("type") != "Metaspace"
        or pre.get("replacement") != "▁"
        or spec.get("normalizer") is not None
    ):
        return None
    vocab: dict[str, int] = model["vocab"]
    added = {t["id"]: t for t in spec.get("added_tokens", [])}
    pieces = {i: t for t, i in vocab.items()} | {i: t["content"] for i, t in added.items()}
    if sorted(pieces) != list(range(len(pieces))):
        return None  # SentencePiece ids are positions: no gaps
    merges = [m.split(" ") if isinstance(m, str) else m for m in model.get("merges", [])]
    rank = {a + b: i for i, (a, b) in reversed(list(enumerate(merges)))}  # the first merge wins

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def field(number: int, value: bytes | int | float | str) -> bytes:
        if isinstance(value, float):
            return varint(number << 3 | 5) + struct.pack("<f", value)
        if isinstance(value, (bool, int)):
            return varint(number << 3) + varint(int(value))
        data = value.encode("utf-8") if isinstance(value, str) else value
        return varint(number << 3 | 2) + varint(len(data)) + data

    normal, unknown, control, byte = 1, 2, 3, 6  # SentencePiece.Type
    unk = model.get("unk_token")
    out = bytearray()
    for i in range(len(pieces)):
        piece = pieces[i]
        if piece == unk:
            kind, score = unknown, 0.0
        elif i in added:
            kind, score = control, 0.0
        elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            kind, score = byte, 0.0
        else:
            kind, score = normal, -float(rank.get(piece, 0))
        out += field(1, field(1, piece) + field(2, score) + field(3, kind))
    ids = {t["content"]: t["id"] for t in added.values()}
    trainer = (
        field(3, 2)  # model_type: BPE
        + field(4, len(pieces))  # vocab_size
        + field(35, True)  # byte_fallback
        + field(40, ids.get(UNK, 0))  # unk_id
        + field(41, ids.get(BOS, -1) & 0xFFFFFFFFFFFFFFFF)  # bos_id
        + field(42, ids.get(EOS, -1) & 0xFFFFFFFFFFFFFFFF)  # eos_id
        + field(43, 0xFFFFFFFFFFFFFFFF)  # pad_id -1: <unk> pads, which SentencePiece cannot say
    )
    normalizer = (
        field(1, "identity")
        + field(3, pre.get("prepend_scheme", "always") != "never")  # add_dummy_prefix
        + field(4, False)  # remove_extra_whitespaces
        + field(5, True)  # escape_whitespaces
    )
    out += field(2, trainer) + field(3, normalizer)
    return bytes(out)


def _save(tok: Tokenizer, out_dir: Path, *, tokenizer_class: str) -> Path:
    from transformers import PreTrainedTokenizerFast

    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    # `<s>` first, as Llama: what tokenizer(text) adds by default (data preparation does not).
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, SPECIALS.index(BOS))]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=UNK,
        additional_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(out_dir))

    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    # transformers 5 writes "TokenizersBackend" and a list under "extra_special_tokens"; 4.x knows
    # neither, and before 4.43 reads the chat template only from this file.
    config["tokenizer_class"] = tokenizer_class
    config["additional_special_tokens"] = config.pop("extra_special_tokens", list(ROLE_TOKENS))
    config["chat_template"] = CHAT_TEMPLATE
    # LlamaTokenizerFast rebuilds its post-processor from these two flags.
    config["add_bos_token"], config["add_eos_token"] = True, False
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir
