"""`exchange units`: units and their SFTP logins."""
from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from exchange.accounts import (DEFAULT_PASSWORD, SUB_ROLES, add_sub_account, add_unit,
                               initial_password, make_folders, parse_classes, read_key, remove_sub_account,
                               reset_password, set_login)
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
@click.option("--password", help="SFTP password (stored as an argon2 hash); without it (nor --key) "
                                 "a new login gets [accounts].default_password, to be changed at "
                                 "the first login.")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OpenSSH public key file for the SFTP login.")
@pass_ctx
def add(ctx: Context, code: str, name: str, unit_type: str | None, password: str | None,
        key_file: Path | None) -> None:
    """Create a unit, its inbox/outbox folders and its SFTP login.

    Example: exchange units add 1001 --name 南通示例公司 --password 'S3cret!'
    """
    from exchange.outputs.templates import write_unit_templates

    key = read_key(key_file) if key_file else None
    with ctx.db.session() as s:
        unit = add_unit(ctx.instance, s, code, name, unit_type=unit_type, password=password,
                        key=key)
        account = s.get(Account, code)
        initial = account is not None and account.must_change
        s.flush()
        # A new clerk's first login finds the templates to fill, not an empty folder until the
        # nightly refresh_templates job.
        templates = write_unit_templates(ctx.instance, s, unit)
    click.echo(f"unit {code} ready: inbox/{code}/ outbox/{code}/ "
               f"({len(templates)} templates in outbox/{code}/templates/)")
    if initial:
        click.echo(f"login {code}: initial password "
                   f"{initial_password(ctx.instance.settings.accounts, code)}, "
                   "to be changed at the first login")


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


# ---- Sub-accounts of a school (issue 4) ---------------------------------------------------------
@units.command("sub-account")
@click.argument("unit")
@click.argument("login")
@click.option("--role", type=click.Choice(SUB_ROLES), required=True,
              help="department (several classes) or class (one class).")
@click.option("--classes", required=True, help="Class codes, comma separated.")
@click.option("--password", help="SFTP password (argon2 hash); default for a new login: the "
                                 "initial password, to be changed at first use.")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OpenSSH public key file for the SFTP login.")
@click.option("--label", help="The user's display name, e.g. the department's or the class's.")
@pass_ctx
def sub_account(ctx: Context, unit: str, login: str, role: str, classes: str, password: str | None,
                key_file: Path | None, label: str | None) -> None:
    """Create or update a department or class login of school UNIT.

    The login declares only for its classes; its files go to inbox/UNIT/@LOGIN/, and its
    receipts, error workbooks and templates (pre-filled with its classes' students only) to
    outbox/UNIT/@LOGIN/. Running it again changes the classes.

    Example: exchange units sub-account 220101 c2024-01 --role class --classes 2024-01 --password 'S3cret!'
    """
    key = read_key(key_file) if key_file else None
    with ctx.db.session() as s:
        account, defaulted = add_sub_account(ctx.instance, s, unit, login, role=role,
                                             classes=parse_classes(classes), password=password, key=key)
        scope = account.scope
        if label:
            account.label = label
        from exchange.outputs.templates import write_sub_account_templates

        write_sub_account_templates(ctx.instance, s, s.get(Unit, unit), account)
    click.echo(f"login {login} ({role} of {unit}, classes {scope}) ready: inbox/{unit}/@{login}/ "
               f"outbox/{unit}/@{login}/")
    if defaulted:
        click.echo(f"password set to the default {DEFAULT_PASSWORD}: change it at first use")


@units.command("reset-password")
@click.argument("login")
@click.option("--password", help="The new password (default: the initial password).")
@pass_ctx
def reset(ctx: Context, login: str, password: str | None) -> None:
    """Reset LOGIN's password (to the initial one unless --password) and lift a lockout.

    Either password must be changed at the next login (SSH keyboard-interactive prompts).

    Example: exchange units reset-password c2024-01
    """
    settings = ctx.instance.settings.accounts
    with ctx.db.session() as s:
        defaulted = reset_password(s, login, password, settings)
    click.echo(f"login {login}: password reset"
               + (f" to the default {initial_password(settings, login)}" if defaulted else ""))
    click.echo("lockout lifted; the password must be changed at the next login")


@units.command("accounts")
@click.argument("unit", required=False)
@pass_ctx
def accounts(ctx: Context, unit: str | None) -> None:
    """List logins (of UNIT): login, unit, role, classes, how it signs in.

    Example: exchange units accounts 220101
    """
    with ctx.db.session() as s:
        q = select(Account).order_by(Account.unit_code, Account.login)
        if unit:
            q = q.where(Account.unit_code == unit)
        rows = [(a.login, a.unit_code, a.role, a.scope or "*", a.password_hash, a.public_keys,
                 a.locked_until, a.deleted_at, a.must_change) for a in s.scalars(q)]
    for login, code, role, scope, pw, keys, locked, deleted, must_change in rows:
        how = "+".join(x for x, on in (("password", pw), ("key", keys)) if on) or "no login"
        if deleted:
            how = f"deleted {deleted:%Y-%m-%d %H:%M}"
        click.echo(f"{login}\t{code}\t{role}\t{scope}\t{how}"
                   + ("\tmust change password" if must_change and not deleted else "")
                   + (f"\tlocked until {locked}" if locked else ""))


@units.command("remove-sub-account")
@click.argument("login")
@pass_ctx
def remove(ctx: Context, login: str) -> None:
    """注销 a department or class login: it can no longer sign in (a department's admin is told
    本系已被删除), and its name is never given again. Its classes and records are untouched.

    Example: exchange units remove-sub-account d-grade
    """
    with ctx.db.session() as s:
        account = remove_sub_account(s, login)
        unit = account.unit_code
    click.echo(f"login {login} of {unit} deleted; the name cannot be used again")


COMMANDS = [units]
