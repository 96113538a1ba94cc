"""The gateway's long-lived state: settings, one HTTP session, the router, the usage-log writer,
and the preference standings kept fresh in the background."""

from __future__ import annotations

import asyncio
import logging
import time

from multimodel.auth.guard import KeyGuard
from multimodel.config.schema import Settings
from multimodel.errors import ConfigError
from multimodel.preference.live import LivePreferences, Standings
from multimodel.providers import http
from multimodel.providers.base import ProviderContext
from multimodel.routing.router import Router
from multimodel.store import UsageWriter, make_engine, upgrade
from multimodel.store.usage import UsageRow, bounded

log = logging.getLogger("multimodel")

_ROW_WAIT_S = 5.0  # at shutdown, for the rows of requests still open


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = int(time.time())
        self.ctx = ProviderContext(http=None)  # type: ignore[arg-type]  # the session needs a running loop
        self.router = Router.build(settings, self.ctx)  # validates the config before anything starts
        self.engine = make_engine(settings.database)
        self.writer = UsageWriter(self.engine, max_queue=settings.log_queue_size)
        self.keys = KeyGuard(self.engine, settings.auth.refresh_seconds, settings.auth.redis_url)
        pref, auto = settings.preference, self.router.auto
        self.preferences = LivePreferences(
            self.engine,
            candidates=auto.candidates if auto else (),
            rounds=pref.bootstrap_rounds,
            interval_s=pref.refresh_seconds,
            on_update=self._new_standings,
        )
        self._started = False
        # Requests begun whose usage row is not queued yet: close() waits for them, so a request cut
        # short by the end of the shutdown grace still leaves its row.
        self.open_rows: set[str] = set()
        self.stopping = False  # set by the server when its shutdown begins

    def _new_standings(self, standings: Standings) -> None:
        if self.router.auto is not None:
            self.router.auto.update(standings.samples)

    def log_usage(self, row: UsageRow) -> None:
        """Queue a finished request's usage row, and count its cost against its API key's budget."""
        self.open_rows.discard(row.request_id)
        if row.key_id is not None and row.cost_usd:
            self.keys.charge(row.key_id, row.cost_usd)
        self.writer.submit(bounded(row, self.settings.log_content_max_bytes))

    async def start(self) -> None:
        """Open the database and load every provider. Idempotent; raises ConfigError with one line."""
        if self._started:
            return
        self._started = True
        try:
            await asyncio.to_thread(upgrade, self.engine)
        except Exception as e:
            raise ConfigError(
                f"database {_safe_url(self.settings.database)}: cannot open it ({_first_line(e)})"
            ) from None
        self.writer.start()
        self.preferences.start()
        if self.settings.auth.require_keys:
            await self.keys.reload()  # a database without keys answers 401 from the first request
            self.keys.start()
        self.ctx.http = http.new_session()
        # One at a time: loads are CPU-bound, and concurrent first imports of a library race.
        for name, route in self.router.routes.items():
            for deployment in route.deployments:
                try:
                    await deployment.provider.activate()
                except ConfigError:
                    raise
                except Exception as e:
                    raise ConfigError(
                        f"model {name!r}: provider failed to start ({_first_line(e)})"
                    ) from None

    async def close(self) -> None:
        if not self._started:
            return
        self._started = False
        # The server cancels what still runs when its shutdown grace ends, then closes the app: the
        # cancelled requests log their rows within a few loop turns (bounded, should one hang).
        deadline = time.monotonic() + _ROW_WAIT_S
        while self.open_rows and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await self.preferences.close()
        await self.keys.close()
        await asyncio.gather(*(p.close() for p in self.router.providers()), return_exceptions=True)
        if self.ctx.http is not None:
            await self.ctx.http.close()
        await asyncio.to_thread(self.writer.close)
        if self.writer.dropped:
            log.warning(
                "usage log: %d rows were dropped (queue full while the database was unavailable)",
                self.writer.dropped,
            )


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0]}" if text else e.__class__.__name__
