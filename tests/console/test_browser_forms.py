"""The console's remaining forms in a real browser: bulk approval, wellness settings, the report.

Like ``test_browser``, each test drives Debian's Chromium against a real app on
loopback and fails on any JavaScript error in the console log.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import pyotp
from sqlalchemy import select

from empreinte.notices.contacts import add_contact
from empreinte.store import models as m
from empreinte.store.models import console as console_tables
from empreinte.store.models.notices import Contact, ContactRole, NegativeEntry, Notice, Sighting
from tests.console.conftest import PASSWORD, Tab, World
from tests.console.test_browser import _audit, _count, _press, _status

Tabs = Callable[[], Tab]


def _far(world: World, notice_id: str) -> None:
    """Make the match of ``notice_id`` a distant one, which bulk approval must skip."""
    with world.sessions.begin() as session:
        notice = session.get_one(Notice, notice_id)
        session.get_one(Sighting, notice.sighting_id).distance = 60


def test_bulk_approval_takes_only_the_ticked_near_exact_drafts(world: World, tabs: Tabs) -> None:
    far, unticked, *near = world.a_notices
    _far(world, far)
    tab = tabs()
    tab.sign_in(world.people["rev1"])
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/notices?status=draft")
    assert tab.page.locator(f"input[name=notice][value='{far}']").count() == 0
    tab.page.uncheck(f"input[name=notice][value='{unticked}']")
    tab.page.eval_on_selector(
        "form[action$=bulk-approve]",
        "(f, id) => { const i = document.createElement('input');"
        " i.type = 'hidden'; i.name = 'notice'; i.value = id; f.appendChild(i); }",
        far,
    )
    tab.shot("notices-bulk")
    tab.page.click("#bulk-approve")
    result = tab.page.inner_text("#bulk-result")
    assert result.startswith(f"{len(near)} notices approved; 1 skipped")
    tab.shot("notices-bulk-done")
    assert {_status(world, n) for n in near} <= {"approved", "sent"}  # the worker may send
    assert _status(world, far) == "draft" and _status(world, unticked) == "draft"
    approvals = _audit(world, "notice.approve")
    assert sorted(e.target for e in approvals) == sorted(near)


def test_wellness_settings_per_person_and_organisation_default(world: World, tabs: Tabs) -> None:
    admin = tabs()
    admin.sign_in(world.people["admin"])
    admin.page.wait_for_url("**/console/cases")
    admin.go("/console/settings")
    admin.page.fill("#org-blur", "12")
    admin.page.select_option("#org-grey", "off")
    admin.page.click("form:has(#org-blur) button[type=submit]")
    admin.page.wait_for_url("**/console/settings?saved=1")
    with world.sessions() as session:
        default = session.scalars(select(console_tables.Preferences)).one()
        assert (default.blur, default.greyscale) == (12, False)
    reviewer = tabs()
    reviewer.sign_in(world.people["rev1"])
    reviewer.page.wait_for_url("**/console/cases")
    reviewer.go("/console/queue")
    _press(reviewer, "t")
    item = reviewer.page.url
    frame = reviewer.page.get_attribute("#frame", "class") or ""
    assert "blur-12" in frame and "grey" not in frame.split()
    reviewer.go("/console/settings")
    assert "Now: 12 px" in reviewer.page.inner_text("#blur-help")
    reviewer.page.fill("#blur", "40")
    reviewer.page.select_option("#greyscale", "on")
    reviewer.page.click("#save-mine")
    reviewer.page.wait_for_url("**/console/settings?saved=1")
    reviewer.shot("settings-saved")
    assert "Now: 40 px" in reviewer.page.inner_text("#blur-help")
    reviewer.page.goto(item)
    frame = reviewer.page.get_attribute("#frame", "class") or ""
    assert "blur-40" in frame and "grey" in frame.split()
    with world.sessions() as session:
        mine = session.scalars(
            select(console_tables.User).where(console_tables.User.email == world.people["rev1"])
        ).one()
        assert (mine.blur, mine.greyscale) == (40, True)
    assert len(_audit(world, "console.wellness")) == 2


def test_a_reviewer_may_not_set_the_organisation_default(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["rev1"])
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/settings")
    assert tab.page.locator("#org-blur").count() == 0
    tab.page.eval_on_selector(
        "form:has(#blur)",
        "f => { const i = document.createElement('input');"
        " i.type = 'hidden'; i.name = 'scope'; i.value = 'organisation'; f.appendChild(i); }",
    )
    tab.page.click("#save-mine")
    with world.sessions() as session:
        assert session.scalars(select(console_tables.Preferences)).first() is None
    assert not _audit(world, "console.wellness")


def test_report_downloads_in_markdown_and_json(world: World, tabs: Tabs, tmp_path: Path) -> None:
    tab = tabs()
    tab.sign_in(world.people["admin"])
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/stats")
    year = dt.datetime.now(dt.UTC).year
    with tab.page.expect_download() as markdown:
        tab.page.click("#report-md")
    assert markdown.value.suggested_filename == f"empreinte-dsa-report-{year}.md"
    text = Path(markdown.value.path()).read_text()
    assert text.startswith(f"# Takedown notices in {year} (DSA art. 22)")
    assert "Notifier: E-Enfance." in text
    with tab.page.expect_download() as as_json:
        tab.page.click("#report-json")
    found = json.loads(Path(as_json.value.path()).read_text())
    assert found["year"] == year and found["notifier"] == "E-Enfance"
    assert found["totals"]["notices"] == 0
    assert world.a_case_number not in text and world.a_case not in json.dumps(found)


def test_a_person_turns_two_step_sign_in_on_and_off(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    email = world.people["worker"]
    tab.sign_in(email)
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/settings")
    tab.page.click("#totp-enable")
    secret = tab.page.inner_text("#totp-secret")
    uri = tab.page.inner_text("#totp-uri")
    assert uri.startswith("otpauth://totp/Empreinte:") and f"secret={secret}" in uri
    tab.shot("settings-totp")
    tab.page.fill("#totp-code", _wrong(secret))
    tab.page.click("#totp-confirm")
    assert "Wrong one-time code" in tab.page.inner_text("#totp-error")
    assert _secret(world, email) is None
    tab.page.fill("#totp-code", pyotp.TOTP(secret).now())
    tab.page.click("#totp-confirm")
    tab.page.wait_for_url("**/console/settings?totp=on")
    assert "is on" in tab.page.inner_text("#totp-state")
    assert _secret(world, email) == secret
    tab.page.click("#sign-out")
    tab.sign_in(email)
    assert "one-time code" in tab.page.inner_text("#signin-error")
    tab.go("/console/sign-in")
    tab.page.fill("#email", email)
    tab.page.fill("#password", PASSWORD)
    tab.page.fill("#code", pyotp.TOTP(secret).now())
    tab.page.click("button[type=submit].primary")
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/settings")
    tab.page.fill("#totp-off-code", _wrong(secret))
    tab.page.click("#totp-disable")
    assert "Wrong one-time code" in tab.page.inner_text("#totp-error")
    assert _secret(world, email) == secret
    tab.page.fill("#totp-off-code", pyotp.TOTP(secret).now())
    tab.page.click("#totp-disable")
    tab.page.wait_for_url("**/console/settings?totp=off")
    assert _secret(world, email) is None
    assert [len(_audit(world, a)) for a in ("console.totp_on", "console.totp_off")] == [1, 1]


def test_a_forged_totp_secret_is_refused(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["worker"])
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/settings")
    tab.page.click("#totp-enable")
    tab.page.eval_on_selector("input[name=secret]", "i => { i.value = '<b>short</b>'; }")
    tab.page.fill("#totp-code", "123456")
    tab.page.click("#totp-confirm")
    assert "Wrong one-time code" in tab.page.inner_text("#totp-error")
    assert tab.page.locator("#totp-enable").count() == 1
    assert _secret(world, world.people["worker"]) is None


def _wrong(secret: str) -> str:
    """Return a six-digit code that none of the accepted time steps gives."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    accepted = {totp.at(now + step * 30) for step in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in accepted)


def _secret(world: World, email: str) -> str | None:
    with world.sessions() as session:
        return session.scalars(
            select(console_tables.User.totp_secret).where(console_tables.User.email == email)
        ).one()


def _org(world: World, name: str) -> int:
    with world.sessions() as session:
        return int(
            session.scalars(select(m.Organisation.id).where(m.Organisation.name == name)).one()
        )


def test_admin_manages_own_contacts_and_negative_list_only(world: World, tabs: Tabs) -> None:
    a, b = _org(world, "E-Enfance"), _org(world, "Child Focus")
    with world.sessions.begin() as session:
        theirs = add_contact(
            session,
            domain="theirs.example",
            role=ContactRole.HOST,
            email="abuse@theirs.example",
            created_by=b,
        ).id
        for org, url in ((a, "https://ours.example/benign.jpg"), (b, "https://theirs.example/x")):
            session.add(
                NegativeEntry(url=url, reason="false match", organisation_id=org, actor="t")
            )
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["admin"])
    tab.page.wait_for_url("**/console/cases")
    tab.page.click("nav a[href='/console/contacts']")
    assert "theirs.example" not in tab.page.inner_text("main")
    assert "https://ours.example/benign.jpg" in tab.page.inner_text("#negative")
    for domain, hook, message in (
        ("imgs.example", "http://169.254.169.254/latest/meta-data", "must be on a public host"),
        ("imgs.example", "http://localhost:8080/hook", "must be on a public host"),
        ("co.uk", "", "is a public suffix"),
    ):
        tab.page.fill("#contact-domain", domain)
        tab.page.fill("#contact-webhook", hook)
        tab.page.fill("#contact-email", "abuse@imgs.example")
        tab.page.click("#contact-add")
        assert message in tab.page.inner_text("#contact-error")
    tab.shot("contacts-refused")
    assert _count(world, Contact, Contact.created_by == a) == 0
    tab.page.fill("#contact-domain", "imgs.example")
    tab.page.fill("#contact-webhook", world.receiver.url)
    tab.page.fill("#contact-email", "")
    tab.page.select_option("#contact-role", "host")
    tab.page.click("#contact-add")
    assert "imgs.example" in tab.page.inner_text("#contact-added")
    assert len(tab.page.inner_text("#contact-secret")) >= 32
    assert "imgs.example" in tab.page.inner_text("#contacts")
    tab.shot("contacts")
    forged = f"/console/contacts/{theirs}/delete"
    answer = tab.page.request.post(
        world.base + forged, form={"csrf": tab.page.get_attribute("input[name=csrf]", "value")}
    )
    assert answer.status == 404
    assert _count(world, Contact, Contact.id == theirs) == 1
    with tab.page.expect_navigation():
        tab.page.click("#contacts button[type=submit]")
    assert "No contacts yet" in tab.page.inner_text("main")
    live = (Contact.created_by == a, Contact.domain == "imgs.example")
    assert _count(world, Contact, *live) == 0  # a tombstone row stays for past deliveries
    assert _count(world, Contact, Contact.id == theirs, Contact.domain == "theirs.example") == 1
    with tab.page.expect_navigation():
        tab.page.click("#negative button[type=submit]")
    assert _count(world, NegativeEntry, NegativeEntry.organisation_id == a) == 0
    assert _count(world, NegativeEntry, NegativeEntry.organisation_id == b) == 1
    assert [len(_audit(world, x)) for x in ("contact.add", "contact.delete")] == [1, 1]


def test_a_reviewer_has_no_contacts_page(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["rev1"])
    tab.page.wait_for_url("**/console/cases")
    assert tab.page.locator("nav a[href='/console/contacts']").count() == 0
    assert tab.go("/console/contacts").status == 403
