"""Training data: checked inputs, tokenised once into memory-mapped token files, random batches.

nanoGPT's recipe: the corpus becomes one flat array of token ids on disk, `train.bin` and
`val.bin` (the last `val_fraction` of the tokens), and training draws random windows from it.
Inputs are plain text files (one document each) or JSON Lines (`.jsonl`, one document per
`{"text": ...}` record); an eos token follows every document. Everything is streamed, so memory
stays bounded whatever the corpus size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multimodel.inhouse.plan import training_memory_bytes

CHUNK_BYTES = 1 << 20  # read size; a chunk ends at a line end
SEGMENT_CHARS = 1 << 14  # texts handed to the tokenizer in one batch are about this long
MAX_CARRY_CHARS = 1 << 22  # a run this long without a space is cut anyway (see _segments)
FORMAT_VERSION = 1


class DataError(ValueError):
    """Unusable training data; the one-line message names the file (and line, for JSON Lines)."""


class ResourceError(ValueError):
    """A training configuration that cannot fit the machine; raised before any work."""


@dataclass(frozen=True)
class DataInfo:
    """What `prepare` wrote: token files, their dtype and lengths, and what they came from."""

    train_path: Path
    val_path: Path
    dtype: str  # "uint16" | "uint32"
    n_train: int
    n_val: int
    sha256: str  # of the input files' bytes, in order (`cat files | sha256sum`)
    vocab_size: int
    # What reuse compares: the input bytes and file boundaries, the tokenizer, the split.
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"train_path": str(self.train_path), "val_path": str(self.val_path)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: Path | None = None) -> DataInfo:
        """Paths are resolved against `base` (the folder of data.json) when relative."""
        root = base or Path()
        return cls(**d | {"train_path": root / d["train_path"], "val_path": root / d["val_path"]})


# --- reading inputs ------------------------------------------------------------------------------


def iter_texts(paths: list[Path]) -> Iterator[str]:
    """The text of `paths` in order, in pieces of at most about CHUNK_BYTES (split at line ends).

    Raises DataError on the first unusable input (see `validate_inputs`).
    """
    for path in _existing(paths):
        for text, _ in _pieces(path):
            if text:
                yield text


def validate_inputs(paths: list[Path]) -> None:
    """Check every input in one streamed pass, before any work: each file exists, is UTF-8, holds
    some text and, for JSON Lines, has a string "text" on every line. Raises DataError."""
    _scan(paths)


def _existing(paths: list[Path]) -> list[Path]:
    if not paths:
        raise DataError("no input files given")
    out = [Path(p) for p in paths]
    for p in out:
        if not p.is_file():
            raise DataError(f"{p}: no such file")
    return out


def _scan(paths: list[Path]) -> str:
    """Validate `paths`; return the sha256 of their bytes in order."""
    digest = hashlib.sha256()
    for path in _existing(paths):
        for _ in _pieces(path, digest):
            pass
    return digest.hexdigest()


def _pieces(path: Path, digest: Any = None) -> Iterator[tuple[str, bool]]:
    """(text, ends_document) pairs of one file; updates `digest` with the raw bytes."""
    reader = _jsonl_pieces if path.suffix.lower() == ".jsonl" else _text_pieces
    has_text = False
    for text, end in reader(path, digest):
        has_text = has_text or bool(text.strip())
        yield text, end
    if not has_text:
        what = "empty file" if path.stat().st_size == 0 else "no text in it"
        raise DataError(f"{path}: {what}")


def _text_pieces(path: Path, digest: Any) -> Iterator[tuple[str, bool]]:
    with path.open("rb") as f:
        offset, carry = 0, b""
        while True:
            block = f.read(CHUNK_BYTES)
            if digest is not None:
                digest.update(block)
            buf = carry + block
            if not block:
                if buf:
                    yield _decode(buf, path, offset), False
                yield "", True  # a whole file is one document
                return
            cut = buf.rfind(b"\n") + 1 or _char_boundary(buf)
            yield _decode(buf[:cut], path, offset), False
            offset, carry = offset + cut, buf[cut:]


def _jsonl_pieces(path: Path, digest: Any) -> Iterator[tuple[str, bool]]:
    with path.open("rb") as f:
        offset = 0
        for lineno, raw in enumerate(f, 1):
            if digest is not None:
                digest.update(raw)
            line = _decode(raw, path, offset, lineno)
            offset += len(raw)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {lineno}: not JSON ({e.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise DataError(f'{path}: line {lineno}: expected an object with a string "text" field')
            yield record["text"], True


def _decode(data: bytes, path: Path, offset: int, lineno: int | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = f"line {lineno}, " if lineno is not None else ""
        raise DataError(
            f"{path}: not UTF-8: {where}byte offset {offset + e.start} (0x{data[e.start]:02x})"
        ) from None


def _char_boundary(buf: bytes) -> int:
    """Where to cut a line-less block so no UTF-8 character is split: before its last lead byte."""
    for i in range(len(buf) - 1, max(len(buf) - 4, 0) - 1, -1):
        if buf[i] & 0xC0 != 0x80:
            return i or len(buf)
    return len(buf)  # not UTF-8 anyway; decoding reports it


# --- tokenising ----------------------------------------------------------------------------------


def prepare(paths: list[Path], tokenizer: Any, out_dir: Path, val_fraction: float = 0.1) -> DataInfo:
    """Tokenise `paths` once into out_dir/train.bin and val.bin; write and return data.json's DataInfo.

    The inputs are checked before anything is written. When out_dir already holds the tokens of
    the same inputs, tokenizer and split, they are reused as they are.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    paths = _existing(paths)
    sha = _scan(paths)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise DataError("the tokenizer has no eos token to separate documents")
    vocab = len(tokenizer)
    fingerprint = _fingerprint(sha, paths, tokenizer, val_fraction)
    out = Path(out_dir)
    reused = _reusable(out, fingerprint)
    if reused is not None:
        return reused

    out.mkdir(parents=True, exist_ok=True)
    (out / "data.json").unlink(missing_ok=True)  # written last: its presence means complete
    dtype = np.dtype(np.uint16 if vocab < 1 << 16 else np.uint32)
    tmp, n = out / "tokens.tmp", 0
    with tmp.open("wb") as f:
        for ids in _token_stream(paths, tokenizer, eos):
            f.write(np.asarray(ids, dtype=dtype).tobytes())
            n += len(ids)
    n_train = int(n * (1 - val_fraction))  # nanoGPT's split: the last tokens are validation
    # Split without a second full copy: the tail goes to val.bin, the file is cut to the head.
    with tmp.open("r+b") as f:
        f.seek(n_train * dtype.itemsize)
        with (out / "val.bin.tmp").open("wb") as v:
            shutil.copyfileobj(f, v, CHUNK_BYTES)
        f.truncate(n_train * dtype.itemsize)
    os.replace(tmp, out / "train.bin")
    os.replace(out / "val.bin.tmp", out / "val.bin")
    info = DataInfo(
        out / "train.bin", out / "val.bin", dtype.name, n_train, n - n_train, sha, vocab, fingerprint
    )
    record = info.to_dict() | {"train_path": "train.bin", "val_path": "val.bin"}
    (out / "data.json.tmp").write_text(json.dumps(record, indent=2) + "\n")
    os.replace(out / "data.json.tmp", out / "data.json")
    return info


def _fingerprint(sha: str, paths: list[Path], tokenizer: Any, val_fraction: float) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    tok = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    key = {
        "version": FORMAT_VERSION,
        "sha256": sha,
        "sizes": [p.stat().st_size for p in paths],  # the same bytes split differently differ
        "tokenizer": hashlib.sha256(tok.encode()).hexdigest(),
        "vocab_size": len(tokenizer),
        "val_fraction": val_fraction,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _reusable(out: Path, fingerprint: str) -> DataInfo | None:
    try:
        info = DataInfo.from_dict(json.loads((out / "data.json").read_text()), out)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    itemsize = np.dtype(info.dtype).itemsize
    complete = all(
        p.is_file() and p.stat().st_size == n * itemsize
        for p, n in ((info.train_path, info.n_train), (info.val_path, info.n_val))
    )
    return info if complete and info.fingerprint == fingerprint else None


def _token_stream(paths: list[Path], tokenizer: Any, eos: int) -> Iterator[list[int]]:
    """Token ids of every document followed by eos, in bounded pieces."""
    for path in paths:
        carry = ""
        for text, end in _pieces(path):
            segments, carry = _segments(carry + text, final=end)
            if segments:
                ids = tokenizer(segments, add_special_tokens=False)["input_ids"]  # batched, in parallel
                yield [t for seg in ids for t in seg]
            if end:
                yield [eos]


def _segments(text: str, final: bool) -> tuple[list[str], str]:
    """Cut `text` just before spaces into pieces of about SEGMENT_CHARS; return them and the rest.

    Cutting before a space keeps the tokens the same as encoding the whole document: BPE merges
    never span a space, and a piece that starts with a space gets no extra Llama-style "▁" prefix.
    A run of MAX_CARRY_CHARS without a space (unspaced scripts) is cut at a line end or anywhere,
    which may add one prefix token there.
    """
    pieces, start = [], 0
    while (cut := text.find(" ", start + SEGMENT_CHARS)) != -1:
        pieces.append(text[start:cut])
        start = cut
    rest = text[start:]
    if final or len(rest) > MAX_CARRY_CHARS:
        if not final and (line_end := rest.rfind("\n") + 1):
            pieces.append(rest[:line_end])
            rest = rest[line_end:]
        else:
            pieces.append(rest)
            rest = ""
    return [p for p in pieces if p], rest


# --- batches -------------------------------------------------------------------------------------


class TokenBatches:
    """Random (x, y) windows from one split; y is x shifted by one token.

    The sampling RNG is a torch.Generator seeded from (seed, split, rank), so every rank draws
    different batches; `state_dict` carries its state, so a resumed run draws the very batches the
    uninterrupted run would have.
    """

    def __init__(
        self,
        info: DataInfo,
        split: str,
        batch_size: int,
        block_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {split!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.path = info.train_path if split == "train" else info.val_path
        self.n = info.n_train if split == "train" else info.n_val
        if self.n < block_size + 1:
            raise DataError(
                f"the {split} split has {self.n} tokens, fewer than block_size + 1 = {block_size + 1}"
            )
        self.dtype, self.split, self.rank = info.dtype, split, rank
        self.batch_size, self.block_size = batch_size, block_size
        mixed = hashlib.sha256(f"{seed}:{split}:{rank}".encode()).digest()
        self.generator = torch.Generator().manual_seed(int.from_bytes(mixed[:8], "little") >> 1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        # A fresh memmap per batch, as nanoGPT does: a long-lived one makes resident memory grow.
        data = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.n,))
        starts = torch.randint(self.n - self.block_size, (self.batch_size,), generator=self.generator)
        windows = np.stack([data[i : i + self.block_size + 1] for i in starts.tolist()]).astype(np.int64)
        both = torch.from_numpy(windows)
        return both[:, :-1].contiguous(), both[:, 1:].contiguous()

    def state_dict(self) -> dict[str, Any]:
        return {"split": self.split, "rank": self.rank, "rng": self.generator.get_state()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if (d["split"], d["rank"]) != (self.split, self.rank):
            raise ValueError(
                f"batch state of split {d['split']!r} rank {d['rank']} loaded into {self.split!r} rank {self.rank}"
            )
        self.generator.set_state(d["rng"])


def unigram_baseline(info: DataInfo) -> float:
    """Validation cross-entropy (nats/token) of unigram frequencies counted on the train split.

    Add-one (Laplace) smoothing over the vocabulary, so a token unseen in training costs a finite
    log((n_train + vocab_size) / 1). A model that does not beat this has learned nothing beyond
    token frequencies.
    """
    if info.n_val == 0:
        raise DataError("no validation tokens (val_fraction was 0)")
    counts = _bincount(info.train_path, info.dtype, info.n_train, info.vocab_size) + 1.0
    val = _bincount(info.val_path, info.dtype, info.n_val, info.vocab_size)
    return float(-(val * np.log(counts / counts.sum())).sum() / val.sum())


def _bincount(path: Path, dtype: str, n: int, vocab: int) -> np.ndarray:
    counts = np.zeros(vocab, dtype=np.float64)
    if n:
        data = np.memmap(path, dtype=dtype, mode="r", shape=(n,))
        for i in range(0, n, CHUNK_BYTES):
            counts += np.bincount(data[i : i + CHUNK_BYTES], minlength=vocab)[:vocab]
    return counts


# --- memory --------------------------------------------------------------------------------------

GIB = 1 << 30


def check_fits_memory(
    n_params: int,
    batch_size: int,
    block_size: int,
    *,
    n_layers: int | None = None,
    d_model: int | None = None,
    vocab_size: int = 32_000,
    bytes_per_activation: int | None = None,
    device: str | None = None,
    available_bytes: int | None = None,
) -> None:
    """Raise ResourceError when `plan.training_memory_bytes` exceeds the memory available.

    Available memory is `available_bytes` if given, else the free memory of a "cuda" `device`,
    else the machine's available RAM (or its cgroup limit, if lower). Unknown: no check.
    Activations count 2 bytes on cuda (bf16 autocast) and 4 elsewhere unless given.
    """
    on_gpu = device is not None and device.startswith("cuda")
    if bytes_per_activation is None:
        bytes_per_activation = 2 if on_gpu else 4
    parts = training_memory_bytes(
        n_params,
        batch_size,
        block_size,
        n_layers=n_layers,
        d_model=d_model,
        vocab_size=vocab_size,
        bytes_per_activation=bytes_per_activation,
    )
    available = available_bytes if available_bytes is not None else _available_bytes(device)
    need = sum(parts.values())
    if available is None or need <= available:
        return
    detail = ", ".join(f"{k} {v / GIB:,.1f}" for k, v in parts.items())
    raise ResourceError(
        f"config needs ~{need / GIB:,.1f} GiB ({detail} GiB), {available / GIB:,.1f} GiB available"
        f"{' on ' + str(device) if on_gpu else ''}; "
        "lower batch_size or block_size, or use a smaller model"
    )


def _available_bytes(device: str | None) -> int | None:
    if device is not None and device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    candidates = [_meminfo_available(), _cgroup_available()]
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """A container's memory limit (cgroup v2) less what it uses: MemAvailable ignores it."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None
