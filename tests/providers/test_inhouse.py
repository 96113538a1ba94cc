"""The in-house provider, through the Provider interface, on a tiny random model built per session.

The reference answers come from `transformers` itself (`generate`), not from our code.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import aiohttp
import anthropic
import httpx
import openai
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from multimodel.config.load import MODELS_DIR, embedded_defaults
from multimodel.config.schema import DeploymentConfig, parse
from multimodel.errors import ConfigError, GatewayError
from multimodel.inhouse.decoding import IncrementalDecoder, StopMatcher
from multimodel.inhouse.tiny import make_tiny_model
from multimodel.providers.base import ProviderContext
from multimodel.providers.inhouse import (
    MAX_EMBED_INPUTS,
    MAX_EMBED_TOKENS,
    MAX_STOP_SEQUENCES,
    InhouseProvider,
)
from multimodel.types import (
    ChatRequest,
    ChatResult,
    EmbedRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    TextDelta,
    TextPart,
    Tool,
    Usage,
)
from tests.support.gateway import GatewayProcess

T = TypeVar("T")
NAME = "house-test"
WORKER = f"multimodel-inhouse:{NAME}"
HELLO = [Message("user", [TextPart("Hello there, how are you?")])]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A long context window so that a cancelled generation has far to go.
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", context=2048)


def serve(model_dir: Path | str, scenario: Callable[[InhouseProvider], Awaitable[T]], name: str = NAME) -> T:
    """Start a provider on `model_dir`, run `scenario` with it, close it."""

    async def main() -> T:
        async with aiohttp.ClientSession() as http:
            provider = InhouseProvider(_config(name, model_dir), ProviderContext(http=http))
            await provider.start()
            try:
                return await scenario(provider)
            finally:
                await provider.close()

    return asyncio.run(main())


def _config(name: str, model_dir: Path | str) -> DeploymentConfig:
    return DeploymentConfig(id=name, provider="inhouse", model=str(model_dir))


async def events(provider: InhouseProvider, **kw: Any) -> list[Any]:
    kw.setdefault("messages", HELLO)
    return [ev async for ev in provider.stream(ChatRequest(model=NAME, **kw))]


def collect(evs: list[Any]) -> ChatResult:
    result = ChatResult()
    for ev in evs:
        result.add(ev)
    return result


def reference_greedy(
    model_dir: Path, messages: list[dict[str, str]], max_new_tokens: int
) -> tuple[list[int], list[int], str]:
    """Prompt ids, generated ids and their text, by transformers' own greedy `generate`."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, len(ids) :].tolist()
    return ids, new, str(tok.decode(new, skip_special_tokens=True))


# --- chat ----------------------------------------------------------------------------------------


def test_stream_equals_greedy_decode_and_counts_tokens(tiny_dir: Path) -> None:
    prompt, generated, text = reference_greedy(tiny_dir, [{"role": "user", "content": HELLO[0].text()}], 40)
    evs = serve(tiny_dir, lambda p: events(p, temperature=0, max_tokens=40, stream=True))
    deltas = [e.text for e in evs if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # streamed, not one piece
    assert "".join(deltas) == text
    assert evs[-2:] == [Usage(len(prompt), len(generated)), Finish("length")]


def test_max_tokens_gives_length_and_exact_count(tiny_dir: Path) -> None:
    result = collect(serve(tiny_dir, lambda p: events(p, temperature=0, max_tokens=5)))
    assert result.finish == Finish("length")
    assert result.usage.output_tokens == 5


def test_stop_sequence_cuts_the_text(tiny_dir: Path) -> None:
    full = collect(serve(tiny_dir, lambda p: events(p, temperature=0, max_tokens=40)))
    # A 3-character stop from the middle of the answer (away from undecodable bytes).
    start = next(i for i in range(6, len(full.text) - 3) if "\ufffd" not in full.text[i : i + 3])
    stop = full.text[start : start + 3]
    cut = collect(
        serve(tiny_dir, lambda p: events(p, temperature=0, max_tokens=40, stop=["never-seen", stop]))
    )
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finish == Finish("stop_sequence", stop_sequence=stop)
    assert 0 < cut.usage.output_tokens < full.usage.output_tokens


def test_same_seed_same_text(tiny_dir: Path) -> None:
    async def three(p: InhouseProvider) -> list[str]:
        kw: dict[str, Any] = {"temperature": 1.0, "top_p": 0.9, "top_k": 50, "max_tokens": 30}
        return [collect(await events(p, seed=s, **kw)).text for s in (7, 7, 8)]

    a, b, c = serve(tiny_dir, three)
    assert a == b
    assert a != c


def test_concurrent_requests_both_complete(tiny_dir: Path) -> None:
    async def both(p: InhouseProvider) -> tuple[list[Any], list[Any], list[Any]]:
        alone = await events(p, temperature=0, max_tokens=20)
        x, y = await asyncio.gather(*(events(p, temperature=0, max_tokens=20) for _ in range(2)))
        return alone, x, y

    alone, x, y = serve(tiny_dir, both)
    assert collect(x) == collect(alone) == collect(y)


def test_a_slow_reader_does_not_hold_up_the_next_request(tiny_dir: Path) -> None:
    async def scenario(p: InhouseProvider) -> tuple[ChatResult, ChatResult]:
        request = ChatRequest(model=NAME, messages=HELLO, temperature=0, max_tokens=20)
        slow = cast(AsyncGenerator[Event, None], p.stream(request))
        first = await anext(slow)  # then not read while another request runs
        other = collect(await asyncio.wait_for(events(p, temperature=0, max_tokens=20), timeout=10))
        rest = [ev async for ev in slow]
        return collect([first, *rest]), other

    slow, other = serve(tiny_dir, scenario)
    assert slow == other


def test_tools_and_images_are_rejected(tiny_dir: Path) -> None:
    async def attempts(p: InhouseProvider) -> list[GatewayError]:
        errors = []
        image = [Message("user", [TextPart("what is this?"), ImagePart("data:image/png;base64,AAAA")])]
        stops = [f"stop {i}" for i in range(MAX_STOP_SEQUENCES + 1)]  # each is matched per token
        for kw in ({"tools": [Tool("get_weather")]}, {"messages": image}, {"stop": stops}):
            with pytest.raises(GatewayError) as e:
                await events(p, **kw)
            errors.append(e.value)
        return errors

    tools, images, stops = serve(tiny_dir, attempts)
    assert (tools.kind, tools.param, tools.message) == (
        "invalid_request",
        "tools",
        f"model {NAME!r} does not support tools",
    )
    assert (images.kind, images.param) == ("invalid_request", "messages")
    assert (stops.kind, stops.param) == ("invalid_request", "stop")


def test_prompt_longer_than_context_is_invalid(tiny_dir: Path) -> None:
    async def attempt(p: InhouseProvider) -> GatewayError:
        with pytest.raises(GatewayError) as e:
            await events(p, messages=[Message("user", [TextPart("to be or not " * 1000)])])
        return e.value

    error = serve(tiny_dir, attempt)
    assert (error.kind, error.param, error.code) == ("invalid_request", "messages", "context_length_exceeded")
    assert error.condition == "context_length"  # as an upstream's: a fallback may take it
    assert "2048" in error.message and "at least" not in error.message  # counted: it was tokenized


def test_prompt_too_long_by_its_length_alone_is_not_tokenized(tiny_dir: Path) -> None:
    async def attempt(p: InhouseProvider) -> GatewayError:
        with pytest.raises(GatewayError) as e:
            await events(p, messages=[Message("user", [TextPart("to be or not " * 250_000)])])
        return e.value

    error = serve(tiny_dir, attempt)
    assert (error.code, error.condition) == ("context_length_exceeded", "context_length")
    # Refused from the 3.25 MB length of its text (with the template's 25 characters): no token
    # covers enough characters for it to fit.
    assert error.message.startswith("the prompt is at least ") and "(3250025 characters)" in error.message


def test_cancelled_consumer_stops_generation(tiny_dir: Path) -> None:
    async def scenario(p: InhouseProvider) -> tuple[float, float, ChatResult]:
        started = time.monotonic()
        await events(p, temperature=0, max_tokens=20)
        per_token = (time.monotonic() - started) / 20

        first = asyncio.Event()

        async def consume() -> None:
            async for ev in p.stream(ChatRequest(model=NAME, messages=HELLO, temperature=0, max_tokens=2000)):
                if isinstance(ev, TextDelta):
                    first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        cancelled = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        while any(t.name == WORKER for t in threading.enumerate()):
            await asyncio.sleep(0.005)
        # The lock is free again: the next request is served.
        return time.monotonic() - cancelled, per_token, collect(await events(p, temperature=0, max_tokens=3))

    stopped_after, per_token, after = serve(tiny_dir, scenario)
    # Running to max_tokens would take ~2000 tokens' time; stopping must take a handful.
    assert stopped_after < max(50 * per_token, 0.25), (stopped_after, per_token)
    assert after.usage.output_tokens == 3


def test_closing_the_stream_early_stops_the_worker(tiny_dir: Path) -> None:
    async def scenario(p: InhouseProvider) -> bool:
        request = ChatRequest(model=NAME, messages=HELLO, temperature=0, max_tokens=2000)
        stream = cast(AsyncGenerator[Event, None], p.stream(request))
        async for ev in stream:
            if isinstance(ev, TextDelta):
                break
        await stream.aclose()
        for _ in range(200):
            if not any(t.name == WORKER for t in threading.enumerate()):
                return True
            await asyncio.sleep(0.005)
        return False

    assert serve(tiny_dir, scenario)


def test_without_chat_template_uses_role_lines(tiny_dir: Path, tmp_path: Path) -> None:
    plain = make_tiny_model(tmp_path / "plain")
    for f in plain.glob("chat_template*"):
        f.unlink()
    tok = AutoTokenizer.from_pretrained(plain)
    assert not tok.chat_template
    expected = len(tok("system: be brief\nuser: hi\nassistant:")["input_ids"])
    messages = [Message("system", [TextPart("be brief")]), Message("user", [TextPart("hi")])]
    result = collect(serve(plain, lambda p: events(p, messages=messages, max_tokens=4)))
    assert result.usage == Usage(expected, 4)


def test_incremental_decoding_keeps_multibyte_characters_whole(tiny_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = "héllo ☃, 日本語 🙂!"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)  # characters really are split over several byte tokens
    decoder = IncrementalDecoder(tok)
    pieces = [decoder.add(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


def test_a_stop_sequence_split_over_pieces_is_never_sent() -> None:
    m = StopMatcher(["</end>", "STOP"])
    assert m.feed("one </e") == ("one ", None)
    assert m.feed("nd> two") == ("", "</end>")
    # A false start is released once it can no longer become a stop sequence.
    m = StopMatcher(["STOP"])
    assert m.feed("a ST") == ("a ", None)
    assert m.feed("ay") == ("STay", None)
    assert m.feed("ST", final=True) == ("ST", None)


# --- embeddings ----------------------------------------------------------------------------------


def test_embeddings(tiny_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    hello_ids = tok("hello", add_special_tokens=False)["input_ids"]

    async def scenario(p: InhouseProvider) -> Any:
        texts = await p.embed(
            EmbedRequest(model=NAME, inputs=["hello", "a much longer input, padded against"])
        )
        alone = await p.embed(EmbedRequest(model=NAME, inputs=["hello"]))
        by_ids = await p.embed(EmbedRequest(model=NAME, inputs=[hello_ids]))
        short = await p.embed(EmbedRequest(model=NAME, inputs=["hello"], dimensions=16))
        with pytest.raises(GatewayError) as too_wide:
            await p.embed(EmbedRequest(model=NAME, inputs=["hello"], dimensions=65))
        return texts, alone, by_ids, short, too_wide.value

    texts, alone, by_ids, short, too_wide = serve(tiny_dir, scenario)
    assert [len(v) for v in texts.vectors] == [64, 64]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in texts.vectors)
    assert texts.input_tokens == len(hello_ids) + len(tok("a much longer input, padded against")["input_ids"])
    # Padding in a batch does not change a vector; token ids embed like their text.
    assert texts.vectors[0] == pytest.approx(alone.vectors[0], abs=1e-5)
    assert by_ids.vectors[0] == pytest.approx(alone.vectors[0], abs=1e-5)
    assert len(short.vectors[0]) == 16
    assert math.isclose(sum(x * x for x in short.vectors[0]), 1.0, rel_tol=1e-5)
    assert (too_wide.kind, too_wide.param) == ("invalid_request", "dimensions")


def test_embedding_requests_are_bounded_before_any_work(tiny_dir: Path) -> None:
    async def attempts(p: InhouseProvider) -> list[GatewayError]:
        cases: list[list[str] | list[list[int]]] = [
            ["hi"] * (MAX_EMBED_INPUTS + 1),
            ["hi", "to be or not " * 250_000],
            [[5] * 2049],
            [[5] * 200] * (MAX_EMBED_TOKENS // 200 + 1),
            ["to be or not " * 1000] * 2,  # too long, which only tokenizing tells
        ]
        errors = []
        for inputs in cases:
            with pytest.raises(GatewayError) as e:
                await p.embed(EmbedRequest(model=NAME, inputs=inputs))
            errors.append(e.value)
        return errors

    many, long_text, long_ids, total, counted = serve(tiny_dir, attempts)
    assert all(e.kind == "invalid_request" and e.param == "input" for e in (many, long_text, long_ids, total))
    assert str(MAX_EMBED_INPUTS) in many.message and many.code is None
    assert long_text.message.startswith("input[1] is at least ")
    assert long_text.code == "context_length_exceeded" and long_text.condition == "context_length"
    assert (
        long_ids.message.startswith("input[0] is 2049 tokens") and long_ids.code == "context_length_exceeded"
    )
    assert str(MAX_EMBED_TOKENS) in total.message
    assert counted.message.startswith("input[0] is ") and "at least" not in counted.message
    assert counted.code == "context_length_exceeded"


# --- loading -------------------------------------------------------------------------------------


def test_bad_directory_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"

    async def scenario() -> str | None:
        async with aiohttp.ClientSession() as http:
            provider = InhouseProvider(_config(NAME, missing), ProviderContext(http=http))
            with pytest.raises(ConfigError) as e:
                await provider.start()
            assert NAME in str(e.value) and str(missing) in str(e.value)
            assert "\n" not in str(e.value)
            return await provider.check()

    assert asyncio.run(scenario()) == "no such directory"


def test_shipped_house_tiny_answers() -> None:
    model = parse(embedded_defaults({})).model("house-tiny")
    assert model is not None and model.first.provider == "inhouse"
    config = model.first
    messages = [Message("user", [TextPart("What news, my lord?")])]
    result = collect(
        serve(config.model, lambda p: events(p, messages=messages, max_tokens=30, seed=1), name="house-tiny")
    )
    assert result.text.strip()
    assert result.finish.reason in ("stop", "length")


# --- a served model under large requests ---------------------------------------------------------


def _worst_other_latency(url: str, call: Callable[[], T]) -> tuple[float, T]:
    """Run `call` while another client polls GET /health: its slowest answer meanwhile, and `call`'s."""
    done, worst = threading.Event(), [0.0]

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while not done.is_set():
                started = time.perf_counter()
                c.get("/health").raise_for_status()
                worst[0] = max(worst[0], time.perf_counter() - started)
                time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        result = call()
    finally:
        done.set()
        poller.join()
    return worst[0], result


def test_huge_requests_do_not_stall_other_clients(tmp_path: Path) -> None:
    """Tokenizing on the event loop stalled every client: ~3.4 s for a 4 MB prompt, ~1.1 s for
    2,000 embedding inputs of 1,900 characters. Now they are refused from their length, or
    tokenized in a worker thread."""
    config = {
        "models": [{"name": "house-tiny", "provider": "inhouse", "model": str(MODELS_DIR / "house-tiny")}]
    }
    big = "to be or not to be, that is the question. " * 100_000  # 4.2 MB
    words = [
        "to",
        "be",
        "or",
        "not",
        "that",
        "is",
        "the",
        "question",
        "whether",
        "tis",
        "nobler",
        "in",
        "mind",
        "suffer",
    ]
    rng = random.Random(0)
    # Short enough each that only tokenizing tells them too long for house-tiny's 256 tokens.
    many = [" ".join(rng.choices(words, k=500))[:1900] for _ in range(2000)]
    with GatewayProcess(tmp_path, config) as gw:
        oa = openai.OpenAI(base_url=gw.openai_base, api_key="unused", max_retries=0, timeout=60)
        an = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0, timeout=60)

        def refused(error: type[Exception], call: Callable[[], object]) -> Callable[[], Any]:
            def run() -> Any:
                with pytest.raises(error) as e:
                    call()
                return e.value

            return run

        calls = {
            "openai chat": refused(
                openai.BadRequestError,
                lambda: oa.chat.completions.create(
                    model="house-tiny", max_tokens=5, messages=[{"role": "user", "content": big}]
                ),
            ),
            "anthropic messages": refused(
                anthropic.BadRequestError,
                lambda: an.messages.create(
                    model="house-tiny", max_tokens=5, messages=[{"role": "user", "content": big}]
                ),
            ),
            "one long input": refused(
                openai.BadRequestError, lambda: oa.embeddings.create(model="house-tiny", input=big)
            ),
            "many inputs": refused(
                openai.BadRequestError, lambda: oa.embeddings.create(model="house-tiny", input=many)
            ),
        }
        for name, call in calls.items():
            worst, error = _worst_other_latency(gw.url, call)
            assert worst < 0.5, (name, worst)
            assert error.status_code == 400, name
            if isinstance(error, openai.BadRequestError):
                assert error.code == "context_length_exceeded", (name, error.body)
            else:
                assert error.body["error"]["type"] == "invalid_request_error", error.body
                assert "context window of 256" in error.body["error"]["message"]
