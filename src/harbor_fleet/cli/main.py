"""`harbor-fleet`: serve, migrate, create fleets; create, list, rotate and revoke keys, tokens and devices (DESIGN 2.6).

Every command reads the same HARBOR_* settings as the server; flags override them. Exit codes:
0 success, 1 failure (one line on stderr; with --json also an error object on stdout), 2 usage.
"""

import argparse
import asyncio
import sys
import warnings
from collections.abc import Sequence

import msgspec

from harbor_fleet.cli import commands
from harbor_fleet.cli import demo as demo_cli
from harbor_fleet.service.admin import AdminError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harbor-fleet", description="Harbor Fleet: real-time fleet tracking.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(sub, "serve", "run the HTTP service")
    serve.add_argument("--host", help="address to listen on (HARBOR_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (HARBOR_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (HARBOR_WORKERS, default 1)")

    _command(sub, "migrate", "apply pending schema migrations")

    worker = _command(
        sub, "worker", "run background jobs only (offline sweep, retention, webhooks), e.g. a pool of its own"
    )
    worker.add_argument("--concurrency", type=int, help="jobs at once (HARBOR_JOB_CONCURRENCY, default 10)")

    fleet = sub.add_parser("fleet", help="manage fleets").add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _command(fleet, "create", "create a fleet")
    create.add_argument("fleet_id")
    create.add_argument("--name")
    create.add_argument("--offline-after", type=int, default=300, metavar="SECONDS")
    create.add_argument("--retention-days", type=int, default=90, metavar="D")
    create.add_argument("--max-vehicles", type=int, default=10_000, metavar="N")
    create.add_argument(
        "--devices-see-fleet",
        action="store_true",
        help="answer OwnTracks phones with the fleet's other vehicles, drawn on the app's own map (off by default)",
    )

    sim = _command(sub, "simulate", "drive simulated vehicles along routes against a server")
    sim.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default http://127.0.0.1:8000)")
    sim.add_argument("--fleet", help="the fleet the vehicles report to (signed batches; phones: their credentials')")
    sim.add_argument("--key-file", help="the JSON `key create --json` printed")
    sim.add_argument("--key-id", help="partner key id (with --secret)")
    sim.add_argument("--secret", help="partner key secret (or HARBOR_SIMULATE_SECRET)")
    sim.add_argument(
        "--protocol",
        choices=["harbor", "osmand", "owntracks"],
        default="harbor",
        help="harbor: signed batches (default); osmand, owntracks: as phones running Traccar Client or OwnTracks",
    )
    sim.add_argument(
        "--devices-file",
        help="with osmand or owntracks: what `device create --json` printed, one object per line; one vehicle each",
    )
    _vehicle_options(sim)
    sim.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")

    demo = _command(sub, "demo", "embedded everything: a demo fleet, simulated vehicles, the map address")
    demo.add_argument("--port", type=int, default=8000, help="port for the demo server (default 8000)")
    _vehicle_options(demo)

    for noun, what, does in (("key", "partner key", "signs ingest"), ("token", "operator token", "reads status")):
        actions = sub.add_parser(noun, help=f"manage {what}s ({does})").add_subparsers(dest="action", required=True)
        issue = _command(actions, "create", f"create a {what} ({does}); its secret is printed once")
        issue.add_argument("--fleet", action="append", required=True, dest="fleets", metavar="F")
        listing = _command(actions, "list", f"list the {what}s of a fleet (never their secrets)")
        listing.add_argument("--fleet", required=True, metavar="F")
        revoke = _command(actions, "revoke", f"revoke a {what}: every process refuses it within a second")
        revoke.add_argument("credential_id", metavar=f"{noun.upper()}_ID")
        if noun == "key":
            rotate = _command(actions, "rotate", "a new key for the same fleets; the old one works until revoked")
            rotate.add_argument("credential_id", metavar="KEY_ID")
    _webhook_parsers(sub)
    _device_parsers(sub)
    return parser


def _device_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    actions = sub.add_parser("device", help="manage device credentials (phones running Traccar Client or OwnTracks)")
    devices = actions.add_subparsers(dest="action", required=True)
    created = _command(devices, "create", "a credential for one vehicle's phone, with what to type into each app")
    created.add_argument("--fleet", required=True, metavar="F")
    created.add_argument("--vehicle", required=True, metavar="V", help="the vehicle the phone reports as")
    created.add_argument(
        "--owntracks-encryption",
        action="store_true",
        help="also a key for OwnTracks' payload encryption (its Encryption key setting)",
    )
    created.add_argument("--public-url", metavar="URL", help="the address phones reach (HARBOR_PUBLIC_URL)")
    listed = _command(devices, "list", "a fleet's devices: last seen, battery, last dropped fix (never secrets)")
    listed.add_argument("--fleet", required=True, metavar="F")
    revoked = _command(devices, "revoke", "revoke a device: every process refuses it at once")
    revoked.add_argument("device_id", metavar="DEVICE_ID")


def _webhook_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    actions = sub.add_parser("webhook", help="manage webhooks (a fleet's events POSTed to a URL)").add_subparsers(
        dest="action", required=True
    )
    created = _command(actions, "create", "send a fleet's events to a URL; its signing secret is printed once")
    created.add_argument("--fleet", required=True, metavar="F")
    created.add_argument("--url", required=True, metavar="U", help="the receiver: http:// or https://")
    created.add_argument("--events", metavar="TYPES", help="comma-separated: position,vehicle_status (default: all)")
    listed = _command(actions, "list", "list a fleet's webhooks (never their secrets)")
    listed.add_argument("--fleet", required=True, metavar="F")
    deleted = _command(actions, "delete", "stop a webhook; what it still had to deliver is recorded dead")
    deleted.add_argument("webhook_id", metavar="WEBHOOK_ID")
    shown = _command(actions, "deliveries", "a fleet's webhook deliveries, newest first")
    shown.add_argument("--fleet", required=True, metavar="F")
    shown.add_argument("--status", choices=["pending", "delivered", "dead"])
    shown.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")


def _vehicle_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--vehicles", type=int, default=12, help="simulated vehicles (default 12)")
    command.add_argument("--rate", type=float, default=12.0, help="fixes per second in all (default 12)")
    command.add_argument(
        "--centre",
        "--center",
        type=demo_cli.parse_centre,
        default=demo_cli.HAMBURG_HARBOUR,
        metavar="LAT,LNG",
        help="where the routes are (default Hamburg harbour)",
    )


def _command(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, help: str
) -> argparse.ArgumentParser:
    command = sub.add_parser(name, help=help, description=help)
    command.add_argument("--database-url", help="external PostgreSQL (HARBOR_DATABASE_URL; unset: embedded)")
    command.add_argument("--data-dir", help="embedded PostgreSQL's folder (HARBOR_DATA_DIR, default ./.harbor)")
    command.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return commands.serve(args)
        if args.command == "worker":
            return commands.worker(args)
        if args.command == "simulate":
            return demo_cli.run_simulate(args)
        if args.command == "demo":
            return demo_cli.run_demo(args, commands.settings_from(args))
        result = asyncio.run(commands.run(args))
    except AdminError as error:
        return _fail(args, error.code, error.message)
    except commands.CommandError as error:
        return _fail(args, error.code, str(error))
    except demo_cli.UsageError as error:
        sys.stderr.write(f"harbor-fleet: {error}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    if args.json:
        sys.stdout.write(msgspec.json.encode(result.data).decode() + "\n")
    else:
        sys.stdout.write(result.text + "\n")
    return 0


def _fail(args: argparse.Namespace, code: str, message: str) -> int:
    sys.stderr.write(f"harbor-fleet: {message}\n")
    if getattr(args, "json", False):
        sys.stdout.write(msgspec.json.encode({"error": {"code": code, "message": message}}).decode() + "\n")
    return 1
