"""A tiny decoder-only transformer in pure numpy: the built-in LLM benchmark's model.

Token and position embeddings, :data:`NUM_LAYERS` pre-LayerNorm blocks (multi-head causal
self-attention, a GELU feed-forward), a final LayerNorm and a projection to :data:`VOCAB_SIZE`
logits; greedy decoding. The weights are random but fixed by a seed, so the text is meaningless yet
reproducible: the point is a real LLM-shaped CPU load (a prefill over the prompt, then one token per
step from a KV cache, several sequences batched), not language.

Attention of a query at position ``t`` over keys ``0..t``::

    a = softmax(q k^T / sqrt(d_head)) v

A :class:`KVCache` holds every layer's keys and values of the positions seen so far, per slot (one
sequence each): a prefill writes the prompt's and a decode step appends one position, so neither
recomputes the past; :meth:`TinyLanguageModel.full_logits` recomputes everything and gives the same
logits (up to float32 rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "D_FF",
    "D_MODEL",
    "MAX_CONTEXT",
    "NUM_HEADS",
    "NUM_LAYERS",
    "OUTPUT_TOKENS_RANGE",
    "PROMPT_TOKENS_RANGE",
    "VOCAB_SIZE",
    "KVCache",
    "LlmSample",
    "TinyLanguageModel",
    "synthetic_prompts",
]

VOCAB_SIZE = 512
D_MODEL = 256
NUM_HEADS = 4
NUM_LAYERS = 4
D_FF = 1024
MAX_CONTEXT = 192
"""Prompt plus generated tokens of one sequence, at most."""
PROMPT_TOKENS_RANGE = (16, 96)
"""Prompt lengths of the synthetic data set, inclusive."""
OUTPUT_TOKENS_RANGE = (16, 64)
"""Output lengths (tokens to generate) of the synthetic data set, inclusive; at least 2, as LoadGen's
time per output token needs."""

_D_HEAD = D_MODEL // NUM_HEADS
_LN_EPS = np.float32(1e-5)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class LlmSample:
    """One query of the data set: a prompt and how many tokens to generate for it."""

    prompt: IntArray
    output_tokens: int


def synthetic_prompts(count: int, seed: int = 0) -> list[LlmSample]:
    """``count`` seeded samples: prompts of uniform random tokens, lengths uniform in
    :data:`PROMPT_TOKENS_RANGE` and output lengths in :data:`OUTPUT_TOKENS_RANGE`."""
    if count < 0:
        raise ValueError(f"sample count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(PROMPT_TOKENS_RANGE[0], PROMPT_TOKENS_RANGE[1] + 1, size=count)
    outputs = rng.integers(OUTPUT_TOKENS_RANGE[0], OUTPUT_TOKENS_RANGE[1] + 1, size=count)
    return [
        LlmSample(rng.integers(0, VOCAB_SIZE, size=int(n)).astype(np.int32), int(out))
        for n, out in zip(lengths, outputs, strict=True)
    ]


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> FloatArray:
    weights: FloatArray = (rng.standard_normal(shape) * scale).astype(np.float32)
    return weights


def _layer_norm(x: FloatArray, gain: FloatArray, bias: FloatArray) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    out: FloatArray = centred / np.sqrt(variance + _LN_EPS) * gain + bias
    return out


def _gelu(x: FloatArray) -> FloatArray:
    inner = np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)
    return (_HALF * x * (_ONE + np.tanh(inner))).astype(np.float32, copy=False)


def _softmax_last(scores: FloatArray) -> FloatArray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    out: FloatArray = shifted / shifted.sum(axis=-1, keepdims=True)
    return out


class _Block:
    """One transformer block's weights."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.ln1_gain = np.ones(D_MODEL, dtype=np.float32)
        self.ln1_bias = np.zeros(D_MODEL, dtype=np.float32)
        self.qkv = _normal(rng, (D_MODEL, 3 * D_MODEL), 1.0 / np.sqrt(D_MODEL))
        self.proj = _normal(rng, (D_MODEL, D_MODEL), 1.0 / np.sqrt(D_MODEL) / np.sqrt(2 * NUM_LAYERS))
        self.ln2_gain = np.ones(D_MODEL, dtype=np.float32)
        self.ln2_bias = np.zeros(D_MODEL, dtype=np.float32)
        self.ff_in = _normal(rng, (D_MODEL, D_FF), 1.0 / np.sqrt(D_MODEL))
        self.ff_out = _normal(rng, (D_FF, D_MODEL), 1.0 / np.sqrt(D_FF) / np.sqrt(2 * NUM_LAYERS))

    def feed_forward(self, x: FloatArray) -> FloatArray:
        out: FloatArray = _gelu(_layer_norm(x, self.ln2_gain, self.ln2_bias) @ self.ff_in) @ self.ff_out
        return out

    def qkv_heads(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Queries, keys and values of ``x`` ``(N, D_MODEL)``, each ``(NUM_HEADS, N, D_HEAD)``."""
        qkv = (_layer_norm(x, self.ln1_gain, self.ln1_bias) @ self.qkv).reshape(len(x), 3, NUM_HEADS, _D_HEAD)
        heads = qkv.transpose(1, 2, 0, 3)
        return heads[0], heads[1], heads[2]


class KVCache:
    """Keys and values of every layer for up to ``slots`` sequences of up to :data:`MAX_CONTEXT` tokens.

    ``keys[layer, slot, head, position]`` is one ``D_HEAD`` vector; ``lengths[slot]`` is how many
    positions of the slot are filled. A slot is reused by :meth:`TinyLanguageModel.prefill`, which
    overwrites it from position 0.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a KV cache needs at least 1 slot, got {slots}")
        shape = (NUM_LAYERS, slots, NUM_HEADS, MAX_CONTEXT, _D_HEAD)
        self.keys = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.lengths = np.zeros(slots, dtype=np.int64)

    @property
    def slots(self) -> int:
        return len(self.lengths)


class TinyLanguageModel:
    """The decoder (see the module docstring); ``np.random.default_rng(seed)`` draws its weights."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.token_embedding = _normal(rng, (VOCAB_SIZE, D_MODEL), 1.0)
        self.position_embedding = _normal(rng, (MAX_CONTEXT, D_MODEL), 0.1)
        self.blocks = [_Block(rng) for _ in range(NUM_LAYERS)]
        self.final_gain = np.ones(D_MODEL, dtype=np.float32)
        self.final_bias = np.zeros(D_MODEL, dtype=np.float32)
        self.unembedding = _normal(rng, (D_MODEL, VOCAB_SIZE), 2.0 / np.sqrt(D_MODEL))

    def _embed(self, tokens: IntArray, positions: npt.NDArray[np.int64]) -> FloatArray:
        x: FloatArray = self.token_embedding[tokens] + self.position_embedding[positions]
        return x

    def _logits(self, x: FloatArray) -> FloatArray:
        logits: FloatArray = _layer_norm(x, self.final_gain, self.final_bias) @ self.unembedding
        return logits

    def full_logits(self, tokens: Sequence[int] | IntArray) -> FloatArray:
        """Next-token logits after every position of ``tokens``, ``(T, VOCAB_SIZE)``, recomputed from
        scratch with a causal mask (no cache)."""
        ids = _check_tokens(tokens, MAX_CONTEXT)
        count = len(ids)
        x = self._embed(ids, np.arange(count))
        causal = np.triu(np.full((count, count), -np.inf, dtype=np.float32), k=1)
        for block in self.blocks:
            q, k, v = block.qkv_heads(x)
            weights = _softmax_last(q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(_D_HEAD)) + causal)
            attended = (weights @ v).transpose(1, 0, 2).reshape(count, D_MODEL)
            x = (x + attended @ block.proj).astype(np.float32, copy=False)
            x = x + block.feed_forward(x)
        return self._logits(x)

    def prefill(self, cache: KVCache, slot: int, prompt: Sequence[int] | IntArray) -> FloatArray:
        """Fill ``slot`` of ``cache`` with ``prompt``'s keys and values; the logits of the token after the
        prompt, ``(VOCAB_SIZE,)``."""
        if not 0 <= slot < cache.slots:
            raise ValueError(f"slot {slot} is not in a cache of {cache.slots} slots")
        ids = _check_tokens(prompt, MAX_CONTEXT)
        count = len(ids)
        x = self._embed(ids, np.arange(count))
        causal = np.triu(np.full((count, count), -np.inf, dtype=np.float32), k=1)
        for layer, block in enumerate(self.blocks):
            q, k, v = block.qkv_heads(x)
            cache.keys[layer, slot, :, :count] = k
            cache.values[layer, slot, :, :count] = v
            weights = _softmax_last(q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(_D_HEAD)) + causal)
            attended = (weights @ v).transpose(1, 0, 2).reshape(count, D_MODEL)
            x = (x + attended @ block.proj).astype(np.float32, copy=False)
            x = x + block.feed_forward(x)
        cache.lengths[slot] = count
        logits: FloatArray = self._logits(x[-1:])[0]
        return logits

    def decode(self, cache: KVCache, slots: Sequence[int] | npt.NDArray[np.int64], tokens: Sequence[int]) -> FloatArray:
        """One step for a batch: append ``tokens[i]`` to ``slots[i]``; the next-token logits of each,
        ``(len(slots), VOCAB_SIZE)``. The slots may hold sequences of different lengths: each attends only
        to its own filled positions."""
        slot_ids = np.asarray(slots, dtype=np.int64)
        ids = np.asarray(tokens, dtype=np.int32)
        if slot_ids.ndim != 1 or ids.shape != slot_ids.shape or len(slot_ids) == 0:
            raise ValueError(f"decode needs one token per slot, got {len(ids)} tokens for {len(slot_ids)} slots")
        if len(set(slot_ids.tolist())) != len(slot_ids):
            raise ValueError(f"decode got a slot twice: {slot_ids.tolist()}")
        positions = cache.lengths[slot_ids]
        if positions.min() < 1 or positions.max() >= MAX_CONTEXT:
            raise ValueError(f"decode needs prefilled slots with room left (lengths {positions.tolist()})")
        _check_tokens(ids, MAX_CONTEXT)
        batch = len(slot_ids)
        span = int(positions.max()) + 1
        visible = np.arange(span)[None, :] <= positions[:, None]  # (B, span)
        mask = np.where(visible, np.float32(0), np.float32(-np.inf))[:, None, None, :]
        x = self._embed(ids, positions)
        for layer, block in enumerate(self.blocks):
            q, k, v = block.qkv_heads(x)  # each (H, B, D_HEAD)
            cache.keys[layer, slot_ids, :, positions] = k.transpose(1, 0, 2)
            cache.values[layer, slot_ids, :, positions] = v.transpose(1, 0, 2)
            keys = cache.keys[layer, slot_ids, :, :span]  # (B, H, span, D_HEAD)
            values = cache.values[layer, slot_ids, :, :span]
            queries = q.transpose(1, 0, 2)[:, :, None, :]  # (B, H, 1, D_HEAD)
            scores = queries @ keys.transpose(0, 1, 3, 2) / np.float32(np.sqrt(_D_HEAD)) + mask
            attended = (_softmax_last(scores) @ values).reshape(batch, D_MODEL)
            x = (x + attended @ block.proj).astype(np.float32, copy=False)
            x = x + block.feed_forward(x)
        cache.lengths[slot_ids] = positions + 1
        return self._logits(x)

    def generate(self, prompt: Sequence[int] | IntArray, output_tokens: int) -> list[int]:
        """Greedy decoding of ``output_tokens`` tokens after ``prompt``, one sequence alone."""
        cache = KVCache(1)
        tokens = [int(self.prefill(cache, 0, prompt).argmax())]
        while len(tokens) < output_tokens:
            tokens.append(int(self.decode(cache, [0], [tokens[-1]])[0].argmax()))
        return tokens


def _check_tokens(tokens: Sequence[int] | IntArray, max_count: int) -> IntArray:
    ids = np.asarray(tokens, dtype=np.int32)
    if ids.ndim != 1 or not 1 <= len(ids) <= max_count:
        raise ValueError(f"expected 1 to {max_count} tokens in one dimension, got shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= VOCAB_SIZE:
        raise ValueError(f"token ids must be in 0..{VOCAB_SIZE - 1}, got {int(ids.min())}..{int(ids.max())}")
    return ids
