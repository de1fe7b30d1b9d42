"""A decoder-only transformer in the Llama family, small enough to read in one sitting.

RMSNorm (Zhang & Sennrich 2019), rotary position embeddings (Su et al. 2021; the "rotate half" layout used by
Hugging Face Llama, so exported weights need no permutation), SwiGLU MLP (Shazeer 2020), optional grouped-query
attention (Ainslie et al. 2023), tied or untied embeddings. No distributed code: ``train.parallelize`` shards it.

Build on the meta device, shard, ``to_empty()``, then ``init_weights()`` (torchtitan's recipe): ``init_weights``
is the only place parameters and the RoPE tables get values.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from train.config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 even under bf16 (as HF Llama does), then cast back before the gain.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)

    def init_weights(self) -> None:
        nn.init.ones_(self.weight)


def rope_tables(head_dim: int, max_seq_len: int, theta: float, device: torch.device | None = None) -> torch.Tensor:
    """(2, T, head_dim) cos and sin tables, each frequency repeated for both halves (rotate-half layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
    t = torch.arange(max_seq_len, dtype=torch.float32, device=device)
    freqs = torch.outer(t, inv_freq)  # (T, head_dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, head_dim)
    return torch.stack((emb.cos(), emb.sin()))


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, H, T, D); cos/sin: (T, D)
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.num_kv_heads, cfg.dim_head
        self.wq = nn.Linear(cfg.d_model, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(cfg.d_model, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(cfg.d_model, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape  # (B, T, C)
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        cos, sin = rope[0, :T].to(x.dtype), rope[1, :T].to(x.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv_heads != self.n_heads)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # (B, T, H*D)
        return self.wo(y)  # (B, T, C)

    def init_weights(self, std: float, out_std: float) -> None:
        for w in (self.wq, self.wk, self.wv):
            nn.init.normal_(w.weight, mean=0.0, std=std)
        nn.init.normal_(self.wo.weight, mean=0.0, std=out_std)


class SwiGLU(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.w_gate = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)
        self.w_up = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)
        self.w_down = nn.Linear(cfg.ffn_dim, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))  # (B, T, C)

    def init_weights(self, std: float, out_std: float) -> None:
        nn.init.normal_(self.w_gate.weight, mean=0.0, std=std)
        nn.init.normal_(self.w_up.weight, mean=0.0, std=std)
        nn.init.normal_(self.w_down.weight, mean=0.0, std=out_std)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), rope)
        x = x + self.mlp(self.mlp_norm(x))
        return x

    def init_weights(self, std: float, out_std: float) -> None:
        self.attn_norm.init_weights()
        self.mlp_norm.init_weights()
        self.attn.init_weights(std, out_std)
        self.mlp.init_weights(std, out_std)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        # A ModuleDict keyed "0".."L-1" keeps parameter names stable when parallelize wraps blocks.
        self.layers = nn.ModuleDict({str(i): Block(cfg) for i in range(cfg.n_layers)})
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.output = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        # Not persistent: derived from the config, so checkpoints and exports do not carry it.
        self.register_buffer(
            "rope", rope_tables(cfg.dim_head, cfg.max_seq_len, cfg.rope_theta), persistent=False
        )  # (2, T, D)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int64 -> logits (B, T, V)."""
        h = self.embed(tokens)  # (B, T, C)
        for block in self.layers.values():
            h = block(h, self.rope)
        h = self.norm(h)
        weight = self.embed.weight if self.output is None else self.output.weight
        return F.linear(h, weight)  # (B, T, V)

    @torch.no_grad()
    def init_weights(self, buffer_device: torch.device | None = None) -> None:
        """Give every parameter and the RoPE tables their initial values (after ``to_empty``)."""
        cfg = self.cfg
        self.rope = rope_tables(
            cfg.dim_head, cfg.max_seq_len, cfg.rope_theta, device=buffer_device or self.rope.device
        )
        # GPT-2's scaled init: residual output projections get std / sqrt(2 * n_layers).
        out_std = cfg.init_std / math.sqrt(2 * cfg.n_layers)
        nn.init.normal_(self.embed.weight, mean=0.0, std=cfg.init_std)
        for block in self.layers.values():
            block.init_weights(cfg.init_std, out_std)
        self.norm.init_weights()
        if self.output is not None:
            nn.init.normal_(self.output.weight, mean=0.0, std=cfg.init_std)


def num_params(cfg: ModelConfig) -> int:
    """Parameter count from the shapes alone (no model is built; works for 175B)."""
    d, h, kv, dh, f = cfg.d_model, cfg.n_heads, cfg.num_kv_heads, cfg.dim_head, cfg.ffn_dim
    per_block = d * h * dh * 2 + d * kv * dh * 2 + 3 * d * f + 2 * d
    embeddings = cfg.vocab_size * d * (1 if cfg.tie_embeddings else 2)
    return cfg.n_layers * per_block + embeddings + d


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6 N (non-embedding matmuls + output layer) plus attention scores (PaLM, App. B)."""
    n_matmul = num_params(cfg) - cfg.vocab_size * cfg.d_model * (0 if cfg.tie_embeddings else 1)
    # With tied embeddings the output projection is still a (d x V) matmul, so it counts once; input lookups don't.
    attention = 12 * cfg.n_layers * cfg.n_heads * cfg.dim_head * seq_len
    return 6 * n_matmul + attention
