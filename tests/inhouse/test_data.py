"""Training data: input checks, tokenising into memory-mapped token files, batches, baselines."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodel.inhouse import data
from multimodel.inhouse import tokenizer as tok_mod

SHAKESPEARE = Path(__file__).resolve().parents[2] / "data" / "tinyshakespeare.txt"
ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?'-\n"


@pytest.fixture(scope="module")
def chars(tmp_path_factory: pytest.TempPathFactory):
    return tok_mod.load(tok_mod.char_tokenizer(ALPHABET, tmp_path_factory.mktemp("chars")))


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def tokens(info: data.DataInfo) -> np.ndarray:
    return np.concatenate([np.fromfile(info.train_path, info.dtype), np.fromfile(info.val_path, info.dtype)])


# --- prepare -------------------------------------------------------------------------------------


def test_prepare_splits_90_10_into_memmaps(tmp_path: Path, chars) -> None:
    text = "It is a truth universally acknowledged.\n" * 50
    info = data.prepare([write(tmp_path / "a.txt", text)], chars, tmp_path / "out")
    n = len(text) + 1  # one token per character, then eos
    assert (info.n_train, info.n_val) == (int(n * 0.9), n - int(n * 0.9))
    assert info.dtype == "uint16" and info.vocab_size == len(chars)
    assert info.train_path.stat().st_size == 2 * info.n_train
    expected = [*chars.encode(text, add_special_tokens=False), chars.eos_token_id]
    assert tokens(info).tolist() == expected  # the validation split is the last tokens
    assert (
        data.DataInfo.from_dict(json.loads((tmp_path / "out" / "data.json").read_text()), tmp_path / "out")
        == info
    )


def test_eos_follows_every_document(tmp_path: Path, chars) -> None:
    lines = ['{"text": "ab"}', "", '{"text": "ba", "id": 7}']
    jsonl = write(tmp_path / "docs.jsonl", "\n".join(lines) + "\n")
    txt = write(tmp_path / "c.txt", "cc")
    info = data.prepare([jsonl, txt], chars, tmp_path / "out", val_fraction=0.0)
    a, b, c = (chars.convert_tokens_to_ids(x) for x in "abc")
    eos = chars.eos_token_id
    assert tokens(info).tolist() == [a, b, eos, b, a, eos, c, c, eos]
    assert info.n_val == 0


def test_bpe_tokens_match_encoding_the_whole_text(tmp_path: Path) -> None:
    # tinyshakespeare is larger than one read chunk, so this crosses chunk and segment boundaries.
    text = SHAKESPEARE.read_text(encoding="utf-8")
    bpe = tok_mod.load(tok_mod.train_bpe([text[:100_000]], 600, tmp_path / "tok"))
    info = data.prepare([SHAKESPEARE], bpe, tmp_path / "out")
    assert SHAKESPEARE.stat().st_size > data.CHUNK_BYTES
    assert tokens(info).tolist() == [*bpe.encode(text, add_special_tokens=False), bpe.eos_token_id]
    assert (
        info.sha256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    )  # data/SOURCES.md


def test_prepare_reuses_its_tokens(tmp_path: Path, chars) -> None:
    src = write(tmp_path / "a.txt", "to be or not to be\n" * 20)
    first = data.prepare([src], chars, tmp_path / "out")
    mtime = first.train_path.stat().st_mtime_ns
    assert data.prepare([src], chars, tmp_path / "out") == first
    assert first.train_path.stat().st_mtime_ns == mtime  # not rewritten
    other_split = data.prepare([src], chars, tmp_path / "out", val_fraction=0.5)
    assert other_split.n_val > first.n_val
    write(src, "to be or not to be\n" * 21)
    assert data.prepare([src], chars, tmp_path / "out").sha256 != first.sha256


def test_large_vocabularies_use_uint32(tmp_path: Path) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(20_000)) + "".join(chr(0x10000 + i) for i in range(46_000))
    wide = tok_mod.load(tok_mod.char_tokenizer(text, tmp_path / "tok"))
    assert len(wide) >= 1 << 16
    info = data.prepare([write(tmp_path / "a.txt", text[-50:])], wide, tmp_path / "out")
    assert info.dtype == "uint32"
    assert tokens(info).tolist()[:-1] == wide.encode(text[-50:], add_special_tokens=False)


# --- inputs --------------------------------------------------------------------------------------


def test_iter_texts_streams_text_and_jsonl(tmp_path: Path) -> None:
    big = write(tmp_path / "big.txt", "line of text\n" * 100_000)  # 1.3 MB: two chunks
    jsonl = write(tmp_path / "d.jsonl", '{"text": "one"}\n{"text": "two"}\n')
    pieces = list(data.iter_texts([big, jsonl]))
    assert "".join(pieces[:-2]) == big.read_text() and len(pieces) == 4
    assert pieces[-2:] == ["one", "two"]


def bad_inputs(tmp: Path) -> list[tuple[Path, str]]:
    long_prefix = b"x" * 1_100_000  # past the first read chunk
    return [
        (tmp / "missing.txt", "no such file"),
        (write(tmp / "empty.txt", b""), "empty file"),
        (write(tmp / "blank.txt", " \n\n"), "no text in it"),
        (write(tmp / "latin1.txt", b"caf\xe9 ok\n"), "not UTF-8: byte offset 3 (0xe9)"),
        (write(tmp / "late.txt", long_prefix + b"\xff"), "not UTF-8: byte offset 1100000 (0xff)"),
        (write(tmp / "bad.jsonl", '{"text": "a"}\n{"text": "b"}\n{"text": 3}\n'), 'line 3: expected an object with a string "text" field'),
        (write(tmp / "list.jsonl", '{"text": "a"}\n["a"]\n'), "line 2: expected an object"),
        (write(tmp / "broken.jsonl", '{"text": "a"}\n{"text": \n'), "line 2: not JSON"),
        (write(tmp / "bytes.jsonl", b'{"text": "a"}\n{"text": "\xc3"}\n'), "not UTF-8: line 2, byte offset 24 (0xc3)"),
        (write(tmp / "none.jsonl", "\n\n"), "no text in it"),
    ]  # fmt: skip


def test_bad_inputs_fail_before_anything_is_written(tmp_path: Path, chars) -> None:
    good = write(tmp_path / "good.txt", "fine text\n")
    for bad, message in bad_inputs(tmp_path):
        with pytest.raises(data.DataError, match=f"^{re.escape(f'{bad}: {message}')}"):
            data.validate_inputs([good, bad])
        out = tmp_path / f"out-{bad.stem}"
        with pytest.raises(data.DataError):
            data.prepare([good, bad], chars, out)
        assert not out.exists()
    with pytest.raises(data.DataError, match="no input files"):
        data.validate_inputs([])


# --- batches -------------------------------------------------------------------------------------


@pytest.fixture
def info(tmp_path: Path, chars) -> data.DataInfo:
    text = SHAKESPEARE.read_text(encoding="utf-8")[:20_000]
    tok = tok_mod.load(tok_mod.char_tokenizer(text, tmp_path / "tok"))
    return data.prepare([write(tmp_path / "s.txt", text)], tok, tmp_path / "out")


def draw(batches: data.TokenBatches, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [batches.next() for _ in range(n)]


def same(a: list[tuple[torch.Tensor, torch.Tensor]], b: list[tuple[torch.Tensor, torch.Tensor]]) -> bool:
    return all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True))


def test_batches_are_shifted_windows(info: data.DataInfo) -> None:
    x, y = data.TokenBatches(info, "train", 4, 16, seed=0).next()
    assert x.shape == y.shape == (4, 16) and x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    train = np.fromfile(info.train_path, info.dtype).tolist()
    row = x[0].tolist()
    starts = [i for i in range(len(train) - 16) if train[i : i + 16] == row]
    assert any(train[i + 1 : i + 17] == y[0].tolist() for i in starts)


def test_batches_are_deterministic_and_resume_exactly(info: data.DataInfo, tmp_path: Path) -> None:
    def make(rank: int = 0) -> data.TokenBatches:
        return data.TokenBatches(info, "train", 3, 8, seed=7, rank=rank, world_size=2)

    assert same(draw(make(), 3), draw(make(), 3))
    assert not same(draw(make(0), 3), draw(make(1), 3))
    run = make()
    draw(run, 5)
    torch.save(run.state_dict(), tmp_path / "state.pt")  # through a checkpoint file, as the trainer
    uninterrupted = draw(run, 4)
    resumed = make()
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert same(resumed_batches := draw(resumed, 4), uninterrupted) and resumed_batches
    with pytest.raises(ValueError, match="rank 0 loaded into 'train' rank 1"):
        make(1).load_state_dict(run.state_dict())


def test_a_split_shorter_than_a_block_is_an_error(info: data.DataInfo) -> None:
    with pytest.raises(data.DataError, match="val split has"):
        data.TokenBatches(info, "val", 1, info.n_val, seed=0)
    data.TokenBatches(info, "val", 1, info.n_val - 1, seed=0)


# --- baselines and memory ------------------------------------------------------------------------


def test_unigram_baseline_by_hand(tmp_path: Path) -> None:
    np.array([6, 6, 6, 7], dtype=np.uint16).tofile(tmp_path / "train.bin")
    np.array([6, 7], dtype=np.uint16).tofile(tmp_path / "val.bin")
    info = data.DataInfo(tmp_path / "train.bin", tmp_path / "val.bin", "uint16", 4, 2, "", 8)
    # Add-one counts over 8 tokens: id 6 -> 4, id 7 -> 2, six others -> 1; total 12.
    # Validation: -(log(4/12) + log(2/12)) / 2 = log(18) / 2.
    assert data.unigram_baseline(info) == pytest.approx(math.log(18) / 2)


def test_check_fits_memory() -> None:
    with pytest.raises(
        data.ResourceError,
        match=r"^config needs ~[\d,]+\.\d GiB \(states [\d,.]+, activations [\d,.]+, logits [\d,.]+ GiB\), [\d,.]+ GiB available",
    ):
        data.check_fits_memory(int(1e12), 8, 1024)  # 16 TB of optimizer state: no machine here
    with pytest.raises(data.ResourceError):
        data.check_fits_memory(1_000_000, 8, 256, available_bytes=1 << 20)
    data.check_fits_memory(1_000_000, 8, 256)  # a tiny model fits this machine
    data.check_fits_memory(int(1e12), 8, 1024, available_bytes=1 << 50)
