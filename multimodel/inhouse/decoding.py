"""Token-level helpers of the in-house decode loop: sampling, incremental detokenizing, stop sequences."""

from __future__ import annotations

from typing import Any

from multimodel.types import ChatRequest


class Sampler:
    """Picks the next token: greedy at temperature 0, else temperature / top-k / top-p sampling."""

    def __init__(self, request: ChatRequest, device: str) -> None:
        import torch

        self.temperature = 1.0 if request.temperature is None else request.temperature
        self.top_k = request.top_k or 0
        self.top_p = 1.0 if request.top_p is None else request.top_p
        self.generator = torch.Generator(device=device)
        if request.seed is None:
            self.generator.seed()  # a fresh random seed; the default one is a constant
        else:
            self.generator.manual_seed(request.seed)

    def pick(self, logits: Any) -> int:
        import torch

        logits = logits.float()
        if self.temperature <= 0:
            return int(logits.argmax())
        logits = logits / self.temperature
        if 0 < self.top_k < logits.numel():
            kth = torch.topk(logits, self.top_k).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            # Drop a token when the tokens above it already reach top_p (the top one always stays).
            drop = sorted_probs.cumsum(0) - sorted_probs >= self.top_p
            probs = probs.scatter(0, order, sorted_probs.masked_fill(drop, 0.0))
        return int(torch.multinomial(probs, 1, generator=self.generator))


class IncrementalDecoder:
    """Token ids -> text pieces, holding back incomplete UTF-8 (a multi-byte character split over
    tokens decodes as U+FFFD until its last byte arrives). Decoding a short window from the last
    settled point, rather than token by token, keeps tokenizers that add or strip spaces between
    tokens (SentencePiece) right."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # the window starts here ...
        self.read = 0  # ... and the text up to here has been returned

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def add(self, token: int) -> str:
        self.ids.append(token)
        return self._advance(final=False)

    def flush(self) -> str:
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        done = self._decode(self.ids[self.prefix : self.read])
        text = self._decode(self.ids[self.prefix :])
        if len(text) <= len(done) or (text.endswith("\ufffd") and not final):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return text[len(done) :]


class StopMatcher:
    """Cuts the text at the first stop sequence. Holds back any tail that could still grow into
    one, so a stop string split over several tokens is never sent."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str, final: bool = False) -> tuple[str, str | None]:
        """Returns (text safe to send, the stop sequence found or None)."""
        if not self.stops:
            return text, None
        self.pending += text
        hits = [(i, s) for s in self.stops if (i := self.pending.find(s)) >= 0]
        if hits:
            i, stop = min(hits)
            out, self.pending = self.pending[:i], ""
            return out, stop
        keep = 0 if final else max((_overlap(self.pending, s) for s in self.stops), default=0)
        cut = len(self.pending) - keep
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, None


def _overlap(text: str, stop: str) -> int:
    """The length of the longest suffix of `text` that is a proper prefix of `stop`."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0
