"""Does llama.cpp accept our Hugging Face export and compute what transformers computes?

    bash bench/setup_llamacpp.sh                                  # once: bench/.venv-llamacpp
    bench/.venv-llamacpp/bin/python bench/verify_llamacpp.py      # both shipped models, f32 + f16 + bf16
    bench/.venv-llamacpp/bin/python bench/verify_llamacpp.py --models models/house-tiny --outtypes f32

Runs with the side venv's interpreter (llama-cpp-python, the converter's gguf, torch, transformers);
it imports nothing from the project. For each exported model directory and each --outtype:

1. converts it with llama.cpp's `convert_hf_to_gguf.py` (the one vendored in the llama-cpp-python
   sdist that setup_llamacpp.sh unpacks) into a temporary directory, and lists the converter's
   warnings;
2. loads the GGUF with llama-cpp-python (`logits_all=True`) and compares:
   - tokens: the ids llama.cpp's tokenizer gives vs the export's tokenizer.json (through
     transformers' AutoTokenizer) for a few prompts and the first --corpus-lines lines of a corpus;
     a chat prompt and texts starting with a space are compared too but only reported (see
     LEADING_SPACE);
   - logits: for each prompt (tokenized by transformers, so both sides see the same ids), the
     logits at every position vs transformers' LlamaForCausalLM in float32 (llama.cpp with an f32
     KV cache unless --kv-f16): max |diff| and how many positions have the same argmax;
   - generation: greedy continuation of each prompt (llama.cpp's own sampler with top_k=1 vs
     transformers' generate(do_sample=False)), same ids and same text expected.

Exit status 1 if a conversion fails, or an f32 model differs (tokens, argmax, generation, or
|logit diff| above --f32-tol); f16/bf16 rows are reported but only their conversion must succeed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PROMPTS = [
    "Who art thou, and whence comest thou?",
    "ROMEO:\nBut soft, what light through yonder window breaks?",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "Tabs\tand   runs of  spaces,\n\nblank lines.",
    "Naïve café — “quoted” text, 10% off! 😀 日本語",
]
# Known to differ, reported but not failed: llama.cpp's SentencePiece-style tokenizer always
# prepends "▁" (at the start and after every special token); transformers' Metaspace(prepend_scheme=
# "first") only at the start of a text that does not already start with a space.
LEADING_SPACE = [" Who art thou?", "  Two leading spaces."]
CHAT = [
    {"role": "system", "content": "Speak as a player."},
    {"role": "user", "content": "What news from Rome?"},
]


def find_converter(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        return path / "convert_hf_to_gguf.py" if path.is_dir() else path
    hits = sorted(glob.glob(str(HERE / ".venv-llamacpp/src/*/vendor/llama.cpp/convert_hf_to_gguf.py")))
    if not hits:
        sys.exit("no convert_hf_to_gguf.py found: run bash bench/setup_llamacpp.sh, or pass --converter")
    return Path(hits[-1])


def convert(converter: Path, model_dir: Path, outtype: str, out: Path) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(converter), str(model_dir), "--outtype", outtype, "--outfile", str(out)],
        capture_output=True,
        text=True,
        cwd=converter.parent,
    )
    elapsed = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or not out.exists():
        print(log[-4000:], file=sys.stderr)
        raise RuntimeError(f"convert_hf_to_gguf.py failed on {model_dir} ({outtype}), exit {proc.returncode}")
    warnings = sorted({line.strip() for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))})
    return elapsed, warnings


def corpus_lines(path: Path, limit: int) -> list[str]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:limit]


def compare_tokens(llm, hf_tok, texts: list[str], chat_text: str) -> dict:
    """Texts whose ids differ between llama.cpp and transformers (BOS added by both)."""
    mismatches = []
    for text in texts:
        ours = hf_tok(text).input_ids
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        if ours != theirs:
            mismatches.append({"text": text, "transformers": ours, "llama.cpp": theirs})
    leading_same = sum(
        hf_tok(t).input_ids == llm.tokenize(t.encode("utf-8"), add_bos=True, special=False)
        for t in LEADING_SPACE
    )
    # The chat prompt holds special tokens: the template writes <s> itself, so no extra BOS.
    ours = hf_tok(chat_text, add_special_tokens=False).input_ids
    theirs = llm.tokenize(chat_text.encode("utf-8"), add_bos=False, special=True)
    chat_ok = ours == theirs
    return {
        "checked": len(texts),
        "mismatches": mismatches,
        "chat_ok": chat_ok,
        "leading_same": leading_same,
        "chat": {"transformers": ours, "llama.cpp": theirs},
    }


def llama_logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float64)


def llama_greedy(llm, ids: list[int], n: int, eos: int) -> list[int]:
    llm.reset()
    out: list[int] = []
    for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        if token == eos:
            break
        out.append(token)
        if len(out) >= n:
            break
    return out


def hf_greedy(model, ids: list[int], n: int, eos: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=eos,
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        )
    gen = out[0, len(ids) :].tolist()
    return gen[: gen.index(eos)] if eos in gen else gen


def verify_model(model_dir: Path, outtypes: list[str], converter: Path, workdir: Path, args) -> list[dict]:
    import llama_cpp
    import torch
    from llama_cpp import Llama
    from transformers import AutoTokenizer, LlamaForCausalLM

    hf_tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = LlamaForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    eos = model.config.eos_token_id
    chat_text = hf_tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    prompt_ids = [hf_tok(p).input_ids for p in PROMPTS]
    prompt_ids.append(hf_tok(chat_text, add_special_tokens=False).input_ids)
    with torch.no_grad():
        hf_logits = [model(torch.tensor([ids])).logits[0].double().numpy() for ids in prompt_ids]
    hf_gen = [hf_greedy(model, ids, args.gen_tokens, eos) for ids in prompt_ids]
    texts = PROMPTS + corpus_lines(Path(args.corpus), args.corpus_lines)

    rows = []
    for outtype in outtypes:
        gguf = workdir / f"{model_dir.name}-{outtype}.gguf"
        conv_s, warnings = convert(converter, model_dir, outtype, gguf)
        llm = Llama(
            model_path=str(gguf),
            n_ctx=model.config.max_position_embeddings,
            logits_all=True,
            n_threads=args.threads,
            # The KV cache is f16 by default, which alone moves f32 logits by ~5e-3.
            type_k=None if args.kv_f16 else llama_cpp.GGML_TYPE_F32,
            type_v=None if args.kv_f16 else llama_cpp.GGML_TYPE_F32,
            n_batch=512,
            seed=0,
            verbose=False,
        )
        tokens = compare_tokens(llm, hf_tok, texts, chat_text)
        max_diff, agree, positions = 0.0, 0, 0
        for ids, ref in zip(prompt_ids, hf_logits, strict=True):
            got = llama_logits(llm, ids)
            max_diff = max(max_diff, float(np.abs(got - ref).max()))
            agree += int((got.argmax(-1) == ref.argmax(-1)).sum())
            positions += len(ids)
        gen_same, gen_text_same, gen_examples = 0, 0, []
        for ids, ref in zip(prompt_ids, hf_gen, strict=True):
            got = llama_greedy(llm, ids, args.gen_tokens, eos)
            gen_same += got == ref
            ref_text = hf_tok.decode(ref, skip_special_tokens=False)
            got_text = llm.detokenize(got, special=True).decode("utf-8", errors="replace")
            # Decoding a continuation alone, transformers drops its first space (the Strip decoder
            # step); llama.cpp keeps it.
            gen_text_same += got_text.removeprefix(" ") == ref_text.removeprefix(" ")
            gen_examples.append({"transformers": ref_text, "llama.cpp": got_text})
        del llm
        rows.append(
            {
                "model": model_dir.name,
                "outtype": outtype,
                "convert_s": round(conv_s, 2),
                "gguf_bytes": gguf.stat().st_size,
                "converter_warnings": warnings,
                "token_texts": tokens["checked"],
                "token_mismatches": len(tokens["mismatches"]),
                "token_mismatch_examples": tokens["mismatches"][:3],
                "has_tokenizer_model": (model_dir / "tokenizer.model").is_file(),
                "chat_tokens_ok": tokens["chat_ok"],
                "chat_tokens": tokens["chat"],
                "leading_space_same": tokens["leading_same"],
                "max_abs_logit_diff": max_diff,
                "argmax_agree": agree,
                "positions": positions,
                "generations": len(prompt_ids),
                "generation_ids_same": gen_same,
                "generation_text_same": gen_text_same,
                "generation_examples": gen_examples,
            }
        )
        gguf.unlink()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["models/house-tiny", "models/house-mini"])
    ap.add_argument("--outtypes", nargs="+", default=["f32", "f16", "bf16"])
    ap.add_argument("--converter", help="convert_hf_to_gguf.py or the llama.cpp directory holding it")
    ap.add_argument(
        "--corpus", default=str(ROOT / "data/tinyshakespeare.txt"), help="tokenizer check: its lines"
    )
    ap.add_argument("--corpus-lines", type=int, default=2000, help="how many non-empty lines of --corpus")
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--f32-tol", type=float, default=1e-3, help="max |logit diff| allowed for f32")
    ap.add_argument(
        "--kv-f16", action="store_true", help="keep llama.cpp's default f16 KV cache (f32 otherwise)"
    )
    ap.add_argument("--workdir", help="where the GGUF files go (default: a temporary directory)")
    ap.add_argument("--json", help="also write the full results here")
    args = ap.parse_args()

    import llama_cpp
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    converter = find_converter(args.converter)
    print(
        f"llama-cpp-python {llama_cpp.__version__}, transformers {transformers.__version__}, torch {torch.__version__}"
    )
    print(f"converter: {converter.relative_to(ROOT) if converter.is_relative_to(ROOT) else converter}\n")

    rows = []
    with tempfile.TemporaryDirectory(prefix="verify-llamacpp-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for m in args.models:
            model_dir = Path(m) if Path(m).is_absolute() else ROOT / m
            rows += verify_model(model_dir, args.outtypes, converter, workdir, args)

    head = (
        "model",
        "tokenizer.model",
        "type",
        "convert s",
        "token mismatches",
        "chat ids*",
        "leading space*",
        "max |Δlogit|",
        "argmax agree",
        "greedy ids same",
        "greedy text same",
    )
    table = [head] + [
        (
            r["model"],
            "yes" if r["has_tokenizer_model"] else "no",
            r["outtype"],
            f"{r['convert_s']:.1f}",
            f"{r['token_mismatches']}/{r['token_texts']}",
            "same" if r["chat_tokens_ok"] else "differ",
            f"{r['leading_space_same']}/{len(LEADING_SPACE)} same",
            f"{r['max_abs_logit_diff']:.2e}",
            f"{r['argmax_agree']}/{r['positions']}",
            f"{r['generation_ids_same']}/{r['generations']}",
            f"{r['generation_text_same']}/{r['generations']}",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))

    print("* informational: llama.cpp always prepends a space (▁) at the start and after special tokens")

    warnings = sorted({w for r in rows for w in r["converter_warnings"]})
    if warnings:
        print("\nconverter warnings (all models):")
        for w in warnings:
            print("  " + w)
    for r in rows:
        for ex in r["token_mismatch_examples"]:
            print(f"\ntoken mismatch ({r['model']} {r['outtype']}): {ex['text']!r}")
            print(f"  transformers: {ex['transformers']}\n  llama.cpp:    {ex['llama.cpp']}")
    first = next((r for r in rows if r["outtype"] == "f32"), rows[0] if rows else None)
    if first and not first["chat_tokens_ok"]:
        print(f"\nchat prompt ids ({first['model']}): the logit and greedy checks use transformers' ids")
        print(
            f"  transformers: {first['chat_tokens']['transformers']}\n  llama.cpp:    {first['chat_tokens']['llama.cpp']}"
        )
    if first:
        ex = first["generation_examples"][0]
        print(f"\ngreedy sample ({first['model']} {first['outtype']}, prompt {PROMPTS[0]!r}):")
        print(f"  transformers: {ex['transformers']!r}\n  llama.cpp:    {ex['llama.cpp']!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")

    failed = [
        r
        for r in rows
        if r["outtype"] == "f32"
        and (
            r["token_mismatches"]
            or r["max_abs_logit_diff"] > args.f32_tol
            or r["argmax_agree"] != r["positions"]
            or r["generation_ids_same"] != r["generations"]
        )
    ]
    print(
        "\nOK: llama.cpp matches transformers" if not failed else f"\nFAILED: {len(failed)} f32 row(s) differ"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
