"""CLI: multimodel keys create · list · revoke."""

from __future__ import annotations

import json

import click

from multimodel.clikit import config_option, die, open_database


@click.group()
def keys() -> None:
    """Gateway API keys (checked when the config sets auth.require_keys)."""


@keys.command("create")
@click.argument("name")
@click.option("--budget-usd", type=click.FloatRange(min=0), default=None, help="Total spend allowed.")
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute allowed.")
@click.option("--models", default=None, help="Comma-separated public model names it may use (default: all).")
@click.option("--admin", is_flag=True, help="May read every key's usage (the dashboard), not only its own.")
@config_option
def create(
    name: str, budget_usd: float | None, rpm: int | None, models: str | None, admin: bool, config: str | None
) -> None:
    """Create a key and print it: the only time it is shown (only its hash is stored)."""
    from multimodel.auth.keys import KeyCommandError, create_key

    settings, engine = open_database(config)
    allowed = [m.strip() for m in models.split(",") if m.strip()] if models is not None else None
    if allowed is not None:
        known = {m.name for m in settings.models} | (
            {settings.preference.auto.name} if settings.preference.auto else set()
        )
        unknown = [m for m in allowed if m not in known]
        if unknown or not allowed:
            die(f"--models: unknown model {unknown[0]!r}" if unknown else "--models: name at least one model")
    try:
        record, secret = create_key(engine, name, budget_usd=budget_usd, rpm=rpm, models=allowed, admin=admin)
    except KeyCommandError as e:
        die(str(e))
    finally:
        engine.dispose()
    click.echo(secret)
    click.echo(f"created key {record.name!r} ({record.id}); store it now: it is not shown again", err=True)


@keys.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@config_option
def list_(fmt: str, config: str | None) -> None:
    """Every key with its limits and spend (never the secret)."""
    from multimodel.auth.keys import list_keys

    _, engine = open_database(config)
    try:
        rows = list_keys(engine)
    finally:
        engine.dispose()
    items = [
        {
            "id": k.id,
            "name": k.name,
            "prefix": k.prefix,
            "created_at": k.created_at,
            "revoked": k.revoked_at is not None,
            "budget_usd": k.budget_usd,
            "spend_usd": round(spend, 6),
            "rpm": k.rpm,
            "models": sorted(k.models) if k.models is not None else None,
            "admin": k.admin,
        }
        for k, spend in rows
    ]
    if fmt == "json":
        click.echo(json.dumps(items, indent=2))
        return
    header = ("name", "prefix", "status", "spend_usd", "budget_usd", "rpm", "models")
    lines = [header] + [
        (
            k.name,
            k.prefix + "…",
            ("revoked" if k.revoked_at is not None else "active") + (",admin" if k.admin else ""),
            f"{spend:.4f}",
            "-" if k.budget_usd is None else f"{k.budget_usd:g}",
            "-" if k.rpm is None else str(k.rpm),
            "all" if k.models is None else ",".join(sorted(k.models)),
        )
        for k, spend in rows
    ]
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    for line in lines:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


@keys.command("revoke")
@click.argument("name")
@config_option
def revoke(name: str, config: str | None) -> None:
    """Revoke a key: running gateways refuse it within auth.refresh_seconds."""
    from multimodel.auth.keys import KeyCommandError, revoke_key

    _, engine = open_database(config)
    try:
        revoke_key(engine, name)
    except KeyCommandError as e:
        die(str(e))
    finally:
        engine.dispose()
    click.echo(f"revoked key {name!r}", err=True)


COMMANDS = [keys]
