"""The dashboard on every node's HTTP port, seen in a real headless Chromium, and /metrics
under the names the Grafana dashboard in docs/grafana/ queries.

The browser test renders the page against a real 3-node cluster with traffic on it,
checks what a user would look at (every member with its zone and role, the
per-protocol numbers, the charts drawn), saves a screenshot, then kills a follower and
waits for the page to show it down with a banner, and for it to come back after a
restart. Without Chromium it skips and says why (.ci/run installs Debian's `chromium`).
"""

from __future__ import annotations

import json
import pathlib
import re
import threading
import urllib.error
import urllib.request

import redis
from pymemcache.client.base import Client as MemcacheClient

from tests.integration.browser import Browser, find_chromium

ROOT = pathlib.Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "docs" / "grafana" / "raftcache.json"
#: Series Prometheus makes itself (not exported by the nodes).
PROMETHEUS_OWN = {"up"}


def _get(node, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    host, port = node.http_address
    request = urllib.request.Request(f"http://{host}:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Traffic:
    """Redis SET/GETs on one node and memcached sets/gets on another until stopped."""

    def __init__(self, redis_node, memcache_node):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._redis, args=(redis_node,), daemon=True),
                         threading.Thread(target=self._memcache, args=(memcache_node,), daemon=True)]
        for t in self._threads:
            t.start()

    def _redis(self, node):
        host, port = node.redis_address
        r = redis.Redis(host=host, port=port, socket_timeout=5)
        i = 0
        while not self._stop.wait(0.005):
            try:
                r.set(f"k{i % 50}", "v" * 100)
                r.get(f"k{i % 50}")
            except redis.RedisError:
                pass
            i += 1

    def _memcache(self, node):
        mc = MemcacheClient(node.memcached_address, timeout=5, connect_timeout=5)
        while not self._stop.wait(0.01):
            try:
                mc.get("m")
            except (OSError, Exception):
                pass

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(10)


def _members(browser) -> dict:
    return browser.evaluate("""Object.fromEntries([...document.querySelectorAll('article.member')].map(a =>
        [a.dataset.id, {zone: a.dataset.zone, role: a.dataset.role,
                        column: a.closest('.zone').dataset.zone, text: a.innerText}]))""")


def test_the_dashboard_draws_the_cluster_and_shows_a_killed_node_down_then_back(make_cluster, tmp_path):
    find_chromium()                     # skip before starting a cluster when there is no browser
    cluster = make_cluster(3)
    leader = cluster.leader()
    follower, victim = cluster.followers()[:2]
    traffic = Traffic(leader, follower)
    browser = Browser()
    try:
        host, port = follower.http_address
        browser.open(f"http://{host}:{port}/")
        browser.wait_for("document.querySelectorAll('article.member').length === 3", 20, "three members drawn")
        members = _members(browser)
        assert {m: (v["zone"], v["column"]) for m, v in members.items()} == {
            n.id: (n.zone, n.zone) for n in cluster.nodes}
        browser.wait_for(f"document.querySelector('article[data-id=\"{leader.id}\"]').dataset.role === 'leader'",
                         10, f"{leader.id} shown as the leader")
        members = _members(browser)
        assert {m: v["role"] for m, v in members.items()} == {
            n.id: ("leader" if n is leader else "follower") for n in cluster.nodes}
        # a few polls with traffic: the rates, the latency and every chart have data
        browser.wait_for("Number(document.body.dataset.samples) >= 4", 30, "four polls")
        points = browser.evaluate("Object.fromEntries([...document.querySelectorAll('canvas')]"
                                  ".map(c => [c.id, Number(c.dataset.points || 0)]))")
        assert all(n > 0 for n in points.values()), points
        rows = browser.evaluate(f"""[...document.querySelectorAll('article[data-id="{leader.id}"] table tr')]
            .map(tr => [...tr.children].map(td => td.innerText))""")
        redis_row = next(r for r in rows if r[0] == "Redis")
        assert redis_row[1] not in ("–", "0") and "s" in redis_row[3], rows     # ops/s and a p99
        text = members[leader.id]["text"]
        assert "keys per database: db0:" in text and "memory" in text, text
        screenshot = tmp_path / "dashboard.png"
        browser.screenshot(str(screenshot))
        print(f"dashboard screenshot: {screenshot}")
        assert screenshot.stat().st_size > 10_000

        cluster.kill(victim)
        browser.wait_for(f"document.querySelector('article[data-id=\"{victim.id}\"]').dataset.role === 'down'",
                         15, f"{victim.id} shown down")
        banners = browser.evaluate("[...document.querySelectorAll('.banner.critical')].map(b => b.innerText)")
        assert any(victim.id in b and "down" in b for b in banners), banners
        browser.screenshot(str(tmp_path / "dashboard-node-down.png"))

        cluster.restart(victim)
        browser.wait_for(f"document.querySelector('article[data-id=\"{victim.id}\"]').dataset.role === 'follower'",
                         30, f"{victim.id} back as a follower")
        browser.wait_for(f"![...document.querySelectorAll('.banner')].some(b => b.innerText.includes('{victim.id}'))",
                         15, "its banner gone")
    finally:
        browser.close()
        traffic.stop()


def test_the_page_is_self_contained_and_cached(cluster):
    node = cluster.nodes[0]
    code, headers, body = _get(node, "/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert "max-age" in headers["Cache-Control"] and headers["ETag"]
    assert _get(node, "/", {"If-None-Match": headers["ETag"]})[0] == 304
    for path in ("/", "/dashboard.js", "/dashboard.css"):
        code, headers, asset = _get(node, path)
        assert code == 200 and headers["ETag"], path
        # nothing loaded from another host: no absolute URL in src/href/url()/fetch
        assert not re.search(rb"""(src|href)=["']?(https?:)?//|url\(\s*["']?(https?:)?//|fetch\(["'](https?:)?//""",
                             asset), path
    code, headers, _ = _get(node, "/status")
    assert headers["Cache-Control"] == "no-store"


def test_cluster_json_gathers_every_members_status(cluster):
    leader = cluster.leader()
    code, headers, body = _get(cluster.nodes[-1], "/cluster")
    assert code == 200 and headers["Cache-Control"] == "no-store"
    view = json.loads(body)
    assert view["served_by"] == cluster.nodes[-1].id
    by_id = {m["id"]: m for m in view["members"]}
    assert set(by_id) == {n.id for n in cluster.nodes}
    for n in cluster.nodes:
        m = by_id[n.id]
        assert m["reachable"] and m["zone"] == n.zone and m["http"] == "%s:%d" % n.http_address, m
        assert m["status"]["id"] == n.id
        assert set(m["status"]["protocols"]) == {"resp", "memcache", "grpc"}
    assert [m["id"] for m in view["members"] if m["status"]["role"] == "leader"] == [leader.id]


def _metric_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def _queried_names(dashboard: dict) -> set[str]:
    exprs = []

    def walk(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("expr", "definition") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(dashboard)
    assert exprs, "no query found in the dashboard"
    names = set()
    for expr in exprs:
        names |= set(re.findall(r"\b(?:redis|raftcache)_[a-z0-9_]+\b", expr)) | (
            set(re.findall(r"\b[a-z_]+\b", expr)) & PROMETHEUS_OWN)
    return names


def test_every_metric_the_grafana_dashboard_queries_exists(cluster):
    leader = cluster.leader()
    host, port = leader.redis_address
    r = redis.Redis(host=host, port=port)
    r.set("grafana", "1")
    r.get("grafana")
    try:
        r.execute_command("NO-SUCH-COMMAND")
    except redis.ResponseError:
        pass
    exported = set()
    for node in cluster.nodes:
        code, _, body = _get(node, "/metrics")
        assert code == 200
        exported |= _metric_names(body.decode())
    queried = _queried_names(json.loads(GRAFANA.read_text()))
    assert queried - PROMETHEUS_OWN, queried
    missing = {name for name in queried - PROMETHEUS_OWN if name not in exported}
    assert not missing, f"the Grafana dashboard queries metrics no node exports: {sorted(missing)}"
    # redis_exporter's names, as its users know them
    for name in ("redis_connected_clients", "redis_commands_total", "redis_commands_duration_seconds_total",
                 "redis_keyspace_hits_total", "redis_evicted_keys_total", "redis_memory_used_bytes", "redis_db_keys",
                 "raftcache_raft_term", "raftcache_raft_commit_index", "raftcache_raft_applied_index",
                 "raftcache_member_lag_entries", "raftcache_raft_elections_total",
                 "raftcache_raft_snapshot_duration_seconds_count", "raftcache_raft_fsync_duration_seconds_bucket",
                 "raftcache_raft_proposals_in_flight", "raftcache_request_duration_seconds_bucket"):
        assert name in exported, name
    _, _, body = _get(leader, "/metrics")
    assert re.search(rb'^redis_commands_total\{cmd="set"\} [1-9]', body, re.M), body[:2000]
    assert re.search(rb'^redis_db_keys\{db="db0"\} [1-9]', body, re.M)


def test_the_dashboard_warns_of_an_even_number_of_voters_and_memory_near_the_limit(make_cluster):
    find_chromium()
    cluster = make_cluster(2, extra_args=["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"])
    leader = cluster.leader()
    host, port = leader.redis_address
    r = redis.Redis(host=host, port=port)
    try:
        for i in range(200):
            r.set(f"fill{i}", "x" * 5000)
    except redis.ResponseError as e:      # -OOM once full: that is the point
        assert "OOM" in str(e)
    browser = Browser()
    try:
        host, port = leader.http_address
        browser.open(f"http://{host}:{port}/")
        banners = browser.wait_for("""(() => { const b = [...document.querySelectorAll('.banner')].map(b => b.innerText);
            return b.some(t => t.includes('maxmemory')) && b.some(t => t.includes('even number')) && b; })()""",
                                   20, "the memory and even-voters banners")
        assert any("2 voters" in b for b in banners), banners
        assert any("writes will be refused" in b for b in banners), banners
        bar = browser.evaluate(f"document.querySelector('article[data-id=\"{leader.id}\"] .bar > i').className")
        assert bar in ("high", "full"), bar
    finally:
        browser.close()
