"""The in-house tokenizers: Llama-style byte-fallback BPE and nanoGPT's char level, saved and
reloaded through transformers' AutoTokenizer as the trainer and the gateway do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from multimodel.inhouse import tokenizer as tok_mod

SHAKESPEARE = Path(__file__).resolve().parents[2] / "data" / "tinyshakespeare.txt"
SAMPLES = [
    "Hello world",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
    "naïve 日本 🙂",
    "tabs\tand  double  spaces, trailing space \n",
    "<0x41> looks like a byte token but is text",
]


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = SHAKESPEARE.read_text(encoding="utf-8")[:200_000]
    pieces = [text[i : i + 20_000] for i in range(0, len(text), 20_000)]
    return tok_mod.train_bpe(pieces, 512, tmp_path_factory.mktemp("bpe"))


@pytest.fixture(scope="module")
def bpe(bpe_dir: Path):
    return tok_mod.load(bpe_dir)


@pytest.mark.parametrize("text", SAMPLES)
def test_bpe_round_trips(bpe, text: str) -> None:
    ids = bpe.encode(text, add_special_tokens=False)
    assert tok_mod.UNK not in bpe.convert_ids_to_tokens(ids)
    assert bpe.decode(ids) == text


def test_a_leading_space_is_lost_as_in_llama(bpe) -> None:
    assert bpe.decode(bpe.encode(" hi", add_special_tokens=False)) == "hi"


def test_unseen_characters_fall_back_to_bytes(bpe) -> None:
    tokens = bpe.convert_ids_to_tokens(bpe.encode("日", add_special_tokens=False))
    assert tokens[-3:] == ["<0xE6>", "<0x97>", "<0xA5>"]  # UTF-8 of 日


def test_bpe_has_llama_layout(bpe_dir: Path, bpe) -> None:
    spec = json.loads((bpe_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = spec["model"]
    assert model["type"] == "BPE" and model["byte_fallback"] is True
    assert spec["decoder"]["type"] == "Sequence"  # llama.cpp's LlamaHfVocab checks these three
    vocab = model["vocab"]
    assert sorted(vocab.values()) == list(range(len(vocab)))  # contiguous ids
    assert [vocab[t] for t in tok_mod.SPECIALS] == [0, 1, 2, 3, 4, 5]
    assert [vocab[f"<0x{b:02X}>"] for b in range(256)] == list(range(6, 262))
    assert len(bpe) <= 512
    config = json.loads((bpe_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "LlamaTokenizerFast"
    assert type(bpe).__name__ in ("LlamaTokenizer", "LlamaTokenizerFast")  # 5.x renamed the class
    assert (bpe.unk_token_id, bpe.bos_token_id, bpe.eos_token_id, bpe.pad_token_id) == (0, 1, 2, 0)


@pytest.mark.parametrize("text", SAMPLES)
def test_the_file_alone_encodes_like_transformers(bpe_dir: Path, bpe, text: str) -> None:
    # transformers 5 rebuilds a Llama tokenizer's pipeline from its class; tokenizer.json, read
    # as is by 4.x and by converters, must encode the same.
    raw = Tokenizer.from_file(str(bpe_dir / "tokenizer.json"))
    assert raw.encode(text, add_special_tokens=False).ids == bpe.encode(text, add_special_tokens=False)
    assert raw.encode(text).ids == bpe.encode(text)  # both prepend <s>
    assert bpe.encode(text)[0] == bpe.bos_token_id


def test_chat_template(bpe) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    prompt = bpe.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == "<s><|system|>\nBe brief.</s><|user|>\nHi there</s><|assistant|>\n"
    ids = bpe(prompt, add_special_tokens=False)["input_ids"]
    assert ids[:2] == [1, 3] and ids.count(2) == 2 and ids.count(4) == 1
    assert bpe.decode(ids, skip_special_tokens=True) == "\nBe brief.\nHi there\n"
    with pytest.raises(Exception, match="unsupported role: tool"):
        bpe.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_vocab_size_must_leave_room(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must exceed 262"):
        tok_mod.train_bpe(["some text"], 262, tmp_path)


def test_char_tokenizer_on_tinyshakespeare(tmp_path: Path) -> None:
    text = SHAKESPEARE.read_text(encoding="utf-8")
    tok = tok_mod.load(tok_mod.char_tokenizer(text, tmp_path))
    assert len(set(text)) == 65
    assert len(tok) == 65 + len(tok_mod.SPECIALS)
    head = text[:5000]
    ids = tok.encode(head, add_special_tokens=False)
    assert len(ids) == len(head)  # one token per character, spaces and newlines included
    assert tok.decode(ids) == head
    assert tok.encode("a€b", add_special_tokens=False)[1] == tok.unk_token_id  # never seen: <unk>
    assert (
        tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False) == "<s><|user|>\nHi</s>"
    )


def test_load_needs_a_tokenizer_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json"):
        tok_mod.load(tmp_path)


def test_sentencepiece_model_merges_in_the_bpe_order(bpe_dir: Path, bpe) -> None:
    """The tokenizer.model the export writes for llama.cpp's converter: SentencePiece itself reads
    it and splits text exactly as our BPE does (merge priorities = the BPE's merge order)."""
    import sentencepiece

    spec = json.loads((bpe_dir / "tokenizer.json").read_text(encoding="utf-8"))
    blob = tok_mod.sentencepiece_model(spec)
    assert blob is not None
    sp = sentencepiece.SentencePieceProcessor(model_proto=blob)
    assert sp.get_piece_size() == len(spec["model"]["vocab"])
    assert [sp.id_to_piece(i) for i in range(6, 9)] == ["<0x00>", "<0x01>", "<0x02>"]
    lines = [line for line in SHAKESPEARE.read_text(encoding="utf-8").splitlines()[:3000] if line.strip()]
    for text in [*lines, *SAMPLES[:4]]:
        assert sp.encode(text) == bpe.encode(text, add_special_tokens=False), text


def test_sentencepiece_model_is_none_for_other_tokenizers(tmp_path: Path) -> None:
    char_dir = tok_mod.char_tokenizer("To be, or not to be", tmp_path)
    assert tok_mod.sentencepiece_model(json.loads((char_dir / "tokenizer.json").read_text())) is None
