from tests.console.conftest import World


def test_smoke(world: World, tabs) -> None:
    tab = tabs()
    tab.sign_in(world.people["admin"])
    tab.page.wait_for_url("**/console/cases")
    tab.shot("smoke-cases")
    for path in [
        "/console/queue",
        "/console/notices",
        "/console/stats",
        "/console/settings",
        f"/console/cases/{world.a_case}",
    ]:
        answer = tab.go(path)
        assert answer.status == 200, (path, tab.page.content()[:2000])
