"""``rathaus users …``: create accounts, disable them, reset passwords.

rathaus users add mueller --role clerk [--role admin] [--person 12] [--name "Karin Müller"] [--password-stdin]
rathaus users disable mueller
rathaus users enable mueller
rathaus users reset-password mueller [--password-stdin]
rathaus users reset-2fa mueller
rathaus users list
"""

from __future__ import annotations

import sys

import click

from council.accounts.models import ROLES
from council.accounts.passwords import MIN_PASSWORD_LENGTH, PasswordTooWeak, check_policy
from council.core.settings import get_settings
from web.cli import main, run_async


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"Passwort (mindestens {MIN_PASSWORD_LENGTH} Zeichen)", hide_input=True, confirmation_prompt=True
        )
    try:
        check_policy(password)
    except PasswordTooWeak as exc:
        raise click.ClickException(str(exc)) from exc
    return password


@main.group()
def users() -> None:
    """Accounts of staff, chair and councillors."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(ROLES), help="Role (repeatable)."
)
@click.option("--person", "person_id", type=int, default=None, help="Link to the person record with this id.")
@click.option(
    "--name", "display_name", default=None, help="Display name (default: the person's or the username)."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def users_add(
    username: str,
    roles: tuple[str, ...],
    person_id: int | None,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Create the account USERNAME."""
    from council.accounts.service import AccountError, create_account
    from council.core.db import Database
    from council.records.models import Person

    password = _read_password(password_stdin)

    async def go() -> str:
        db = Database(get_settings())
        try:
            async with db.sessionmaker() as session:
                name = display_name
                if name is None and person_id is not None:
                    person = await session.get(Person, person_id)
                    name = person.name if person is not None else None
                account = await create_account(
                    session, username, password, roles, display_name=name, person_id=person_id
                )
                await session.commit()
                return account.username
        finally:
            await db.dispose()

    try:
        created = run_async(go)
    except (AccountError, PasswordTooWeak) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"account {created} created ({', '.join(roles)})")


async def _with_account(username: str, action: str, password: str | None = None) -> None:
    from council.accounts import service
    from council.core.db import Database

    db = Database(get_settings())
    try:
        async with db.sessionmaker() as session:
            account = await service.get_account(session, username)
            if account is None:
                raise click.ClickException(f"no account {username!r}")
            if action == "disable":
                await service.disable_account(session, account)
            elif action == "enable":
                await service.enable_account(session, account)
            elif action == "reset-password":
                assert password is not None
                await service.set_password(session, account, password)
            elif action == "reset-2fa":
                from council.accounts import audit, totp

                if await totp.disable(session, account.id):
                    await audit.record(session, "totp.reset", actor_name="cli", account=account)
            await session.commit()
    finally:
        await db.dispose()


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable USERNAME and end all its sessions."""
    run_async(_with_account, username, "disable")
    click.echo(f"account {username.lower()} disabled; its sessions ended")


@users.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Enable USERNAME again (and lift a lockout)."""
    run_async(_with_account, username, "enable")
    click.echo(f"account {username.lower()} enabled")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def users_reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (ends its sessions, lifts a lockout)."""
    password = _read_password(password_stdin)
    try:
        run_async(_with_account, username, "reset-password", password)
    except PasswordTooWeak as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password of {username.lower()} changed; its sessions ended")


@users.command("reset-2fa")
@click.argument("username")
def users_reset_2fa(username: str) -> None:
    """Remove the second factor (TOTP) of USERNAME, e.g. after a lost phone (audited)."""
    run_async(_with_account, username, "reset-2fa")
    click.echo(f"two-factor sign-in of {username.lower()} reset")


@users.command("list")
def users_list() -> None:
    """List the accounts."""
    from sqlalchemy import select

    from council.accounts.models import Account
    from council.core.db import Database

    async def go() -> list[Account]:
        db = Database(get_settings())
        try:
            async with db.sessionmaker() as session:
                return list((await session.execute(select(Account).order_by(Account.username))).scalars())
        finally:
            await db.dispose()

    for a in run_async(go):
        state = "disabled" if a.disabled else "active"
        click.echo(
            f"{a.username}\t{','.join(a.roles)}\t{state}\tperson={a.person_id or '-'}\t{a.display_name}"
        )
