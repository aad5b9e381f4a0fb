"""`exchange units`: units and their SFTP logins."""
from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from exchange.accounts import add_unit, make_folders, read_key, set_login
from exchange.cli import Context, pass_ctx
from exchange.config import CENTRE
from exchange.store import queries as Q
from exchange.store.models import Account, Unit


@click.group("units")
def units() -> None:
    """Units (参保单位) and their accounts."""


@units.command("add")
@click.argument("code")
@click.option("--name", required=True, help="The unit's registered name.")
@click.option("--type", "unit_type", help="Unit type code from rules/codes.toml [unit_type] (10, 30, 40 ...).")
@click.option("--password", help="SFTP password (stored as an argon2 hash).")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OpenSSH public key file for the SFTP login.")
@pass_ctx
def add(ctx: Context, code: str, name: str, unit_type: str | None, password: str | None,
        key_file: Path | None) -> None:
    """Create a unit, its inbox/outbox folders and its SFTP login.

    Example: exchange units add 1001 --name 南通示例公司 --password 'S3cret!'
    """
    key = read_key(key_file) if key_file else None
    with ctx.db.session() as s:
        add_unit(ctx.instance, s, code, name, unit_type=unit_type, password=password, key=key)
    click.echo(f"unit {code} ready: inbox/{code}/ outbox/{code}/")


@units.command("list")
@pass_ctx
def list_units(ctx: Context) -> None:
    """List units with their login state.

    Example: exchange units list
    """
    with ctx.db.session() as s:
        rows = s.execute(select(Unit.code, Unit.name, Account.password_hash, Account.public_keys)
                         .outerjoin(Account, Account.login == Unit.code).order_by(Unit.code)).all()
    for code, name, pw, keys in rows:
        login = "+".join(x for x, on in (("password", pw), ("key", keys)) if on) or "no login"
        click.echo(f"{code}\t{name}\t{login}")


@units.command("centre")
@click.option("--password", help="SFTP password (stored as an argon2 hash).")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OpenSSH public key file for the SFTP login.")
@pass_ctx
def centre(ctx: Context, password: str | None, key_file: Path | None) -> None:
    """Create or update the centre's SFTP login `_centre` (sees inbox/_centre, outbox/_centre).

    Example: exchange units centre --password 'S3cret!'
    """
    if not password and not key_file:
        raise click.UsageError("give --password, --key or both")
    key = read_key(key_file) if key_file else None
    with ctx.db.session() as s:
        set_login(s, CENTRE, CENTRE, password=password, key=key, role="centre")
        Q.audit(s, "operator", "login.centre", detail=CENTRE)
    make_folders(ctx.instance, CENTRE)
    click.echo(f"login {CENTRE} ready: inbox/{CENTRE}/ outbox/{CENTRE}/")


COMMANDS = [units]
