"""The in-house provider: a Hugging Face-format causal LM served with `transformers` in-process.

torch and transformers are imported in `start`, not at module import, so the gateway starts
fast when no in-house model is configured.

Concurrency: one generation (or embedding batch) at a time per model. Forward passes of a small
model on CPU are bound by per-layer Python overhead and the GIL: two house-tiny generations in
parallel threads ran at ~200 tokens/s together against ~230 one after the other (2-core CPU),
so parallelism only interleaves them. Queued requests wait on an asyncio lock (no thread is
held while waiting) and are served in arrival order; a generation holds it until its worker
thread ends, not until its client has read everything.

Each generation runs in its own worker thread (the decode loop below) that hands token ids to
the event loop with `call_soon_threadsafe`: about 10 µs per token, against about 150 µs for an
`asyncio.to_thread` hop per step (measured, same CPU). The async side detokenizes, matches stop
sequences and counts, so `Usage` counts exactly the tokens behind the text sent (the end token
included). When the consumer stops (break + `aclose`, task cancelled) a flag stops the thread
before its next forward pass.

Work that grows with the request never runs on the event loop: building and tokenizing the prompt
and tokenizing embedding inputs run in a worker thread (`asyncio.to_thread`; the tokenizer releases
the GIL), outside the model's locks, so they neither stall other clients nor wait for (or hold up)
a generation. Before that, a prompt or input whose length in characters proves it over the context
window (see `token_span`) is refused without tokenizing it, and an embedding request is bounded in
inputs and tokens; the stop sequences matched per token on the loop are bounded in number.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from multimodel.config.schema import DeploymentConfig, ProviderOptions
from multimodel.errors import ConfigError, GatewayError
from multimodel.inhouse.decoding import IncrementalDecoder, Sampler, StopMatcher
from multimodel.inhouse.token_span import max_token_span
from multimodel.providers.base import Capabilities, Provider, ProviderContext
from multimodel.types import (
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Event,
    Finish,
    ImagePart,
    TextDelta,
    Usage,
)

DEFAULT_MAX_TOKENS = 256
_EMBED_BATCH = 32
# Per embedding request, as OpenAI's API: inputs, and tokens over all of them.
MAX_EMBED_INPUTS = 2048
MAX_EMBED_TOKENS = 300_000
# Each is matched against the text after every token, on the event loop (OpenAI allows 4).
MAX_STOP_SEQUENCES = 64
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


class InhouseOptions(ProviderOptions):
    device: str = "auto"  # auto: cuda when there is a GPU, else cpu; or any torch device
    # float32 on CPU (half precision is slow there); bfloat16 by default on a GPU.
    dtype: Literal["float32", "bfloat16", "float16"] | None = None


class InhouseProvider(Provider):
    capabilities: ClassVar[Capabilities] = Capabilities(tools=False, vision=False, embeddings=True)
    Options: ClassVar[type[ProviderOptions]] = InhouseOptions
    options: InhouseOptions

    def __init__(self, config: DeploymentConfig, ctx: ProviderContext) -> None:
        super().__init__(config, ctx)
        self.directory = Path(config.model).expanduser()
        self._model: Any = None
        self._tokenizer: Any = None
        self._window = 0  # the context window, in tokens
        self._span: int | None = None  # the most characters one token covers (None: unknown)
        self._device = "cpu"
        self._cache_arg = "past_key_values"
        self._extra_args: dict[str, int] = {}
        # Orders requests; released by a generation's worker thread when it ends (see stream).
        self._queue_lock = asyncio.Lock()
        # Held by whichever thread runs the model, so that an embedding batch whose caller was
        # cancelled (its thread cannot be stopped) finishes before the next forward pass.
        self._model_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def validate(cls, config: DeploymentConfig) -> str | None:
        problem = _check_dir(Path(config.model).expanduser())
        return f"field 'model': in-house model directory {config.model}: {problem}" if problem else None

    async def start(self) -> None:
        problem = _check_dir(self.directory)
        if problem:
            raise ConfigError(
                f"model {self.config.id!r}: in-house model directory {self.directory}: {problem}"
            )
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers import __version__ as transformers_version
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a progress bar per load is noise in a server's log

        device = self.options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.options.dtype or ("float32" if device == "cpu" else "bfloat16")
        try:
            dtype = getattr(torch, str(dtype_name))
            tokenizer = AutoTokenizer.from_pretrained(self.directory)
            # `torch_dtype` was renamed `dtype` in transformers 4.56.
            new_name = tuple(int(x) for x in transformers_version.split(".")[:2]) >= (4, 56)
            kw = {"dtype" if new_name else "torch_dtype": dtype}
            model: Any = AutoModelForCausalLM.from_pretrained(self.directory, **kw)
            model.to(device)
        except (OSError, ValueError, AttributeError, RuntimeError, KeyError) as e:
            msg = " ".join(str(e).split())[:300]
            raise ConfigError(
                f"model {self.config.id!r}: cannot load in-house model from {self.directory}: {msg}"
            ) from None
        model.eval()
        params = inspect.signature(model.forward).parameters
        # transformers 5 renamed the KV-cache argument and output field `past_key_values` -> `cache`.
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        # Only the last position's logits are needed; all of them for a long prompt and a large
        # vocabulary would take gigabytes. (The argument's name changed in transformers 4.50.)
        self._extra_args = {k: 1 for k in ("logits_to_keep", "num_logits_to_keep") if k in params}
        self._window, self._span = _context_window(model), max_token_span(tokenizer)
        self._tokenizer, self._model, self._device = tokenizer, model, device

    async def close(self) -> None:
        self._model = self._tokenizer = None

    async def check(self) -> str | None:
        if self._model is not None:
            return None
        return _check_dir(self.directory)

    # --- chat --------------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event | list[Event]]:
        tokenizer, model = self._loaded()
        prompt_ids = await asyncio.to_thread(self._prompt_ids, request, tokenizer)
        room = self._window - len(prompt_ids)
        max_tokens = min(request.max_tokens or DEFAULT_MAX_TOKENS, room)
        sampler = Sampler(request, self._device)
        eos_ids = _eos_ids(tokenizer, model)
        decoder = IncrementalDecoder(tokenizer)
        stops = StopMatcher(request.stop)

        queue: asyncio.Queue[int | BaseException | None] = asyncio.Queue()
        cancel = threading.Event()
        await self._start_worker(model, prompt_ids, max_tokens, sampler, eos_ids, queue, cancel)
        output_tokens = 0
        finish = Finish("length")
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise GatewayError("api_error", f"in-house model {self.config.id!r} failed: {item}")
                output_tokens += 1
                if item in eos_ids:
                    finish = Finish("stop")
                    break
                text, stop = stops.feed(decoder.add(item))
                if text:
                    yield TextDelta(text)
                if stop is not None:
                    finish = Finish("stop_sequence", stop_sequence=stop)
                    break
            if finish.reason != "stop_sequence":
                text, stop = stops.feed(decoder.flush(), final=True)
                if text:
                    yield TextDelta(text)
                if stop is not None:
                    finish = Finish("stop_sequence", stop_sequence=stop)
        finally:
            cancel.set()
        yield Usage(input_tokens=len(prompt_ids), output_tokens=output_tokens)
        yield finish

    async def _start_worker(
        self,
        model: Any,
        prompt_ids: list[int],
        max_tokens: int,
        sampler: Sampler,
        eos_ids: set[int],
        queue: asyncio.Queue[int | BaseException | None],
        cancel: threading.Event,
    ) -> None:
        """Wait for the model, then start a worker thread feeding `queue`. The worker, not the
        consumer, releases the queue lock when it ends: a slow reader does not hold up the next
        request, and a cancelled one frees the model as soon as its thread has stopped."""
        loop = asyncio.get_running_loop()

        def call(fn: Callable[..., object], *args: object) -> None:
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                cancel.set()

        await self._queue_lock.acquire()
        worker = threading.Thread(
            target=self._decode_loop,
            args=(model, prompt_ids, max_tokens, sampler, eos_ids, cancel),
            kwargs={
                "put": lambda item: call(queue.put_nowait, item),
                "done": lambda: call(self._queue_lock.release),
            },
            name=f"multimodel-inhouse:{self.config.id}",
            daemon=True,
        )
        try:
            worker.start()
        except BaseException:
            self._queue_lock.release()
            raise

    def _decode_loop(
        self,
        model: Any,
        prompt_ids: list[int],
        max_tokens: int,
        sampler: Sampler,
        eos_ids: set[int],
        cancel: threading.Event,
        put: Callable[[int | BaseException | None], None],
        done: Callable[[], None],
    ) -> None:
        """Worker thread: prefill, then one forward pass per token with the KV cache."""
        import torch

        try:
            with self._model_lock, torch.inference_mode():
                input_ids = torch.tensor([prompt_ids], device=self._device)
                past = None
                for _ in range(max_tokens):
                    if cancel.is_set():
                        return
                    out = model(
                        input_ids=input_ids, use_cache=True, **{self._cache_arg: past}, **self._extra_args
                    )
                    past = getattr(out, self._cache_arg)
                    token = sampler.pick(out.logits[0, -1])
                    put(token)
                    if token in eos_ids:
                        return
                    input_ids = torch.tensor([[token]], device=self._device)
        except Exception as e:  # reported to the consumer as an error event
            put(e)
        finally:
            put(None)
            done()

    def _validate(self, request: ChatRequest) -> None:
        name = self.config.id
        if request.tools:
            raise GatewayError("invalid_request", f"model {name!r} does not support tools", param="tools")
        if len(request.stop) > MAX_STOP_SEQUENCES:
            raise GatewayError(
                "invalid_request",
                f"model {name!r} accepts at most {MAX_STOP_SEQUENCES} stop sequences",
                param="stop",
            )
        for m in request.messages:
            if m.role == "tool" or m.tool_calls:
                raise GatewayError(
                    "invalid_request", f"model {name!r} does not support tools", param="messages"
                )
            if any(isinstance(p, ImagePart) for p in m.content):
                raise GatewayError(
                    "invalid_request", f"model {name!r} does not support images", param="messages"
                )

    def _prompt_ids(self, request: ChatRequest, tokenizer: Any) -> list[int]:
        """Worker thread: the prompt's token ids, once it is known to leave room for an answer."""
        self._validate(request)
        name, window = self.config.id, self._window
        messages = [{"role": m.role, "content": m.text()} for m in request.messages]
        # The template writes its own special tokens (bos, turn markers); role lines get the
        # tokenizer's.
        templated = bool(getattr(tokenizer, "chat_template", None))
        if templated:
            try:
                prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception as e:  # jinja2 errors: the template rejects these messages
                raise GatewayError("invalid_request", f"model {name!r}: {e}", param="messages") from None
        else:
            prompt = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        if (least := _least_tokens(prompt, self._span)) >= window:
            raise _too_long(
                f"the prompt is at least {least} tokens ({len(prompt)} characters); "
                f"model {name!r} has a context window of {window}",
                "messages",
            )
        ids = list(tokenizer(prompt, add_special_tokens=not templated)["input_ids"])
        if len(ids) >= window:
            raise _too_long(
                f"the prompt is {len(ids)} tokens; model {name!r} has a context window of {window}",
                "messages",
            )
        return ids

    async def count_tokens(self, request: ChatRequest) -> int:
        """Exact: the prompt as it would be sent, by the model's own tokenizer (off the loop)."""
        tokenizer, _ = self._loaded()
        return len(await asyncio.to_thread(self._prompt_ids, request, tokenizer))

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            raise GatewayError("overloaded", f"in-house model {self.config.id!r} is not loaded")
        return self._tokenizer, self._model

    # --- embeddings --------------------------------------------------------------------------

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        tokenizer, model = self._loaded()
        name = self.config.id
        self._check_embed_size(request.inputs)
        seqs = await asyncio.to_thread(self._embed_ids, request.inputs, tokenizer, model.config.vocab_size)
        hidden = model.config.hidden_size
        dims = request.dimensions
        if dims is not None and not 0 < dims <= hidden:
            raise GatewayError(
                "invalid_request",
                f"dimensions must be between 1 and {hidden} for model {name!r}",
                param="dimensions",
            )
        async with self._queue_lock:
            vectors = await asyncio.to_thread(self._embed_batches, seqs, dims)
        return EmbedResult(vectors=vectors, input_tokens=sum(len(s) for s in seqs))

    def _check_embed_size(self, inputs: list[str] | list[list[int]]) -> None:
        """Refuse too many inputs, or inputs too long by their length alone, before any work."""
        if not inputs:
            raise GatewayError("invalid_request", "input must not be empty", param="input")
        if len(inputs) > MAX_EMBED_INPUTS:
            raise GatewayError(
                "invalid_request",
                f"input holds {len(inputs)} items; at most {MAX_EMBED_INPUTS} per request",
                param="input",
            )
        least = [_least_tokens(x, self._span) for x in inputs]
        for i, n in enumerate(least):
            if n > self._window:
                raise self._input_too_long(i, f"at least {n}" if isinstance(inputs[i], str) else str(n))
        if sum(least) > MAX_EMBED_TOKENS:
            raise _too_many_tokens(f"at least {sum(least)}")

    def _embed_ids(self, inputs: list[str] | list[list[int]], tokenizer: Any, vocab: int) -> list[list[int]]:
        """Worker thread: each input's token ids, checked."""
        texts = [x for x in inputs if isinstance(x, str)]
        # One batch call: the tokenizer spreads it over the cores and releases the GIL.
        encoded = iter(tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else [])
        seqs = [list(next(encoded)) if isinstance(x, str) else list(x) for x in inputs]
        for i, ids in enumerate(seqs):
            if not ids:
                raise GatewayError("invalid_request", f"input[{i}] is empty", param="input")
            if len(ids) > self._window:
                raise self._input_too_long(i, str(len(ids)))
            if any(not isinstance(t, int) or not 0 <= t < vocab for t in ids):
                raise GatewayError(
                    "invalid_request", f"input[{i}] has a token id outside 0..{vocab - 1}", param="input"
                )
        if (total := sum(map(len, seqs))) > MAX_EMBED_TOKENS:
            raise _too_many_tokens(str(total))
        return seqs

    def _input_too_long(self, i: int, tokens: str) -> GatewayError:
        return _too_long(
            f"input[{i}] is {tokens} tokens; model {self.config.id!r} accepts at most {self._window}",
            "input",
        )

    def _embed_batches(self, seqs: list[list[int]], dims: int | None) -> list[list[float]]:
        import torch

        pad = self._tokenizer.pad_token_id or 0
        vectors: list[list[float]] = []
        with self._model_lock, torch.inference_mode():
            for start in range(0, len(seqs), _EMBED_BATCH):
                batch = seqs[start : start + _EMBED_BATCH]
                width = max(len(s) for s in batch)
                ids = torch.tensor([s + [pad] * (width - len(s)) for s in batch], device=self._device)
                mask = torch.tensor(
                    [[1] * len(s) + [0] * (width - len(s)) for s in batch], device=self._device
                )
                hidden = self._model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(dim=1) / m.sum(dim=1)
                if dims is not None:
                    pooled = pooled[:, :dims]  # Matryoshka-style: truncate, then renormalise
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                vectors.extend(pooled.cpu().tolist())
        return vectors


# --- helpers -----------------------------------------------------------------------------------


def _check_dir(directory: Path) -> str | None:
    """Why `directory` cannot be a model directory, or None; cheap (no torch import)."""
    if not directory.is_dir():
        return "no such directory"
    config = directory / "config.json"
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no config.json (not a Hugging Face model directory)"
    except (OSError, ValueError):
        return "config.json is not readable JSON"
    if not any((directory / f).is_file() for f in _WEIGHT_FILES):
        return "no weights (model.safetensors or pytorch_model.bin)"
    if not any((directory / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        return "no tokenizer files"
    return None


def _too_long(message: str, param: str) -> GatewayError:
    """The error of an upstream's too-long prompt: a 400 `context_length_exceeded`, which a
    `fallback_on: [context_length]` policy may send on to a model with a larger window."""
    err = GatewayError("invalid_request", message, param=param, code="context_length_exceeded")
    err.condition = "context_length"
    return err


def _too_many_tokens(total: str) -> GatewayError:
    return GatewayError(
        "invalid_request",
        f"input is {total} tokens in all; at most {MAX_EMBED_TOKENS} per request",
        param="input",
    )


def _least_tokens(x: str | list[int], span: int | None) -> int:
    """The fewest tokens an input can be: a token array its length, a text its length over the
    span (0 when the tokenizer gives no span)."""
    if not isinstance(x, str):
        return len(x)
    return -(-len(x) // span) if span else 0


def _context_window(model: Any) -> int:
    return int(getattr(model.config, "max_position_embeddings", None) or 2048)


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(source)
    return ids
