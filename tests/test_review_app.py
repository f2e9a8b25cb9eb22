"""The workbench server under FastAPI's TestClient: the token, the list and its filters, a
group's view, bad input (unknown ids 404, malformed decisions 422), two clients deciding at once,
the dossier and the label export; and the static report.html that leads with the groups."""

from __future__ import annotations

import re
import threading

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from adowner.review.app import COOKIE, create_app
from adowner.review.run import LinkRun
from adowner.review.store import Store, group_key

TOKEN = "test-token-123"


@pytest.fixture(scope="module")
def run(review_link) -> LinkRun:
    return LinkRun(review_link)


@pytest.fixture
def client(run, tmp_path) -> TestClient:
    c = TestClient(create_app(run, Store(tmp_path / "d.sqlite"), token=TOKEN))
    c.headers["Authorization"] = f"Bearer {TOKEN}"
    return c


def top_group(run: LinkRun) -> int:
    return int(run.owners.iloc[0]["group_id"])


def test_every_route_but_health_needs_the_token(run, tmp_path) -> None:
    c = TestClient(create_app(run, Store(tmp_path / "d.sqlite"), token=TOKEN))
    assert c.get("/health").json()["status"] == "ok"
    assert c.get("/").status_code == 401
    assert c.get("/export/labels.csv").status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/?token=wrong").status_code == 401
    # the first visit with the token sets the cookie and drops the token from the address
    r = c.get("/?token=" + TOKEN + "&q=x", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/?q=x"
    assert COOKIE in r.cookies
    assert c.get("/").status_code == 200  # the cookie is enough now


def test_the_list_ranks_filters_and_searches(client, run) -> None:
    page = client.get("/").text
    assert page.count('class="grouprow"') == len(run.members)
    first = re.search(r'data-group="(\d+)"', page)
    assert first is not None
    assert int(first.group(1)) == top_group(run)
    assert "htmx.min.js" in page
    assert "https://" not in page
    big = int(run.owners["n_ads"].max())
    rows = client.get(f"/?min_size={big}", headers={"HX-Request": "true"}).text
    assert "<html" not in rows  # htmx gets the rows alone
    assert rows.count('class="grouprow"') == int((run.owners["n_ads"] >= big).sum())
    ad = run.members[top_group(run)][0]
    hit = client.get(f"/?q={ad}").text
    assert hit.count('class="grouprow"') == 1
    assert f'data-group="{top_group(run)}"' in hit
    assert client.get("/?min_size=abc&since=not-a-date").status_code == 200  # ignored, not 500
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200
    assert js.text.startswith("/*! htmx 2.")


def test_the_group_view_says_why_and_shows_the_ads_masked(client, run) -> None:
    g = top_group(run)
    page = client.get(f"/groups/{g}").text
    assert run.explain(g).summary in page.replace("&amp;", "&")
    assert 'id="reason"' in page
    assert "<svg" in page
    assert 'id="cities"' in page
    assert 'id="collapsed"' in page or len(run.explain(g).parts) == 1
    assert page.count('class="choose"') == len(run.members[g])
    assert "<mark>" in page  # the shared spans
    assert "555-01" not in page
    assert "555 01" not in page
    assert "@example.com" not in page
    edges = client.get(f"/groups/{g}/edges").text
    assert edges.count("<tr>") - 1 == min(len(run.edges_of(g)), 500)


def test_unknown_groups_are_404(client) -> None:
    for path in ("/groups/999999", "/groups/abc", "/groups/-1/edges", "/api/groups/999999",
                 "/groups/999999/dossier.html"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.json()["detail"] == "no such group in this link run"
    assert client.post("/groups/999999/decision", json={"action": "confirm"}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"action": "approve"},
        {"action": "confirm", "extra": 1},
        {"action": "split"},  # no ads chosen
        {"action": "split", "chosen": ["no-such-ad"]},
        {"action": "note"},  # a note without its text
        {"action": "confirm", "note": 5},
        ["confirm"],
    ],
)
def test_a_malformed_decision_is_422_and_changes_nothing(client, run, body) -> None:
    g = top_group(run)
    r = client.post(f"/groups/{g}/decision", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("invalid decision")
    assert client.get(f"/api/groups/{g}").json()["decision"] is None


def test_malformed_json_and_a_split_of_every_ad_are_422(client, run) -> None:
    g = top_group(run)
    r = client.post(
        f"/groups/{g}/decision", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "malformed JSON" in r.json()["detail"]
    every = {"action": "split", "chosen": run.members[g]}
    assert client.post(f"/groups/{g}/decision", json=every).status_code == 422


def test_decisions_by_form_and_json_persist_and_note_keeps_the_state(client, run) -> None:
    g = top_group(run)
    r = client.post(f"/groups/{g}/decision", data={"action": "confirm"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/groups/{g}"
    note = "same phone as 202-555-0143, ask ann@example.com"
    r = client.post(f"/groups/{g}/decision", json={"action": "note", "note": note})
    assert r.json()["state"] == "confirmed"
    assert r.json()["note"] == "same phone as [PHONE], ask [EMAIL]"  # kept masked
    chosen = run.members[g][:1]
    r = client.post(f"/groups/{g}/decision", data={"action": "split", "chosen": chosen},
                    headers={"HX-Request": "true"})  # fmt: skip
    assert r.status_code == 200
    assert 'id="decision"' in r.text
    assert "state-split" in r.text
    api = client.get(f"/api/groups/{g}").json()
    assert api["decision"]["state"] == "split"
    assert api["decision"]["chosen"] == chosen
    assert [h["state"] for h in api["history"]] == ["confirmed", "confirmed", "split"]
    assert 'state-split">split' in client.get("/?state=split").text


def test_two_clients_deciding_at_once_last_write_wins_and_both_are_in_history(
    run, tmp_path
) -> None:
    store = Store(tmp_path / "d.sqlite")
    app = create_app(run, store, token=TOKEN)
    g = top_group(run)
    results: dict[str, list[int]] = {"confirm": [], "dismiss": []}

    def decide(action: str) -> None:
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        for _ in range(5):
            r = c.post(f"/groups/{g}/decision", json={"action": action, "analyst": action})
            results[action].append(r.status_code)

    threads = [threading.Thread(target=decide, args=(a,)) for a in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"confirm": [200] * 5, "dismiss": [200] * 5}
    history = store.history(group_key(run.members[g]))
    assert len(history) == 10
    assert {h.analyst for h in history} == {"confirm", "dismiss"}
    final = store.get(group_key(run.members[g]))
    assert final.state == history[-1].state
    assert final.revision == 10


def test_the_dossier_is_one_masked_file_that_loads_nothing(client, run) -> None:
    g = top_group(run)
    client.post(f"/groups/{g}/decision", json={"action": "confirm", "note": "checked"})
    r = client.get(f"/groups/{g}/dossier.html")
    assert r.status_code == 200
    assert f'filename="dossier-G{g}.html"' in r.headers["content-disposition"]
    page = r.text
    assert "<script" not in page
    assert "src=" not in page
    assert "href=" not in page
    assert "555-01" not in page
    assert "@example.com" not in page
    assert run.explain(g).summary in page.replace("&amp;", "&")
    assert "checked" in page
    assert all(a in page for a in run.members[g])


def test_the_label_export_is_what_prepare_reads(client, run, tmp_path) -> None:
    from adowner.data.labels import read_owner_pairs

    g = top_group(run)
    client.post(f"/groups/{g}/decision", json={"action": "confirm"})
    r = client.get("/export/labels.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    path = tmp_path / "pairs.csv"
    path.write_bytes(r.content)
    pairs = read_owner_pairs(str(path))
    assert len(pairs) == len(run.members[g]) - 1
    assert set(pairs["label"]) == {"must-link"}
    assert set(pairs["ad_a"]) | set(pairs["ad_b"]) == set(run.members[g])


def test_the_report_leads_with_the_groups_and_their_reasons(review_link, run) -> None:
    page = (review_link / "report.html").read_text(encoding="utf-8")
    groups, settings = page.index("id='groups'"), page.index("id='settings'")
    assert groups < settings  # the internal settings come last
    assert re.search(r"<details[^>]*id=.settings", page)
    g = top_group(run)
    assert run.explain(g).summary in page.replace("&amp;", "&")
    assert page.index(run.explain(g).summary.replace("&", "&amp;")[:30]) < settings
    assert "555-01" not in page
    assert pd.read_parquet(review_link / "ads.parquet")["ad_id"].nunique() == len(run.ads)


def test_a_decision_follows_its_ads_into_a_rerun_of_link(review_link, run, tmp_path) -> None:
    import shutil

    store = Store(tmp_path / "d.sqlite")
    g = top_group(run)
    ids = run.members[g]
    c = TestClient(create_app(run, store, token=None))
    c.post(f"/groups/{g}/decision", json={"action": "dismiss", "note": "two owners"})
    # the rerun: new group numbers, and one ad of the group has moved to a group of its own
    rerun = tmp_path / "rerun"
    shutil.copytree(review_link, rerun)
    groups = pd.read_parquet(rerun / "groups.parquet")
    groups["group_id"] = groups["group_id"] + 1000
    groups.loc[groups["ad_id"] == ids[-1], "group_id"] = 5000
    groups.to_parquet(rerun / "groups.parquet", index=False)
    owners = pd.read_parquet(rerun / "owners.parquet")
    owners["group_id"] = owners["group_id"] + 1000
    moved = owners.iloc[[-1]].assign(group_id=5000, n_ads=1, rank=len(owners) + 1)
    pd.concat([owners, moved]).to_parquet(rerun / "owners.parquet", index=False)
    again = TestClient(create_app(LinkRun(rerun), store, token=None))
    d = again.get(f"/api/groups/{g + 1000}").json()["decision"]
    assert len(ids) > 2  # so the rest keeps more than half of the decided ads
    assert (d["state"], d["note"], d["carried"]) == ("dismissed", "two owners", True)
    assert "decided on an earlier link run" in again.get(f"/groups/{g + 1000}").text
    assert again.get("/api/groups/5000").json()["decision"] is None
