"""`pack ui`: the web console (the optional extra `pack[ui]`: Starlette and uvicorn)."""

from __future__ import annotations

import ipaddress
import os
import secrets

import click

from pack.cli.common import config_from

TOKEN_ENV = "PACK_UI_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("ui")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback needs --allow-remote (and then a token).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Serve on a non-loopback --host; every request then needs the token.",
)
@click.option(
    "--token",
    default=None,
    help=f"The token remote clients must present (default: ${TOKEN_ENV}, else a new random one).",
)
@click.option("--store", default=None, help="The store whose runs to show (default: configured).")
@click.option(
    "--poll",
    type=click.FloatRange(0.1, 60),
    default=1.0,
    show_default=True,
    help="Seconds between store reads for live views.",
)
def command(
    port: int, host: str, allow_remote: bool, token: str | None, store: str | None, poll: float
) -> None:
    """Serve a web console of the runs in a store (list, run pages, logs, decks, trees)."""
    from pack.errors import UsageError

    try:
        import uvicorn

        from pack.ui.app import LOOPBACK_HOSTS, Settings, create_app
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"pack ui needs the ui extra ({exc.name} is not installed): pip install 'pack[ui]'"
        ) from None
    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address: add --allow-remote to serve it "
            "(every request then needs a token)"
        )
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    given = token is not None
    if remote and token is None:
        token = secrets.token_urlsafe(24)
    if token is not None and len(token) < 16:
        raise UsageError("--token must be at least 16 characters")
    config = config_from(store=store)
    app = create_app(
        Settings(config.store_url, poll_seconds=poll),
        token=token if remote else None,
        allowed_hosts=None if remote else LOOPBACK_HOSTS,
    )
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/"
    if remote:
        where = f"{url}?token={token}" if not given else f"{url}?token=<your token>"
        click.echo(f"pack ui: runs of {config.store_url} at {where}", err=True)
    else:
        click.echo(f"pack ui: runs of {config.store_url} at {url}", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
        access_log=False,
    )
