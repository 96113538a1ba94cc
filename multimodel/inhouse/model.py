"""Our own decoder: a compact plain-PyTorch Llama whose weights map one-to-one onto `transformers`.

Why not train `LlamaForCausalLM` directly: measured on an H100, it reaches 31.7% MFU where a compact
decoder like this one reaches 39.9%. The module names below are Llama's own (`embed_tokens`,
`layers.N.self_attn.q_proj`, ...), so `hf.py` maps weights by adding a prefix, and the tests check
that both models give identical logits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DecoderConfig:
    vocab_size: int  # already padded (see pad_vocab)
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int  # grouped-query attention; == n_heads for plain multi-head attention
    ffn_dim: int  # SwiGLU hidden size
    max_seq_len: int
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    # Training-time regularisation only (attention weights and residual branches, as in nanoGPT);
    # inactive in eval mode, so it changes nothing in the exported model.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "max_seq_len"):
            if getattr(self, name) <= 0:
                raise ValueError(f"DecoderConfig.{name} must be positive, got {getattr(self, name)}")
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown DecoderConfig fields: {', '.join(unknown)}")
        return cls(**d)

    def num_params(self, exclude_embedding: bool = False) -> int:
        """Parameter count from the shapes alone (no allocation); equals `Decoder(self).num_params()`.

        `exclude_embedding` drops the input token table; with tied embeddings that table is also the
        output head, so the head goes with it.
        """
        kv_dim = self.n_kv_heads * self.head_dim
        attention = 2 * self.dim * self.dim + 2 * self.dim * kv_dim  # q, o; k, v
        mlp = 3 * self.dim * self.ffn_dim  # gate, up, down
        per_layer = attention + mlp + 2 * self.dim  # two RMSNorm weights
        table = self.vocab_size * self.dim
        head = 0 if self.tie_embeddings else table
        total = self.n_layers * per_layer + self.dim + table + head  # + final norm
        return total - table if exclude_embedding else total

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward), the PaLM / nanoGPT / nanochat estimate:

            6 * N  +  12 * n_layers * dim * seq_len

        N counts every weight that takes part in a matmul: all parameters except the input token
        table (a lookup costs no FLOPs), *plus* the output head's vocab_size * dim even when it is
        tied to that table (the head matmul runs either way). The second term is attention's
        QK^T and AV matmuls (2 * 2 * dim * seq_len per layer forward, x3 for forward + backward),
        counted over the full seq_len x seq_len square as PaLM does, not halved for the causal mask.
        Norm weights are in N too; they are noise next to the matmuls.
        """
        n = self.num_params(exclude_embedding=True) + (
            self.vocab_size * self.dim if self.tie_embeddings else 0
        )
        return 6.0 * n + 12.0 * self.n_layers * self.dim * seq_len


# Named shapes. Every head_dim is 64 or 128 (what flash-attention kernels, vLLM and llama.cpp expect).
# ffn_dim is about 8/3 * dim rounded up, so SwiGLU's three matrices cost what GPT's two 4*dim ones do.
# The counts in the names are totals with a 32k-50k vocabulary (checked in tests/inhouse/test_model.py).
SIZES: dict[str, dict[str, Any]] = {
    # ~1M with a 512-token vocabulary: unit tests and CPU smoke runs.
    "tiny": {"dim": 128, "n_layers": 4, "n_heads": 2, "n_kv_heads": 2, "ffn_dim": 384},
    # ~10M with an 8k-16k vocabulary.
    "mini": {"dim": 256, "n_layers": 8, "n_heads": 4, "n_kv_heads": 4, "ffn_dim": 768},
    # nanoGPT's char-level Shakespeare shape: 6 layers, 6 heads, 384 wide.
    "small": {"dim": 384, "n_layers": 6, "n_heads": 6, "n_kv_heads": 6, "ffn_dim": 1024},
    # GPT-2 small's shape: 12 layers, 12 heads, 768 wide.
    "124m": {"dim": 768, "n_layers": 12, "n_heads": 12, "n_kv_heads": 12, "ffn_dim": 2048},
    # GPT-2 medium's shape: 24 layers, 16 heads, 1024 wide.
    "350m": {"dim": 1024, "n_layers": 24, "n_heads": 16, "n_kv_heads": 16, "ffn_dim": 2816},
    # TinyLlama 1.1B's shape. Untied, like TinyLlama: with a 2048-wide tied table a fresh model's
    # logit for its own input token is ~0.02 * dim = 41, so training would start far above ln(vocab).
    "1b": {
        "dim": 2048,
        "n_layers": 22,
        "n_heads": 32,
        "n_kv_heads": 4,
        "ffn_dim": 5632,
        "tie_embeddings": False,
    },
}


def pad_vocab(n: int, multiple: int = 128) -> int:
    """Round a tokenizer's vocabulary size up to `multiple`: faster matmuls, and what vLLM expects."""
    return -(-n // multiple) * multiple


def config_for(size: str, vocab_size: int, max_seq_len: int, **overrides: Any) -> DecoderConfig:
    """The named `size` for a tokenizer of `vocab_size` entries (padded here) and a context length."""
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of: {', '.join(SIZES)}")
    return DecoderConfig(
        **{"vocab_size": pad_vocab(vocab_size), "max_seq_len": max_seq_len, **SIZES[size], **overrides}
    )


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    # Llama's convention (halves, not interleaved pairs), so q_proj/k_proj map to HF unpermuted.
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_tables(
    cfg: DecoderConfig, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (max_seq_len, head_dim) float32, computed exactly as transformers' Llama does."""
    hd = cfg.head_dim
    inv_freq = 1.0 / (
        cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64, device=device).float() / hd)
    )
    t = torch.arange(cfg.max_seq_len, dtype=torch.int64, device=device).float()
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)  # under autocast q is bf16; keep SDPA's inputs alike
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # enable_gqa shares each k/v head with n_heads // n_kv_heads consecutive query heads, which
        # is HF's repeat_kv, without materialising the repeated tensors.
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=p, enable_gqa=self.n_kv_heads != self.n_heads
        )
        return F.dropout(self.o_proj(y.transpose(1, 2).reshape(b, t, -1)), p, self.training)


class MLP(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.up_proj = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return F.dropout(out, self.dropout, self.training) if self.dropout else out


class Block(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """Llama: token embedding, n_layers pre-norm blocks (RoPE attention, SwiGLU MLP), RMSNorm, head."""

    rope_cos: torch.Tensor
    rope_sin: torch.Tensor

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        # Derived from the config, so not saved; a checkpoint holds only learned weights.
        self.register_buffer("rope_cos", torch.empty(0), persistent=False)
        self.register_buffer("rope_sin", torch.empty(0), persistent=False)
        self.init_weights()

    def init_rope(self) -> None:
        """(Re)compute the RoPE tables on the model's device."""
        cos, sin = rope_tables(self.cfg, device=self.embed_tokens.weight.device)
        self.rope_cos, self.rope_sin = cos, sin

    def materialize(self, device: torch.device | str) -> Decoder:
        """Give a model built under `torch.device("meta")` real, uninitialised storage on `device`,
        with the RoPE tables computed; then load a state dict or call `init_weights()`.

        Plain `to_empty()` is not enough: it gives the tied head its own tensor, untying it.
        """
        self.to_empty(device=device)
        if self.cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.init_rope()
        return self

    def init_weights(self) -> None:
        """Fresh weights: N(0, 0.02) everywhere, norms at 1, and the two projections that write into
        the residual stream (o_proj, down_proj) at 0.02 / sqrt(2 * n_layers), GPT-2's scaling, so the
        stream's variance does not grow with depth (2 such writes per layer). Also sets the RoPE tables.
        """
        self.init_rope()
        residual_std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                std = residual_std if name.endswith(("o_proj", "down_proj")) else 0.02
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, nn.RMSNorm):
                nn.init.ones_(module.weight)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab_size) in float32. With `targets`: the logits in the compute dtype
        (bf16 under autocast) and the mean cross-entropy over every position whose target is not -1."""
        t = idx.size(1)
        if t > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than max_seq_len {self.cfg.max_seq_len}")
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits.float(), None
        # The float32 copy of a training batch's logits (its largest tensor: 3.3 GB at 124m, batch
        # 16, context 1024) is never an output here, so a compiled step fuses the upcast into the
        # loss instead of writing it out.
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def num_params(self, exclude_embedding: bool = False) -> int:
        """Parameters, each shared tensor once; `exclude_embedding` as in `DecoderConfig.num_params`."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed_tokens.weight.numel() if exclude_embedding else n

    def flops_per_token(self, seq_len: int) -> float:
        """6 * N + 12 * n_layers * dim * seq_len; see `DecoderConfig.flops_per_token`."""
        return self.cfg.flops_per_token(seq_len)

    def configure_optimizer(
        self,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float] = (0.9, 0.95),
        fused: bool | None = None,
    ) -> torch.optim.AdamW:
        """AdamW that decays the 2-D weights (matmuls, embedding) but not the norm gains.

        `fused=None` picks the fused CUDA kernel when every parameter is on a GPU.
        """
        params = [p for p in self.parameters() if p.requires_grad]
        if fused is None:
            fused = bool(params) and all(p.device.type == "cuda" for p in params)
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)
