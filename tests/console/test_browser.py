"""The console in a real browser: what a case worker and a reviewer do, and what they see.

Each test drives Debian's Chromium against a real ``empreinte serve`` app on
loopback, takes screenshots into ``out/screenshots/``, and fails on any
JavaScript error or CSP violation in the console log (the ``tabs`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.notices.queue import ReviewLease
from empreinte.store import models as m
from empreinte.store import users
from empreinte.store.models.notices import NegativeEntry, Notice
from tests.conftest import encode, photo
from tests.console.conftest import MARKUP, QUEUED, Tab, World
from tests.notices.servers import serving

Tabs = Callable[[], Tab]


def _count(world: World, model: Any, *where: Any) -> int:
    with world.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _audit(world: World, action: str) -> list[m.AuditEntry]:
    with world.sessions() as session:
        return list(session.scalars(select(m.AuditEntry).where(m.AuditEntry.action == action)))


def _status(world: World, notice_id: str) -> str:
    with world.sessions() as session:
        return session.get_one(Notice, notice_id).status


def _wait(check: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _press(tab: Tab, key: str) -> None:
    with tab.page.expect_navigation():
        tab.page.keyboard.press(key)


def test_sign_in_wrong_password_then_sign_out(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.go("/console/cases")
    assert tab.page.url.endswith("/console/sign-in")
    tab.shot("signin")
    tab.sign_in(world.people["admin"], "not the password at all")
    assert "Wrong email or password" in tab.page.inner_text("#signin-error")
    tab.shot("signin-refused")
    tab.sign_in(world.people["admin"])
    tab.page.wait_for_url("**/console/cases")
    cookie = next(c for c in tab.context.cookies() if c["name"] == "empreinte_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    tab.page.click("#sign-out")
    assert "You are signed out" in tab.page.inner_text("main")
    tab.go("/console/cases")
    assert tab.page.url.endswith("/console/sign-in")
    assert _audit(world, "console.sign_out")


def test_forged_cross_site_post_is_refused(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["worker"])
    tab.page.wait_for_url("**/console/cases")
    before = _count(world, m.Case)
    target = world.base

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (
                f'<form method="post" action="{target}/console/cases">'
                '<input name="csrf" value="guessed"><button id="go">win a prize</button></form>'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Attacker) as evil:
        tab.page.goto(evil + "/")
        tab.page.click("#go")
        tab.page.wait_for_load_state()
    assert "did not come from a console page" in tab.page.inner_text("main")
    tab.shot("forged-post-refused")
    assert _count(world, m.Case) == before


def test_reviewer_confirms_unblurs_and_the_webhook_receives_the_notice(
    world: World, tabs: Tabs
) -> None:
    tab = tabs()
    tab.sign_in(world.people["rev1"])
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/queue")
    tab.shot("queue")
    _press(tab, "t")
    first = world.a_notices[0]
    assert tab.page.url.endswith(f"/console/queue/{first}")
    tab.page.wait_for_selector("#box.fitted", state="attached")
    assert "blur-24" in tab.page.get_attribute("#frame", "class")
    assert "grey" in tab.page.get_attribute("#frame", "class")
    assert tab.page.eval_on_selector("#found-image", "i => i.naturalWidth") == 256
    tab.shot("item-blurred")
    assert not _audit(world, "review.unblur")
    tab.page.keyboard.press("u")
    tab.page.wait_for_selector("#frame.shown")
    tab.shot("item-unblurred")
    [entry] = _audit(world, "review.unblur")
    assert entry.target == first and entry.actor.startswith("user:")
    _press(tab, "c")
    assert _status(world, first) in ("approved", "sent")
    assert tab.page.url.endswith(f"/console/queue/{world.a_notices[1]}?done=confirm")
    with world.sessions() as session:
        reference = session.get_one(Notice, first).reference

    def received() -> bool:
        bodies = [json.loads(r.body) for r in list(world.receiver.requests)]
        return any(b["notice"]["reference"] == reference for b in bodies)

    assert _wait(received), "the notice never reached the loopback webhook receiver"
    assert _wait(lambda: _status(world, first) == "sent")
    tab.go(f"/console/notices/{first}")
    assert "webhook" in tab.page.inner_text("#deliveries")
    tab.shot("notice-sent")


def test_ten_decisions_with_the_keyboard_alone(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.sign_in(world.people["rev1"])
    tab.page.wait_for_url("**/console/cases")
    tab.go("/console/queue")
    keys = ["t", "c", "c", "f", "c", "n", "c", "c", "f", "c", "c"]
    started = time.monotonic()
    for key in keys:
        _press(tab, key)
    took = time.monotonic() - started
    print(f"\n{len(keys)} keystrokes ({' '.join(keys)}) decided 10 items in {took:.1f} s")
    statuses = [_status(world, n) for n in world.a_notices[:10]]
    assert statuses.count("cancelled") == 3
    assert all(s in ("approved", "sent") for i, s in enumerate(statuses) if keys[i + 1] == "c")
    assert _count(world, NegativeEntry) == 2
    assert _status(world, world.a_notices[10]) == "draft"
    assert tab.page.url.endswith(f"/console/queue/{world.a_notices[10]}?done=c") is False


def test_two_browser_contexts_never_get_the_same_item(world: World, tabs: Tabs) -> None:
    one, two = tabs(), tabs()
    for tab, who in ((one, "rev1"), (two, "rev2")):
        tab.sign_in(world.people[who])
        tab.page.wait_for_url("**/console/cases")
        tab.go("/console/queue")
    seen: list[str] = []
    for _ in range(4):
        for tab in (one, two):
            _press(tab, "t" if "/queue/" not in tab.page.url else "c")
            seen.append(tab.page.url.split("/console/queue/")[1].split("?")[0])
    held_one = one.page.url.split("/console/queue/")[1].split("?")[0]
    held_two = two.page.url.split("/console/queue/")[1].split("?")[0]
    assert held_one != held_two
    assert len(seen) == len(set(seen)), seen
    with world.sessions() as session:
        leases = list(session.scalars(select(ReviewLease)))
    assert len({lease.notice_id for lease in leases}) == len(leases) == 2
    assert {lease.user_id for lease in leases} == {
        u for u in (_user_id(world, "rev1"), _user_id(world, "rev2"))
    }


def _user_id(world: World, who: str) -> int:
    with world.sessions() as session:
        user = session.scalar(select(users.User).where(users.User.email == world.people[who]))
        assert user is not None
        return user.id


def test_ngo_b_sees_nothing_of_ngo_a(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["b_rev"])
    tab.page.wait_for_url("**/console/cases")
    assert world.a_case_number not in tab.page.content()
    tab.go("/console/notices")
    rows = tab.page.locator("tbody tr").count()
    assert rows == 1
    a_notice = world.a_notices[0]
    for path in (
        f"/console/cases/{world.a_case}",
        f"/console/notices/{a_notice}",
        f"/console/notices/{a_notice}/evidence",
        f"/console/notices/{a_notice}/image",
        f"/console/queue/{a_notice}",
    ):
        assert tab.go(path).status == 404, path
    tab.go(f"/console/cases/{world.a_case}")
    tab.shot("other-org-404")
    csrf = tab.page.get_attribute('meta[name="csrf-token"]', "content")
    for path, form in (
        (f"/console/notices/{a_notice}/decide", {"decision": "approve"}),
        (f"/console/queue/{a_notice}/decide", {"decision": "confirm"}),
        (f"/console/cases/{world.a_case}/withdraw", {"confirmed": "yes"}),
    ):
        answer = tab.page.request.post(world.base + path, form={"csrf": csrf, **form})
        assert answer.status == 404, path
    assert _status(world, a_notice) == "draft"
    with world.sessions() as session:
        assert session.get_one(m.Case, world.a_case).status == "active"
    tab.go("/console/queue")
    _press(tab, "t")
    assert tab.page.url.split("/console/queue/")[1] == world.b_notice


def test_french_and_english_pages(world: World, tabs: Tabs) -> None:
    tab = tabs()
    tab.sign_in(world.people["admin"])
    tab.page.wait_for_url("**/console/cases")
    assert tab.page.get_attribute("html", "lang") == "en"
    with tab.page.expect_navigation():
        tab.page.click("button[name=lang][value=fr]")
    assert tab.page.get_attribute("html", "lang") == "fr"
    pages = {
        "cases": "/console/cases",
        "case": f"/console/cases/{world.a_case}",
        "queue": "/console/queue",
        "notices": "/console/notices?status=draft",
        "notice": f"/console/notices/{world.a_notices[0]}",
        "stats": "/console/stats",
        "settings": "/console/settings",
    }
    words = {"fr": "Dossiers", "en": "Cases"}
    for lang in ("fr", "en"):
        if lang == "en":
            with tab.page.expect_navigation():
                tab.page.click("button[name=lang][value=en]")
        for name, path in pages.items():
            assert tab.go(path).status == 200
            assert tab.page.get_attribute("html", "lang") == lang
            assert words[lang] in tab.page.inner_text("header")
            tab.shot(f"{name}-{lang}")
    tab.go(f"/console/notices/{world.a_notices[0]}?lang=fr")
    assert "Notification" in tab.page.inner_text("#document")


def test_case_worker_opens_a_case_attaches_and_withdraws(
    world: World, tabs: Tabs, tmp_path: Path
) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["worker"])
    tab.page.wait_for_url("**/console/cases")
    tab.page.click("#open-case")
    pin = tab.page.inner_text("#case-pin")
    number = tab.page.inner_text("#case-number")
    assert len(pin) == 8 and number.startswith("EMP-")
    tab.shot("case-opened")
    tab.page.click("#to-case")
    assert pin not in tab.page.content()

    tab.page.set_input_files(
        "#file", files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8xx"}]
    )
    tab.page.click("#attach-form button[type=submit]")
    assert "not a fingerprint file" in tab.page.inner_text("#attach-message")
    tab.shot("attach-refused")

    big = tmp_path / "huge.json"
    with big.open("wb") as sparse:
        sparse.truncate(100 * 1024 * 1024)
    tab.page.set_input_files("#file", files=[str(big)])
    assert "cannot be a fingerprint file" in tab.page.inner_text("#attach-message")
    before = tab.page.url
    tab.page.click("#attach-form button[type=submit]")
    assert tab.page.url == before
    assert "cannot be a fingerprint file" in tab.page.inner_text("#attach-message")
    assert not _audit(world, "case.fingerprints")

    good = fingerprint_bytes(encode(photo(3), quality=95))
    weak = fingerprint_bytes(encode(Image.new("RGB", (64, 64), (128, 128, 128))))
    text = fingerprint_file.dumps([good, weak])
    with tab.page.expect_navigation():
        tab.page.evaluate(
            """text => {
                const data = new DataTransfer();
                data.items.add(new File([text], "victim.json", {type: "application/json"}));
                const form = document.getElementById("attach-form");
                form.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
            }""",
            text,
        )
    result = tab.page.inner_text("#attach-result")
    assert "1 fingerprints added" in result and "1 refused" in result
    tab.shot("attach-result")

    tab.page.fill("#urls", "javascript:alert(1)")
    tab.page.click("form[action$=crawl] button")
    assert "refused" in tab.page.inner_text("#crawl-message")
    tab.page.fill("#urls", "https://photoshare.example/u/someone")
    tab.page.click("form[action$=crawl] button")
    assert "scheduled" in tab.page.inner_text("#crawled")

    tab.page.click("#withdraw")
    assert "Tick the box" in tab.page.inner_text("#withdraw-message")
    tab.page.check("#confirmed")
    tab.page.click("#withdraw")
    assert "confirmed the caller's identity" in tab.page.inner_text("#withdraw-message")
    tab.page.check("#confirmed")
    tab.page.fill("#identity-check", "case number and PIN read out on the phone")
    tab.page.click("#withdraw")
    assert tab.page.inner_text("#case-status") == "withdrawn"
    [entry] = _audit(world, "case.withdraw")
    assert entry.details["on_behalf_of_victim"] is True
    assert entry.details["identity_check"] == "case number and PIN read out on the phone"
    assert "withdrawn" in tab.page.inner_text("#timeline").lower()
    tab.shot("case-withdrawn")


def test_hostile_input_is_escaped_and_expired_sessions_change_nothing(
    world: World, tabs: Tabs
) -> None:
    tab = tabs()
    tab.allow_http_errors = True
    tab.sign_in(world.people["rev1"])
    tab.page.wait_for_url("**/console/cases")
    markup = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    tab.go("/console/cases?q=" + markup[:60])
    assert tab.page.input_value("#q") == markup[:60]
    tab.go("/console/cases/" + markup)
    assert tab.page.evaluate("window.pwned") is None
    tab.go("/console/queue")
    with world.sessions.begin() as session:
        for notice_id in world.a_notices[:-1]:
            session.add(
                ReviewLease(
                    notice_id=notice_id,
                    user_id=999,
                    lease_until=m.utcnow() + dt.timedelta(hours=1),
                )
            )
    _press(tab, "t")
    assert tab.page.url.split("/console/queue/")[1] == world.a_notices[-1]
    assert MARKUP in tab.page.inner_text("#image-url")
    assert tab.page.evaluate("window.pwned") is None
    tab.shot("item-markup-escaped")

    with world.sessions.begin() as session:
        for row in session.scalars(select(users.ConsoleSession)):
            row.expires_at = m.utcnow() - dt.timedelta(seconds=1)
    tab.page.click("#decide-confirm")
    assert "session has expired" in tab.page.inner_text("main")
    tab.shot("session-expired")
    assert _status(world, world.a_notices[-1]) == "draft"
    tab.go("/console/cases")
    assert tab.page.url.endswith("/console/sign-in")


def test_admin_invites_a_colleague_who_sets_a_password(world: World, tabs: Tabs) -> None:
    admin = tabs()
    admin.sign_in(world.people["admin"])
    admin.page.wait_for_url("**/console/cases")
    admin.go("/console/settings")
    admin.page.fill("#invite-email", "new@e-enfance.example")
    admin.page.select_option("#invite-role", "case_worker")
    admin.page.click("form[action$=invite] button")
    link = admin.page.inner_text("#invite-link")
    admin.shot("settings-invited")
    guest = tabs()
    guest.page.goto(link)
    guest.shot("invitation")
    guest.page.fill("#password", "a long enough password")
    guest.page.fill("#again", "a long enough password")
    guest.page.click("button.primary")
    assert "password is set" in guest.page.inner_text("main").lower()
    guest.sign_in("new@e-enfance.example", "a long enough password")
    guest.page.wait_for_url("**/console/cases")
    guest.page.goto(link)
    guest.page.fill("#password", "another long password")
    guest.page.fill("#again", "another long password")
    guest.allow_http_errors = True
    guest.page.click("button.primary")
    assert "unknown, already used or expired" in guest.page.inner_text("main")
    assert QUEUED == 12
