"""Our Decoder against transformers' LlamaForCausalLM: same weights, same logits, both directions.

The reference is transformers itself; nothing of ours is mocked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from multimodel.inhouse.export import export
from multimodel.inhouse.hf import from_hf, hf_config, to_hf_state_dict
from multimodel.inhouse.model import SIZES, Decoder, DecoderConfig, config_for, pad_vocab

CONFIGS = {
    "mha-tied": DecoderConfig(
        vocab_size=256, dim=128, n_layers=2, n_heads=2, n_kv_heads=2, ffn_dim=384, max_seq_len=64
    ),
    "gqa-untied": DecoderConfig(
        vocab_size=384,
        dim=256,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        ffn_dim=512,
        max_seq_len=64,
        rope_theta=500000.0,
        norm_eps=1e-6,
        tie_embeddings=False,
    ),
    "mqa-tied-hd128": DecoderConfig(
        vocab_size=128, dim=256, n_layers=1, n_heads=2, n_kv_heads=1, ffn_dim=256, max_seq_len=32
    ),
}


def build(cfg: DecoderConfig, seed: int = 0) -> Decoder:
    torch.manual_seed(seed)
    return Decoder(cfg).eval()


def hf_model(cfg: DecoderConfig) -> LlamaForCausalLM:
    return LlamaForCausalLM(
        LlamaConfig(**hf_config(cfg, bos_token_id=1, eos_token_id=2, pad_token_id=0))
    ).eval()


def random_ids(cfg: DecoderConfig, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randint(
        0, cfg.vocab_size, (batch, cfg.max_seq_len), generator=torch.Generator().manual_seed(seed)
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_weights_map_onto_llama_for_causal_lm(name: str) -> None:
    cfg = CONFIGS[name]
    ours = build(cfg)
    theirs = hf_model(cfg)
    state = to_hf_state_dict(ours)
    # Tied checkpoints omit the head (as save_pretrained does); the in-memory module still lists it.
    expected = set(theirs.state_dict()) - ({"lm_head.weight"} if cfg.tie_embeddings else set())
    assert set(state) == expected
    if cfg.tie_embeddings:
        state = {**state, "lm_head.weight": state["model.embed_tokens.weight"]}
    theirs.load_state_dict(state, strict=True)

    ids = random_ids(cfg)
    with torch.no_grad():
        logits, loss = ours(ids)
        reference = theirs(ids).logits
    assert loss is None
    assert logits.dtype == torch.float32 and logits.shape == (2, cfg.max_seq_len, cfg.vocab_size)
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", CONFIGS)
def test_from_hf_reads_save_pretrained(name: str, tmp_path: Path) -> None:
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    theirs = hf_model(cfg)
    theirs.save_pretrained(tmp_path)

    ours = from_hf(tmp_path).eval()
    assert ours.cfg == cfg
    assert (ours.lm_head.weight is ours.embed_tokens.weight) == cfg.tie_embeddings
    ids = random_ids(cfg)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids)[0], theirs(ids).logits, atol=1e-5, rtol=1e-5)


def test_from_hf_reads_sharded_bfloat16_checkpoint(tmp_path: Path) -> None:
    cfg = CONFIGS["gqa-untied"]
    torch.manual_seed(0)
    theirs = hf_model(cfg).bfloat16()
    theirs.save_pretrained(tmp_path, max_shard_size="500KB")
    assert (tmp_path / "model.safetensors.index.json").exists()

    ours = from_hf(tmp_path)
    assert ours.embed_tokens.weight.dtype == torch.float32
    torch.testing.assert_close(ours.lm_head.weight, theirs.lm_head.weight.float(), atol=0, rtol=0)


def test_from_hf_rejects_other_architectures(tmp_path: Path) -> None:
    config = hf_config(CONFIGS["mha-tied"], bos_token_id=1, eos_token_id=2, pad_token_id=None)
    (tmp_path / "config.json").write_text(
        json.dumps({**config, "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
    )
    with pytest.raises(ValueError, match="not a Llama checkpoint"):
        from_hf(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "rope_parameters": {"rope_type": "llama3"}}))
    with pytest.raises(ValueError, match="llama3"):
        from_hf(tmp_path)


def make_tokenizer_dir(path: Path, n_words: int = 200) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3} | {f"w{i}": 4 + i for i in range(n_words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        chat_template="{% for m in messages %}{{ m['content'] }} {{ eos_token }} {% endfor %}",
    )
    wrapped.save_pretrained(path)
    return path


def test_export_loads_in_transformers(tmp_path: Path) -> None:
    tokenizer_dir = make_tokenizer_dir(tmp_path / "tok")
    cfg = config_for("tiny", vocab_size=204, max_seq_len=64, n_layers=2)
    assert cfg.vocab_size == 256  # 204 tokens, padded
    model = build(cfg)
    out = export(model, tokenizer_dir, tmp_path / "out", meta={"run": "test"})

    config = json.loads((out / "config.json").read_text())
    assert config["head_dim"] in (64, 128) and config["vocab_size"] % 128 == 0
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (1, 2, 0)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["run"] == "test" and meta["parameters"] == model.num_params() and meta["format_version"] == 1
    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"

    theirs = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([tokenizer("w1 w2 w3 w199 w0")["input_ids"]])
    assert ids.tolist() == [[5, 6, 7, 203, 4]]
    assert tokenizer.apply_chat_template([{"role": "user", "content": "w1"}], tokenize=False) == "w1 <eos> "
    with torch.no_grad():
        torch.testing.assert_close(theirs(ids).logits, model(ids)[0], atol=1e-5, rtol=1e-5)


def test_export_bfloat16_and_tokenizer_too_large(tmp_path: Path) -> None:
    tokenizer_dir = make_tokenizer_dir(tmp_path / "tok", n_words=300)
    model = build(config_for("tiny", vocab_size=304, max_seq_len=32, n_layers=1))
    out = export(model, tokenizer_dir, tmp_path / "bf16", meta={}, dtype="bfloat16")
    theirs = AutoModelForCausalLM.from_pretrained(out)
    assert theirs.dtype == torch.bfloat16
    torch.testing.assert_close(theirs.model.embed_tokens.weight, model.embed_tokens.weight.bfloat16())

    small = build(config_for("tiny", vocab_size=128, max_seq_len=32, n_layers=1))
    with pytest.raises(ValueError, match="tokenizer has 304 tokens"):
        export(small, tokenizer_dir, tmp_path / "nope", meta={})


def test_named_sizes() -> None:
    with pytest.raises(ValueError, match="tiny, mini, small, 124m, 350m, 1b"):
        config_for("7b", vocab_size=1000, max_seq_len=128)
    assert pad_vocab(50257) == 50304 and pad_vocab(256) == 256
    for size in SIZES:
        assert config_for(size, vocab_size=32000, max_seq_len=2048).head_dim in (64, 128), size
    small = config_for("small", vocab_size=65, max_seq_len=256)
    assert (small.n_layers, small.n_heads, small.dim) == (6, 6, 384)
    # The names count every parameter, with a 32k (Llama-like) or 50k (GPT-2-like) vocabulary.
    for size, nominal in {"124m": 124e6, "350m": 350e6, "1b": 1e9}.items():
        for vocab in (32768, 50257):
            n = config_for(size, vocab_size=vocab, max_seq_len=2048).num_params()
            assert abs(n - nominal) / nominal < 0.2, (size, vocab, n)


@pytest.mark.parametrize("name", CONFIGS)
def test_analytic_param_count_and_flops(name: str) -> None:
    cfg = CONFIGS[name]
    model = build(cfg)
    assert cfg.num_params() == model.num_params()
    assert cfg.num_params(exclude_embedding=True) == model.num_params(exclude_embedding=True)
    assert DecoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # 6 * (every matmul weight, the head counted once) + 12 * L * d * T.
    matmul = sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and n != "embed_tokens.weight"
    )
    matmul += cfg.vocab_size * cfg.dim if cfg.tie_embeddings else 0
    norms = sum(p.numel() for p in model.parameters() if p.dim() == 1)
    expected = 6 * (matmul + norms) + 12 * cfg.n_layers * cfg.dim * 128
    assert model.flops_per_token(128) == expected


def test_initial_loss_is_uniform() -> None:
    cfg = config_for("tiny", vocab_size=512, max_seq_len=64)
    model = build(cfg)
    ids, targets = torch.randint(0, 512, (2, 2, 64), generator=torch.Generator().manual_seed(3))
    targets[0, :5] = -1  # ignored positions
    with torch.no_grad():
        _, loss = model(ids, targets)
    assert loss is not None
    assert abs(loss.item() - math.log(512)) < 0.3


def test_overfits_one_batch() -> None:
    cfg = config_for("tiny", vocab_size=256, max_seq_len=32, n_layers=2)
    model = build(cfg).train()
    data = torch.randint(0, 256, (4, 33), generator=torch.Generator().manual_seed(4))
    x, y = data[:, :-1], data[:, 1:]
    opt = model.configure_optimizer(lr=3e-3, weight_decay=0.1)
    assert [len(g["params"]) for g in opt.param_groups] == [
        1 + 7 * 2,
        2 * 2 + 1,
    ]  # embedding (= head) + 7 matrices a layer; norms
    losses = []
    for _ in range(50):
        _, loss = model(x, y)
        assert loss is not None
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_dropout_trains_only_and_leaves_eval_logits_alone() -> None:
    torch.manual_seed(0)
    plain = Decoder(config_for("tiny", 256, 32))
    dropped = Decoder(config_for("tiny", 256, 32, dropout=0.3))
    dropped.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 256, (2, 16))
    plain.eval(), dropped.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropped(ids)[0], plain(ids)[0])  # eval: identical
        dropped.train()
        a, b = dropped(ids)[0], dropped(ids)[0]
    assert not torch.equal(a, b)  # training: random masks
    with pytest.raises(ValueError, match="dropout"):
        config_for("tiny", 256, 32, dropout=1.0)
