"""The ``empreinte`` command.

Exit codes, the same for every sub-command:

* 0: everything asked was done;
* 1: a fatal error (for example, the output file could not be written);
* 2: the command line was wrong;
* 3: done, but some files could not be used (listed in the summary).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from empreinte import __version__

if TYPE_CHECKING:
    from empreinte.batch import Summary
    from empreinte.settings import Settings

EXIT_OK: Final = 0
EXIT_FATAL: Final = 1
EXIT_USAGE: Final = 2
EXIT_PARTIAL: Final = 3

_HASH_HELP = """\
Make fingerprints of your photos and videos, on this computer.

Your photos never leave this computer. This command reads the photos and
folders you name and writes ONE file of fingerprints (-o). A fingerprint is a
short code computed from the picture: it cannot be turned back into the
picture, and it contains no file name. Give that file to the help line that
supports you; they use it to find copies of your photos online and get them
removed.

A second file, the "local manifest", is written next to it. It lists which
fingerprint came from which of your files, so that you can tell them apart
later. Keep it for yourself: do not send it to anyone.

Some pictures cannot be used: files that are not pictures, damaged files, and
pictures with too little detail (almost blank). The summary at the end lists
each one and why.

Videos (MP4, MOV, WebM, MKV, 3GP) are fingerprinted too: one code a second of
video, plus a few frames' worth of detail; never the pictures themselves.

Examples:
  empreinte hash ~/Pictures/to-protect -o fingerprints.json
  empreinte hash photo1.jpg photo2.heic clip.mp4 -o fingerprints.json

Exit status: 0 all files were fingerprinted; 3 some files could not be used
(the others are in the output); 1 the output could not be written; 2 wrong
command line.
"""

_COMPARE_HELP = """\
Compare two pictures and say whether they are the same image.

Prints, for each kind of fingerprint, how far apart the two pictures are
(0 means identical), then a plain answer: the same file, the same image, a near
copy (for example re-compressed, resized or lightly edited), or different.

Example:
  empreinte compare original.jpg downloaded-copy.jpg
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    code: int = args.handler(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="empreinte",
        description="Find re-posted intimate images and get them taken down, "
        "without the images ever leaving the victim's device.",
    )
    parser.add_argument("--version", action="version", version=f"empreinte {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    hash_cmd = sub.add_parser(
        "hash",
        help="make fingerprints of your photos, on this computer",
        description=_HASH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hash_cmd.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="photos, videos or folders"
    )
    hash_cmd.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="where to write the fingerprint file (this is the file you hand over)",
    )
    hash_cmd.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="where to write the local manifest (default: next to the output, "
        "named *.local-manifest.json); keep it private",
    )
    hash_cmd.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="work on N photos at a time (default 1; 0 means one per processor)",
    )
    hash_cmd.add_argument(
        "-q", "--quiet", action="store_true", help="print only the final summary line"
    )
    hash_cmd.set_defaults(handler=_cmd_hash)

    compare = sub.add_parser(
        "compare",
        help="say whether two pictures are the same image",
        description=_COMPARE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("a", type=Path, metavar="A", help="first picture")
    compare.add_argument("b", type=Path, metavar="B", help="second picture")
    compare.set_defaults(handler=_cmd_compare)

    page = sub.add_parser(
        "page",
        help="write the victim's page as a folder for any static web server",
        description="Write the victim's page (French and English) into a folder that a "
        "help line can host on any static server. Photos are fingerprinted in the "
        "visitor's browser; the page sends only fingerprints, to the API at --api.",
    )
    page.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write")
    page.add_argument(
        "--api",
        default="",
        metavar="URL",
        help="base URL of the Empreinte API the page calls (default: the page's own origin)",
    )
    page.set_defaults(handler=_cmd_page)

    _add_server_commands(sub)
    return parser


def _database_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL of the database (default: EMPREINTE_DATABASE_URL, "
        "else a SQLite file in ./data)",
    )
    command.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder of the SQLite file and index snapshots (default: ./data)",
    )


def _add_server_commands(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the API server (NGOs, platforms, victims)",
        description="Run the Empreinte API: SQLite and an in-process index by default, "
        "or PostgreSQL with --database-url. OpenAPI docs are at /docs.",
    )
    _database_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.set_defaults(handler=_cmd_serve)

    db = sub.add_parser("db", help="manage the database")
    db_sub = db.add_subparsers(title="database commands", metavar="ACTION")
    upgrade = db_sub.add_parser(
        "upgrade", help="create or migrate the database to the latest schema"
    )
    _database_option(upgrade)
    upgrade.set_defaults(handler=_cmd_db_upgrade)

    crawl = sub.add_parser(
        "crawl",
        help="crawl web pages for re-posts of registered images",
        description="Crawl the given URLs (and the pages they link to, within their sites) for "
        "images, match each against the registry, and record sightings and notice drafts. "
        "Prints a live progress line: pages, images, matches, errors.",
    )
    _database_option(crawl)
    crawl.add_argument("urls", nargs="+", metavar="URL", help="pages or image URLs to start from")
    crawl.add_argument("--depth", type=int, default=2, help="links to follow from a seed")
    crawl.add_argument("--max-pages", type=int, default=1000, help="stop after this many pages")
    crawl.add_argument(
        "--allow-loopback", action="store_true", help="let the crawler reach 127.0.0.1 (tests)"
    )
    crawl.set_defaults(handler=_cmd_crawl)

    worker = sub.add_parser(
        "worker",
        help="run crawler and notice workers against a shared database",
        description="Run the crawler and the notice worker (delivery, re-checks) until "
        "interrupted; start several, on several machines, on one PostgreSQL database.",
    )
    _database_option(worker)
    worker.set_defaults(handler=_cmd_worker)

    demo = sub.add_parser(
        "demo",
        help="see the whole loop on this machine: fingerprint, crawl, match, notice",
        description="Fingerprint the sample photos, register them in a case, crawl a demo "
        "site on 127.0.0.1 that re-posts them (screenshots included), and show the matches "
        "and the takedown notices drafted. Uses its own database in ./data/demo.",
    )
    demo.add_argument("--data-dir", type=Path, default=Path("data/demo"), metavar="DIR")
    demo.set_defaults(handler=_cmd_demo)

    report = sub.add_parser(
        "report",
        help="print the yearly transparency report (DSA art. 22), with no personal data",
        description="Print the yearly report of takedown notices: by host, type of content "
        "and action, with counts and median and p90 time to removal.",
    )
    _database_option(report)
    report.add_argument("--year", type=int, required=True, help="calendar year, e.g. 2026")
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.set_defaults(handler=_cmd_report)

    keys = sub.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="Manage API keys. The first admin key is made here, on the server: "
        "empreinte keys create --role admin",
    )
    keys_sub = keys.add_subparsers(title="key commands", metavar="ACTION")
    create = keys_sub.add_parser("create", help="create a key and print it once")
    _database_option(create)
    create.add_argument("--role", required=True, choices=["admin", "ngo", "platform"])
    create.add_argument("--org", metavar="NAME", help="the NGO or platform the key belongs to")
    create.add_argument("--label", help="a note to recognise the key by")
    create.set_defaults(handler=_cmd_keys_create)
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once")
    _database_option(revoke)
    revoke.add_argument("prefix", help="the key's prefix (the part after emp_)")
    revoke.set_defaults(handler=_cmd_keys_revoke)
    listing = keys_sub.add_parser("list", help="list keys (prefixes, roles, organisations)")
    _database_option(listing)
    listing.set_defaults(handler=_cmd_keys_list)

    people = sub.add_parser(
        "users",
        help="create console accounts (people; machines use API keys)",
        description="Manage the console's accounts: "
        'empreinte users create --org "E-Enfance" --email a@b.example --role reviewer',
    )
    people_sub = people.add_subparsers(title="user commands", metavar="ACTION")
    person = people_sub.add_parser("create", help="create an account; print a one-time password")
    _database_option(person)
    person.add_argument("--org", required=True, metavar="NAME", help="the NGO of the account")
    person.add_argument("--email", required=True)
    person.add_argument("--role", required=True, choices=["case_worker", "reviewer", "org_admin"])
    person.add_argument("--language", choices=["fr", "en"], default="fr")
    person.add_argument(
        "--ask-password", action="store_true", help="read the password from the terminal"
    )
    person.add_argument("--totp", action="store_true", help="require a one-time code (TOTP)")
    person.set_defaults(handler=_cmd_users_create)


def _settings(args: argparse.Namespace) -> Settings:
    from empreinte.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from empreinte.api.app import create_app, server_config
    from empreinte.logs import configure_logging
    from empreinte.runtime import Runtime

    configure_logging()
    app = create_app(Runtime(_settings(args)))
    uvicorn.Server(server_config(app, args.host, args.port)).run()
    return EXIT_OK


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from empreinte.store import migrate

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.url)
    print(f"database is up to date: {_redact(settings.url)}")
    return EXIT_OK


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _open_sessions(args: argparse.Namespace) -> Any:
    from empreinte.store import migrate
    from empreinte.store.db import make_engine, make_sessionmaker

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.url)
    return make_sessionmaker(make_engine(settings.url))


def _cmd_demo(args: argparse.Namespace) -> int:
    import shutil

    from empreinte.demo import run

    shutil.rmtree(args.data_dir, ignore_errors=True)
    found = run(args.data_dir, sys.stdout)
    return EXIT_OK if found else EXIT_FATAL


def _cmd_crawl(args: argparse.Namespace) -> int:
    from empreinte.crawler.cli import crawl_command
    from empreinte.runtime import Runtime

    settings = _settings(args)
    if args.allow_loopback:
        settings = settings.model_copy(update={"allow_loopback": True})
    with Runtime(settings, background=False) as runtime:
        return crawl_command(runtime, args.urls, args.depth, args.max_pages)


def _cmd_worker(args: argparse.Namespace) -> int:
    import contextlib
    import signal
    import threading

    from empreinte.logs import configure_logging
    from empreinte.runtime import Runtime

    configure_logging()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Runtime(_settings(args), hashers=None), contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    import json

    from empreinte.notices.report import render_markdown, yearly

    sessions = _open_sessions(args)
    with sessions() as session:
        report = yearly(session, args.year)
    print(json.dumps(report, indent=1, default=str) if args.json else render_markdown(report))
    return EXIT_OK


def _cmd_keys_create(args: argparse.Namespace) -> int:
    from empreinte.errors import EmpreinteError
    from empreinte.store import audit
    from empreinte.store.keys import create_key
    from empreinte.store.models import Role

    sessions = _open_sessions(args)
    try:
        with sessions.begin() as session:
            row, key = create_key(session, Role(args.role), args.org, label=args.label)
            audit.record(session, "cli", "key.create", target=row.prefix, role=args.role)
    except EmpreinteError as exc:
        print(f"empreinte: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(key)
    print(
        f"# {args.role} key {row.prefix}"
        + (f" for {args.org}" if args.org else "")
        + ": shown once, store it now",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    from empreinte.errors import EmpreinteError
    from empreinte.store import audit
    from empreinte.store.keys import revoke_key

    sessions = _open_sessions(args)
    try:
        with sessions.begin() as session:
            revoke_key(session, args.prefix)
            audit.record(session, "cli", "key.revoke", target=args.prefix)
    except EmpreinteError as exc:
        print(f"empreinte: {exc}", file=sys.stderr)
        return EXIT_FATAL
    print(f"revoked {args.prefix}")
    return EXIT_OK


def _cmd_keys_list(args: argparse.Namespace) -> int:
    from empreinte.store.keys import list_keys

    sessions = _open_sessions(args)
    with sessions() as session:
        for row in list_keys(session):
            state = "revoked" if row.revoked_at else "active"
            org = row.organisation.name if row.organisation else "-"
            print(f"{row.prefix}  {row.role:<8}  {state:<7}  {org}")
    return EXIT_OK


def _cmd_users_create(args: argparse.Namespace) -> int:
    import getpass

    from empreinte.errors import EmpreinteError
    from empreinte.store import audit, users

    password = getpass.getpass("password: ") if args.ask_password else users.new_password()
    sessions = _open_sessions(args)
    try:
        with sessions.begin() as session:
            user = users.create_user(
                session,
                args.org,
                args.email,
                users.UserRole(args.role),
                password=password,
                language=args.language,
            )
            uri = users.enable_totp(session, user) if args.totp else None
            audit.record(
                session,
                "cli",
                "user.create",
                organisation_id=user.organisation_id,
                target=str(user.id),
                role=args.role,
            )
    except EmpreinteError as exc:
        print(f"empreinte: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.ask_password:
        print(password)
        print(f"# initial password of {user.email}: shown once, give it now", file=sys.stderr)
    if uri:
        print(f"# authenticator (TOTP) URI: {uri}", file=sys.stderr)
    return EXIT_OK


def _cmd_page(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from empreinte.web.site import write_site

    api: str = args.api
    if api and (urlsplit(api).scheme not in ("http", "https") or not urlsplit(api).netloc):
        print(f"empreinte: --api must be an http(s) URL, not {api!r}", file=sys.stderr)
        return EXIT_USAGE
    written = write_site(args.out, api)
    print(f"wrote {len(written)} files to {args.out} (open {args.out / 'index.html'})")
    return 0


def _cmd_hash(args: argparse.Namespace) -> int:
    from empreinte import batch
    from empreinte.errors import EmpreinteError
    from empreinte.hashing import fingerprint_file

    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    output: Path = args.output
    manifest: Path = args.manifest or output.with_name(
        f"{output.name.removesuffix('.json')}.local-manifest.json"
    )
    if output.resolve() == manifest.resolve():
        print("empreinte: the output and the manifest must be different files", file=sys.stderr)
        return EXIT_USAGE
    show = sys.stderr.isatty() and not args.quiet
    summary = batch.run(args.paths, jobs=jobs, progress=_ProgressBar(sys.stderr) if show else None)
    hashed = summary.of(batch.Outcome.HASHED)
    try:
        fingerprint_file.write(output, summary.records)
        fingerprint_file.write_manifest(
            manifest, {r.record.id: r.path for r in hashed if r.record is not None}
        )
    except (OSError, EmpreinteError) as exc:
        print(f"empreinte: cannot write the output: {exc}", file=sys.stderr)
        return EXIT_FATAL
    _print_summary(summary, output, manifest, sys.stdout, quiet=args.quiet)
    settled = len(hashed) + len(summary.of(batch.Outcome.SKIPPED))
    return EXIT_OK if settled == len(summary.results) else EXIT_PARTIAL


def _print_summary(
    summary: Summary, output: Path, manifest: Path, out: TextIO, *, quiet: bool
) -> None:
    from empreinte.batch import Outcome

    low = summary.of(Outcome.LOW_QUALITY)
    bad = summary.of(Outcome.UNREADABLE)
    skipped = summary.of(Outcome.SKIPPED)
    hashed = summary.of(Outcome.HASHED)
    if not quiet:
        sections = (("Refused, low quality", low), ("Unreadable", bad), ("Skipped", skipped))
        for title, results in sections:
            if results:
                print(f"{title}:", file=out)
                for result in results:
                    print(f"  {result.path}: {result.reason}", file=out)
        print(f"Fingerprints written to {output} (hand this file over).", file=out)
        print(f"Local manifest written to {manifest} (keep it private).", file=out)
    print(
        f"Summary: {len(hashed)} hashed, {len(low)} refused for low quality, "
        f"{len(bad)} unreadable, {len(skipped)} skipped, {len(summary.results)} files in all.",
        file=out,
    )


class _ProgressBar:
    """A one-line progress bar on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r[{bar}] {done}/{total} files{end}")
        self.stream.flush()


def _cmd_compare(args: argparse.Namespace) -> int:
    from empreinte.compare import compare_files
    from empreinte.errors import ImageError

    try:
        report = compare_files(args.a, args.b)
    except ImageError as exc:
        print(f"empreinte: {exc.reason}", file=sys.stderr)
        return EXIT_FATAL
    except OSError as exc:
        print(f"empreinte: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_FATAL
    for line in report.lines():
        print(line)
    return EXIT_OK
