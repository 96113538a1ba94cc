"""A token count without the model's tokenizer: an estimate, for providers that cannot count.

About four characters a token is what OpenAI and Anthropic document for English text; an image
counts as a fixed 1,000 tokens (Anthropic's rule of width x height / 750 needs its size, and a
typical screenshot comes to about that). Exact counts come from the upstream's own endpoint or the
in-house model's tokenizer (Provider.count_tokens); this is only the fallback, and says so.
"""

from __future__ import annotations

import math

import orjson

from multimodel.types import ChatRequest, ImagePart, TextPart

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1000
PER_MESSAGE = 4  # role markers and separators


def estimate_tokens(req: ChatRequest) -> int:
    chars = 0
    images = 0
    for m in req.messages:
        for p in m.content:
            if isinstance(p, TextPart):
                chars += len(p.text)
            elif isinstance(p, ImagePart):
                images += 1
        for c in m.tool_calls:
            chars += len(c.name) + len(c.arguments)
    for t in req.tools:
        chars += len(t.name) + len(t.description or "") + len(orjson.dumps(t.parameters))
    return math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS + PER_MESSAGE * len(req.messages)
