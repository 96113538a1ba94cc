"""The `multimodel` command: serve · models · chat (+ the in-house and preference commands)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import click

from multimodel.clikit import config_option, die
from multimodel.config import load as config_load
from multimodel.config.schema import Settings
from multimodel.errors import ConfigError, GatewayError


def _load(config: str | None) -> Settings:
    try:
        return config_load.load(config)
    except ConfigError as e:
        die(str(e))


def _run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


@click.group()
@click.version_option(package_name="multimodel")
def main() -> None:
    """Multimodel: one OpenAI- and Anthropic-compatible API over many model providers."""


@main.command()
@config_option
@click.option("--host", default=None, help="Address to bind (default from config: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config: 8000).")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(config: str | None, host: str | None, port: int | None, log_level: str) -> None:
    """Run the gateway."""
    from multimodel.gateway import Gateway
    from multimodel.server import server

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is noise at start-up
    s = _load(config)
    try:
        gw = Gateway(s)
    except ConfigError as e:
        die(str(e))

    async def run() -> None:
        try:
            await gw.start()
        except ConfigError as e:
            await gw.close()
            die(str(e))
        http = server(gw, host or s.host, port if port is not None else s.port, log_level)
        click.echo(
            f"multimodel: serving {len(s.models)} model(s) from {s.source} on "
            f"http://{host or s.host}:{port if port is not None else s.port}",
            err=True,
        )
        # uvicorn handles SIGINT/SIGTERM with a graceful shutdown, then re-raises the signal with
        # the handler it found restored; a no-op there makes a clean stop exit with status 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        await http.serve()

    _run(run)


@main.command()
@config_option
@click.option(
    "--gateway",
    default=None,
    help="A running gateway to read circuit-breaker states from (default: the config's host:port).",
)
@click.option(
    "--api-key",
    envvar="MULTIMODEL_API_KEY",
    default=None,
    help="A gateway API key, when the gateway requires keys (env MULTIMODEL_API_KEY).",
)
def models(config: str | None, gateway: str | None, api_key: str | None) -> None:
    """List the configured models, their deployments, whether each is reachable, and (from a
    running gateway) each circuit breaker's state."""
    from multimodel.providers import http
    from multimodel.providers.base import ProviderContext
    from multimodel.routing.router import Router

    s = _load(config)
    url = (gateway or f"http://{s.host}:{s.port}").rstrip("/")

    async def run() -> tuple[Router, list[str | None], dict[str, Any] | None]:
        ctx = ProviderContext(http=http.new_session())
        try:
            router = Router.build(s, ctx)
            checks = await asyncio.gather(*(p.check() for p in router.providers()))
            return router, list(checks), await _live_deployments(ctx, url, api_key)
        finally:
            await ctx.http.close()

    try:
        router, checks, live = _run(run)
    except ConfigError as e:
        die(str(e))
    problems = iter(checks)
    lines: list[tuple[str, str, str, str]] = []  # name, provider, status + model, circuit
    for route in router.routes.values():
        p = route.policy
        many = len(route.deployments) > 1
        if many:
            extra = f"; fallbacks: {', '.join(p.fallbacks)}" if p.fallbacks else ""
            lines.append((route.name, f"{len(route.deployments)} deployments", f"{p.strategy}{extra}", ""))
        for d in route.deployments:
            problem = next(problems)
            status = "reachable" if problem is None else f"unreachable ({problem})"
            circuit = _circuit(live, route.name, d.id) if d.breaker is not None else ""
            name = f"  {d.id}" if many else route.name
            lines.append((name, d.config.provider, f"{status}  {d.config.model}", circuit))
    width = max(len(n) for n, *_ in lines)
    for name, provider, status, circuit in lines:
        click.echo(f"{name:<{width}}  {provider:<17}  {status}{'  ' + circuit if circuit else ''}")
    if live is None and any(d.breaker for r in router.routes.values() for d in r.deployments):
        click.echo(f"(circuit states: no gateway answering at {url})", err=True)


async def _live_deployments(ctx: Any, url: str, api_key: str | None) -> dict[str, Any] | None:
    """GET /v1/deployments of a running gateway, or None when none answers."""
    import aiohttp

    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = aiohttp.ClientTimeout(total=3)
    try:
        async with ctx.http.get(url + "/v1/deployments", headers=headers, timeout=timeout) as r:
            return dict(await r.json()) if r.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


def _circuit(live: dict[str, Any] | None, model: str, deployment: str) -> str:
    for m in (live or {}).get("data", []):
        for d in m.get("deployments", []) if m.get("model") == model else []:
            c = d.get("circuit")
            if d.get("id") == deployment and c:
                wait = f", probe in {c['retry_in_s']:.0f} s" if c["state"] == "open" else ""
                return f"circuit {c['state']}{wait}"
    return "circuit ?"


@main.command()
@config_option
@click.option("--model", "-m", required=True, help="Public model name, as in `multimodel models`.")
@click.option("--max-tokens", type=int, default=None)
@click.option("--system", default=None, help="A system prompt.")
@click.argument("prompt")
def chat(config: str | None, model: str, max_tokens: int | None, system: str | None, prompt: str) -> None:
    """Stream one answer to PROMPT in the terminal."""
    from multimodel.providers import http
    from multimodel.providers.base import ProviderContext
    from multimodel.routing.router import Router
    from multimodel.types import ChatRequest, Message, TextDelta, TextPart, Usage

    s = _load(config)

    async def run() -> Usage | None:
        ctx = ProviderContext(http=http.new_session())
        try:
            route = Router.build(s, ctx).resolve(model)
            await route.provider.activate()
            messages = [Message("user", [TextPart(prompt)])]
            if system:
                messages.insert(0, Message("system", [TextPart(system)]))
            usage = None
            request = ChatRequest(model, messages, max_tokens=max_tokens, stream=True)
            async for item in route.provider.stream(request):
                for ev in item if isinstance(item, list) else (item,):
                    if isinstance(ev, TextDelta):
                        click.echo(ev.text, nl=False)
                    elif isinstance(ev, Usage):
                        usage = ev
            click.echo()
            await route.provider.close()
            return usage
        finally:
            await ctx.http.close()

    try:
        usage = _run(run)
    except (ConfigError, GatewayError) as e:
        die(str(e))
    if usage is not None:
        click.echo(f"[{usage.input_tokens} input tokens, {usage.output_tokens} output tokens]", err=True)


def _add_commands() -> None:
    """The pipeline's, the preference engine's and the keys' commands, each from its own package."""
    import importlib

    for module in (
        "multimodel.inhouse.commands",
        "multimodel.preference.commands",
        "multimodel.auth.commands",
        "multimodel.config.commands",
    ):
        for command in importlib.import_module(module).COMMANDS:
            main.add_command(command)


_add_commands()

if __name__ == "__main__":
    main()
