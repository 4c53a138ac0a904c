"""The `careloop` command: serve, db, demo, orgs, users, tokens, clients, audit."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import CareLoopError, InvalidInput

app = typer.Typer(help="CareLoop care coordination platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
users_app = typer.Typer(help="Staff user accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
clients_app = typer.Typer(help="System clients (client-credentials grant).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
hl7_app = typer.Typer(help="HL7 v2 feed: routes, dead letters, replay.", no_args_is_help=True)
protocols_app = typer.Typer(help="Standard workflows (protocol files).", no_args_is_help=True)
directory_app = typer.Typer(help="The provider directory referrals are sent to.", no_args_is_help=True)
community_app = typer.Typer(help="The community services directory (social needs).", no_args_is_help=True)
fills_app = typer.Typer(help="Pharmacy fills (dispense records) for adherence.", no_args_is_help=True)
for _sub, _name in ((db_app, "db"), (orgs_app, "orgs"), (users_app, "users"), (tokens_app, "tokens"),
                    (clients_app, "clients"), (audit_app, "audit"), (hl7_app, "hl7"), (protocols_app, "protocols"),
                    (directory_app, "directory"), (community_app, "community"), (fills_app, "fills")):
    app.add_typer(_sub, name=_name)

out = Console()
err = Console(stderr=True)


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn CareLoop errors into a clear message and exit code 2 (bad input) or 1."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CareLoopError as exc:
            err.print(f"[red]error:[/red] {exc.message}")
            raise typer.Exit(2 if exc.status < 500 else 1) from None
    return wrapper


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One CLI command, one transaction."""
    from careloop.db import session_scope

    with session_scope() as session:
        yield session


def _engine():
    from careloop.db import get_engine

    return get_engine()


# --- db ---------------------------------------------------------------------------------------

@db_app.command("upgrade")
@friendly
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (to the latest by default)."""
    from careloop.migrate import upgrade

    upgrade(_engine(), revision)
    out.print(f"database at [bold]{revision}[/bold]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from careloop.migrate import current_revision

    out.print(current_revision(_engine()) or "not migrated")


# --- serve ------------------------------------------------------------------------------------

@app.command()
def serve(host: str = "127.0.0.1", port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
          workers: Annotated[int, typer.Option(min=1, max=64)] = 1) -> None:
    """Serve the web app and API."""
    import uvicorn

    from careloop.db import check_durability

    problems = check_durability(_engine())
    if problems:
        for problem in problems:
            err.print(f"[red]refusing to start:[/red] {problem} (acknowledged data could be lost on a crash)")
        raise typer.Exit(1)
    out.print(f"CareLoop at [bold]http://{host}:{port}[/bold]  (API docs at /docs)")
    uvicorn.run("careloop.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", proxy_headers=False)


# --- HL7 v2 feed -----------------------------------------------------------------------------

@app.command()
def mllp(host: str = "127.0.0.1", port: Annotated[int, typer.Option(min=0, max=65535)] = 2575,
         worker: Annotated[bool, typer.Option(help="Also dispatch domain events (admission notices)")] = True
         ) -> None:
    """Run the HL7 v2 MLLP listener (ADT feed) until interrupted."""
    from careloop.db import check_durability
    from careloop.integrations.hl7v2.runner import run

    problems = check_durability(_engine())
    if problems:
        for problem in problems:
            err.print(f"[red]refusing to start:[/red] {problem} (acknowledged data could be lost on a crash)")
        raise typer.Exit(1)
    run(host, port, worker=worker, on_ready=lambda p: out.print(f"MLLP listening on [bold]{host}:{p}[/bold]"))


@hl7_app.command("route")
@friendly
def hl7_route(org: Annotated[str, typer.Option(help="Organisation name or id")],
              receiving_facility: Annotated[str, typer.Option(help="MSH-6 value routed to the organisation")],
              label: str = "") -> None:
    """Route messages whose receiving facility (MSH-6) matches to an organisation."""
    from careloop.integrations.hl7v2 import review
    from careloop.organizations.service import find_organization

    with unit_of_work() as session:
        route = review.add_route(session, find_organization(session, org), receiving_facility, label or None)
        out.print(f"route {route.receiving_facility} -> {org}")


def _import_csv(path: Path, org: str, load: Callable[[Any, Any, str], Any], what: str) -> None:
    """One CSV import in one transaction, as the organisation's system actor."""
    from careloop.auth.actor import system_actor
    from careloop.organizations.service import find_organization

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The CSV must be UTF-8", field="path") from exc
    with unit_of_work() as session:
        organization = find_organization(session, org)
        result = load(session, system_actor(organization.id, "careloop-cli"), text)
        out.print(f"{what}: {result.created} created, {result.updated} updated")


CsvFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file")]
OrgOption = Annotated[str, typer.Option(help="Organisation name or id")]


@directory_app.command("import")
@friendly
def directory_import(path: CsvFile, org: OrgOption) -> None:
    """Create or update providers from a CSV file (columns as in docs/referrals.md); all rows or none."""
    from careloop.referrals import service as referrals

    _import_csv(path, org, referrals.import_providers, "providers")


@community_app.command("import")
@friendly
def community_import(path: CsvFile, org: OrgOption) -> None:
    """Create or update community services from a CSV file (needs as food;housing); all rows or none."""
    from careloop.community import service as community

    _import_csv(path, org, community.import_services, "services")


@fills_app.command("import")
@friendly
def fills_import(path: CsvFile, org: OrgOption) -> None:
    """Record pharmacy fills from a CSV file (mrn, code, display, filled_on, days_supply, pharmacy, fill_number,
    quantity); all rows or none; adherence is recomputed for each patient."""
    from careloop.medications import service as medications

    _import_csv(path, org, medications.import_fills, "fills")


@hl7_app.command("deadletters")
@friendly
def hl7_deadletters(limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """List rejected and failed messages waiting for someone (newest first)."""
    from careloop.integrations.hl7v2 import review

    table = Table("id", "received", "status", "ack", "type", "control id", "reason")
    with unit_of_work() as session:
        for m in review.dead_letters(session, None, limit=limit):
            table.add_row(str(m.id), f"{m.received_at:%Y-%m-%d %H:%M:%S}", m.status.value, m.ack_code or "",
                          f"{m.message_type or ''}^{m.trigger_event or ''}", (m.control_id or "")[:30],
                          (m.error_text or "")[:80])
    out.print(table)


@hl7_app.command("replay")
@friendly
def hl7_replay(message_id: int) -> None:
    """Process a stored message again (after fixing a route or the sender's data); prints the ACK code."""
    from careloop.integrations.hl7v2 import review

    out.print(review.replay(None, message_id))


# --- demo -------------------------------------------------------------------------------------

@app.command()
@friendly
def demo(patients: Annotated[int, typer.Option(min=1, max=5_000_000)] = 2000, seed: int = 42,
         append: bool = False, if_empty: Annotated[bool, typer.Option(help="Do nothing when data exists")] = False
         ) -> None:
    """Load a deterministic synthetic population (refuses a non-empty database unless --append)."""
    from careloop.patients.models import Patient
    from careloop.synthetic.load import load_demo

    engine = _engine()
    if if_empty:
        with unit_of_work() as session:
            if session.scalar(select(func.count()).select_from(Patient)):
                out.print("database already has data; demo not loaded")
                _print_demo_logins()
                return
    with Progress(TextColumn("loading patients"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as progress:
        task = progress.add_task("load", total=patients)
        summary = load_demo(engine, patients=patients, seed=seed, append=append,
                            progress=lambda n: progress.advance(task, n))
    out.print(f"loaded {summary.patients:,} patients, {sum(summary.rows.values()):,} rows in {summary.seconds:.1f}s")
    _print_demo_logins()


@app.command("import")
@friendly
def import_fhir(path: Annotated[Path, typer.Argument(exists=True, help="A .json Bundle, an .ndjson file or a "
                                                                     "directory of them (Synthea output)")],
                org: OrgOption,
                coordinator: Annotated[str, typer.Option(help="E-mail of the care coordinator new patients get")]
                ) -> None:
    """Import FHIR R4 data (idempotent, resumable); prints what was imported, already there, not modeled."""
    from careloop.auth.actor import system_actor
    from careloop.fhir import bulk
    from careloop.organizations.service import find_organization
    from careloop.staff.models import Staff

    with unit_of_work() as session:
        organization = find_organization(session, org)
        actor = system_actor(organization.id, "careloop-import")
        staff_id = session.scalar(select(Staff.id).where(Staff.email == coordinator.strip().lower(),
                                                         Staff.organization_id == organization.id))
        if staff_id is None:
            raise InvalidInput("No active staff member with that e-mail in the organisation", field="coordinator")
        staff_id = bulk.coordinator(session, actor, staff_id)
    files = bulk.files_of(path)
    importer = bulk.Importer(None, actor, staff_id)
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as progress:
        task = progress.add_task("import", total=len(files))
        for file in files:
            importer.import_file(file)
            progress.advance(task)
    summary = importer.summary
    table = Table(title=f"{summary.files} files imported, {summary.files_skipped} already imported")
    for column in ("resource type", "imported", "already there", "not modeled", "rejected"):
        table.add_column(column)
    rejected = Counter()
    for key, n in summary.rejected.items():
        rejected[key.split(":")[0]] += n
    for name in sorted({*summary.imported, *summary.already, *summary.not_modeled, *summary.read_through,
                        *rejected}):
        table.add_row(name, str(summary.imported[name]), str(summary.already[name]),
                      str(summary.not_modeled[name]), str(rejected[name]))
    out.print(table)
    if summary.read_through:
        out.print(f"Medication resources read through by the prescriptions naming them: {summary.read_through.total()}")
    for reason, n in sorted(summary.rejected.items()):
        out.print(f"rejected {n}: {reason}")


@app.command("export")
@friendly
def export_fhir(folder: Annotated[Path, typer.Argument(help="A new or empty directory for the NDJSON files")],
                org: OrgOption,
                types: Annotated[str | None, typer.Option("--type", help="Resource types, e.g. Patient,Observation "
                                                                         "(default: every type)")] = None,
                since: Annotated[str | None, typer.Option(help="Only what changed since this instant "
                                                                "(e.g. 2026-11-01T00:00:00Z)")] = None,
                coordinator: Annotated[str | None, typer.Option(help="E-mail of a care coordinator: export "
                                                                      "their panel only")] = None) -> None:
    """Export FHIR R4 NDJSON files (Bulk Data format), one per type, with a progress bar; audited per patient."""
    from careloop.auth.actor import system_actor
    from careloop.fhir import export
    from careloop.organizations.service import find_organization
    from careloop.staff.models import Staff

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput("The output directory must be new or empty", field="folder")
    with unit_of_work() as session:
        organization = find_organization(session, org)
        group = None
        if coordinator:
            group = session.scalar(select(Staff.id).where(Staff.email == coordinator.strip().lower(),
                                                          Staff.organization_id == organization.id))
            if group is None:
                raise InvalidInput("No staff member with that e-mail in the organisation", field="coordinator")
        job = export.kick_off(session, system_actor(organization.id, "careloop-export"),
                              "group" if group else "system", types=types, since=since, group_id=group,
                              request_url="careloop export")
        job_id = job.id
    with Progress(TextColumn("exporting {task.description}"), TextColumn("{task.completed:,} resources"),
                  console=err) as progress:
        tasks: dict[str, Any] = {}

        def advance(type_name: str, written: int) -> None:
            if type_name not in tasks:
                tasks[type_name] = progress.add_task(type_name, total=None)
            progress.advance(tasks[type_name], written)
        export.run_job(None, job_id, folder=folder, progress=advance)
    with unit_of_work() as session:
        output = session.get(export.ExportJob, job_id).output
    table = Table(title=f"FHIR export in {folder}")
    table.add_column("file")
    table.add_column("resources", justify="right")
    for item in output:
        table.add_row(f"{item['type']}.ndjson", f"{item['count']:,}")
    out.print(table)


def _print_demo_logins() -> None:
    from careloop.synthetic.load import DEMO_PASSWORD, demo_logins

    table = Table(title=f"Demo sign-ins (password: {DEMO_PASSWORD})")
    table.add_column("e-mail")
    table.add_column("role")
    for email, role in demo_logins():
        table.add_row(email, role)
    out.print(table)


# --- orgs and users ---------------------------------------------------------------------------

@orgs_app.command("create")
@friendly
def orgs_create(name: str, timezone: str = "America/New_York") -> None:
    """Create an organisation."""
    from careloop.organizations.service import create_organization

    with unit_of_work() as session:
        org = create_organization(session, name, timezone=timezone)
        out.print(f"organisation [bold]{org.name}[/bold] id={org.id}")


@users_app.command("create")
@friendly
def users_create(org: Annotated[str, typer.Option(help="Organisation name or id")],
                 email: Annotated[str, typer.Option()], role: Annotated[str, typer.Option()],
                 given_name: str = "New", family_name: str = "User") -> None:
    """Create a staff user; the password is read from piped stdin, or generated and printed once."""
    from careloop.auth.actor import system_actor
    from careloop.organizations.service import find_organization
    from careloop.staff.models import StaffRole
    from careloop.staff.schemas import StaffCreate
    from careloop.staff.service import create_staff

    roles = [r.value for r in StaffRole]
    if role not in roles:
        raise InvalidInput(f"role must be one of: {', '.join(roles)}", field="role")
    piped = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    generated = not piped
    password = piped or secrets.token_urlsafe(15)
    try:
        data = StaffCreate(email=email, given_name=given_name, family_name=family_name, role=role,
                           password=password)
    except ValueError as exc:
        raise InvalidInput(str(exc).splitlines()[-1].strip()) from None
    with unit_of_work() as session:
        organization = find_organization(session, org)
        staff = create_staff(session, data, actor=system_actor(organization.id, "careloop-cli"))
        out.print(f"user [bold]{staff.email}[/bold] ({staff.role.value}) id={staff.id}")
    if generated:
        out.print(f"password (shown once): [bold]{password}[/bold]")


# --- tokens and clients -----------------------------------------------------------------------

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")


def parse_duration(text: str) -> dt.timedelta:
    """'90s', '30m', '1h', '7d' -> timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput("Duration must look like 90s, 30m, 1h or 7d", field="expires")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return dt.timedelta(**{unit: int(match.group(1))})


@tokens_app.command("create")
@friendly
def tokens_create(user: Annotated[str | None, typer.Option(help="E-mail of the user")] = None,
                  client: Annotated[str | None, typer.Option(help="Name of a system client")] = None,
                  scopes: Annotated[str, typer.Option(help='Space-separated, e.g. "patient:read" or "*"')] = "*",
                  expires: str = "1h",
                  patient: Annotated[str | None, typer.Option(
                      help="Patient id the token is bound to (needed by SMART patient/ scopes)")] = None) -> None:
    """Mint a bearer token for a user or a system client; printed once."""
    from careloop.auth import service
    from careloop.auth.models import SystemClient
    from careloop.staff.models import Staff

    if (user is None) == (client is None):
        raise InvalidInput("Give exactly one of --user or --client")
    with unit_of_work() as session:
        if user:
            staff = session.scalar(select(Staff).where(Staff.email == user.strip().lower()))
            if staff is None or not staff.is_active:
                raise InvalidInput("No active user with that e-mail", field="user")
            raw, token = service.create_token(session, organization_id=staff.organization_id, scopes=scopes,
                                              ttl=parse_duration(expires), staff=staff,
                                              patient_id=_uuid_option(patient, "patient"))
        else:
            sc = session.scalar(select(SystemClient).where(SystemClient.name == client))
            if sc is None:
                raise InvalidInput("No system client with that name", field="client")
            raw, token = service.create_token(session, organization_id=sc.organization_id, scopes=scopes,
                                              ttl=parse_duration(expires), client_name=sc.name,
                                              patient_id=_uuid_option(patient, "patient"))
        out.print(f"token id={token.id} expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
        out.print(raw, soft_wrap=True, highlight=False)


def _uuid_option(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as err:
        raise InvalidInput(f"--{name} must be an id", field=name) from err


@tokens_app.command("revoke")
@friendly
def tokens_revoke(token: Annotated[str, typer.Argument(help="The token itself or its id")]) -> None:
    """Revoke a token; it stops working at once."""
    import uuid

    from careloop.auth import service

    with unit_of_work() as session:
        try:
            revoked = service.revoke_token(session, token_id=uuid.UUID(token))
        except ValueError:
            revoked = service.revoke_token(session, raw=token)
        out.print(f"revoked token id={revoked.id}")


@clients_app.command("create")
@friendly
def clients_create(org: Annotated[str, typer.Option()], name: Annotated[str, typer.Option()],
                   scopes: Annotated[str, typer.Option()] = "patient:read") -> None:
    """Register a system client; its secret is printed once."""
    from careloop.auth import service
    from careloop.organizations.service import find_organization

    with unit_of_work() as session:
        organization = find_organization(session, org)
        secret, client = service.register_client(session, organization.id, name, scopes)
        out.print(f"client [bold]{client.name}[/bold] scopes={client.scopes}")
        out.print(f"client secret (shown once): {secret}", highlight=False)


# --- audit ------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chains; exit 1 and name the first broken link if any."""
    from careloop.audit.service import verify

    with unit_of_work() as session:
        checked, breaks = verify(session)
    if not breaks:
        out.print(f"[green]audit trail intact[/green]: {checked:,} events verified")
        return
    for b in breaks:
        err.print(f"[red]broken[/red] chain {b.chain} at seq {b.seq} (event id {b.event_id}): {b.reason}")
    raise typer.Exit(1)


# --- protocols --------------------------------------------------------------------------------

@protocols_app.command("validate")
def protocols_validate(path: Annotated[str | None, typer.Argument(
        help="A protocol file or directory; default: the shipped protocols and every organisation's")] = None) -> None:
    """Check protocol files; each problem is printed as file:line: field: message (exit 1 if any)."""
    from pathlib import Path

    from careloop.protocols.loader import ProtocolDefinitionError, check

    try:
        protocols, problems = check(Path(path) if path else None)
    except ProtocolDefinitionError as exc:
        protocols, problems = [], exc.problems
    for problem in problems:
        err.print(str(problem), highlight=False, markup=False, soft_wrap=True)
    if problems:
        err.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(1)
    out.print(f"[green]ok[/green]: {len(protocols)} protocol(s) valid")


@protocols_app.command("list")
def protocols_list() -> None:
    """The protocols in force: shipped ones and each organisation's own (by organisation id)."""
    from careloop.protocols.registry import load_registry

    registry = load_registry()
    table = Table(title="Protocols")
    for column in ("key", "name", "version", "triggers", "steps", "source"):
        table.add_column(column, overflow="fold")
    rows = [(p, "shipped") for p in registry.shipped.values()]
    rows += [(p, f"organisation {org}") for org, found in registry.by_org.items() for p in found.values()]
    for protocol, source in rows:
        table.add_row(protocol.key, protocol.name, protocol.version, ", ".join(t.event for t in protocol.triggers),
                      str(len(protocol.steps)), source)
    out.print(table)
    for problem in registry.problems:
        err.print(f"left out: {problem}", highlight=False, markup=False, soft_wrap=True)


if __name__ == "__main__":
    app()
