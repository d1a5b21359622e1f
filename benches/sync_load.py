#!/usr/bin/env python3
"""Sync load client for benches/sync-load.sh (standard library only).

Against a running Carnet server (CARNET_BENCH_URL) and its database (CARNET_BENCH_DB_URL,
used through psql for the baselines and to grow the change feed), it measures:

  push      field mutations/s, batches of 100 new contacts x 10 fields, BENCH_PUSHERS
            devices pushing at once, each over one keep-alive connection, their request
            bodies encoded before the clock starts (as the COPY baseline's input is);
            timed in two halves, the faster one reported (as COPY's best of two);
  initial   a full pull (no cursor, 1000 changes a page, gzip) of a user with
            BENCH_CONTACTS contacts: time, bytes on the wire, changes/s, the client
            decompressing and parsing every page and asking for the next one (named by the
            page's Link header) while it parses this one; then again asking for each page
            only once the previous one is parsed;
  pullers   the server's pull throughput: BENCH_PULLERS devices of the same user each
            pull the whole scope at once; the clients follow the Link headers without
            parsing, so the machine's cores go to the server and PostgreSQL;
  p99       pull latency (p50/p99 over BENCH_PULLS pulls of 500 changes from cursors met
            during the initial sync) once the change feed holds BENCH_FEED_ROWS rows;
  copy      the baselines: COPY of the same contact rows into the table, and COPY out of
            the same rows as JSON.

The pulls start after VACUUM (ANALYZE) of the pushed rows, as pgbench does before its runs
(BENCH_VACUUM=0: right after the push, racing autovacuum).

Prints one Markdown table on stdout; progress on stderr.
"""

import gzip
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

URL = os.environ["CARNET_BENCH_URL"].rstrip("/")
HOST = urllib.parse.urlsplit(URL).netloc
DB_URL = os.environ["CARNET_BENCH_DB_URL"]
PSQL = os.environ.get("PSQL", "psql")
CONTACTS = int(os.environ.get("BENCH_CONTACTS", "100000"))
PUSHERS = int(os.environ.get("BENCH_PUSHERS", "4"))
PULLS = int(os.environ.get("BENCH_PULLS", "200"))
FEED_ROWS = int(os.environ.get("BENCH_FEED_ROWS", "1000000"))
PULLERS = int(os.environ.get("BENCH_PULLERS", "4"))
VACUUM = os.environ.get("BENCH_VACUUM", "1") != "0"
BATCH = 100


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def request(method, path, token=None, body=None, gzip_ok=False):
    """The response body (decompressed) and its size on the wire."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if gzip_ok:
        req.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(req, timeout=120) as res:
        raw = res.read()
        wire = len(raw)
        if res.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return raw, wire


def call(method, path, token=None, body=None, gzip_ok=False):
    raw, wire = request(method, path, token, body, gzip_ok)
    return json.loads(raw) if raw else None, wire


def psql(sql, stdin=None):
    out = subprocess.run(
        [PSQL, DB_URL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        input=stdin, capture_output=True, check=True, text=stdin is None or isinstance(stdin, str))
    return out.stdout


def register(name):
    body, _ = call("POST", "/v1/auth/register", body={
        "email": f"{name}.{uuid.uuid4().hex[:8]}@example.org",
        "password": "correct horse battery staple", "display_name": name})
    return body["access_token"], body["user"]["id"]


def device(token, name):
    body, _ = call("POST", "/v1/devices", token, {"platform": "ios", "name": name})
    return body["id"]


def contact_fields(i):
    return {
        "name": f"Contact {i}",
        "organization": f"Organisation {i % 997}",
        "job_title": "Fondatrice",
        "city": ["Lyon", "Montréal", "Paris", "Québec"][i % 4],
        "tags": {"add": ["réseautage", f"lot{i % 50}"], "remove": []},
        "emails": {"add": [f"contact{i}@example.org"], "remove": []},
        "notes": {"base": "", "value": f"Rencontré à l'apéro {i}. Parle de vélo et de coopératives."},
        "how_we_met": {"base": "", "value": "Apéro des indépendants"},
        "starred": i % 7 == 0,
        "met_in_person": True,
    }


class Pusher(threading.Thread):
    """One device pushing its share of new contacts over one keep-alive connection. The
    request bodies are encoded before the clock starts, as the COPY baseline's input is:
    the timed part is the HTTP exchange and the server's work, not the client making JSON."""

    def __init__(self, token, dev, start, count):
        super().__init__()
        self.headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
        self.error = None
        node = dev.replace("-", "")
        self.bodies = []
        mid = 0
        for i in range(start, start + count, BATCH):
            muts = []
            for j in range(i, min(i + BATCH, start + count)):
                mid += 1
                ms = int(time.time() * 1000)
                muts.append({"mutation_id": mid, "collection": "contacts",
                             "id": str(uuid.uuid4()), "op": "upsert",
                             "hlc": f"{ms:015d}-{mid % 100000:05d}-{node}",
                             "fields": contact_fields(j)})
            self.bodies.append(json.dumps({"device_id": dev, "schema_version": 1, "mutations": muts}).encode())

    def run(self):
        conn = http.client.HTTPConnection(HOST, timeout=120)
        try:
            for body in self.bodies:
                conn.request("POST", "/v1/sync/push", body, self.headers)
                res = conn.getresponse()
                raw = res.read()
                if res.status != 200:
                    raise RuntimeError(f"push answered {res.status}: {raw[:300]!r}")
                bad = [r for r in json.loads(raw)["results"] if r["status"] != "applied"]
                if bad:
                    raise RuntimeError(f"push refused: {bad[0]}")
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            conn.close()


def run_together(threads):
    """Starts the threads at once and waits for all of them: the seconds it took."""
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def push(token, count, label, first=0):
    """Pushes contacts first .. first + count - 1, shared among PUSHERS new devices: how many
    were pushed and the seconds it took."""
    devs = [device(token, f"{label} {k}") for k in range(PUSHERS)]
    share = count // PUSHERS
    threads = [Pusher(token, d, first + k * share, share) for k, d in enumerate(devs)]
    elapsed = run_together(threads)
    for t in threads:
        if t.error:
            raise t.error
    return share * PUSHERS, elapsed


NEXT = re.compile(r'<([^>]*)>;\s*rel="next"')


def send_pull(token, path):
    """Sends a pull request on a connection of its own; read_pull reads the answer."""
    conn = http.client.HTTPConnection(HOST, timeout=120)
    conn.request("GET", path, headers={"Authorization": "Bearer " + token, "Accept-Encoding": "gzip"})
    return conn


def read_pull(conn):
    """A pull page as received (body, whether gzip) and the path of the next page (its Link
    header)."""
    try:
        res = conn.getresponse()
        raw = res.read()
    finally:
        conn.close()
    if res.status != 200:
        raise RuntimeError(f"pull answered {res.status}: {raw[:300]!r}")
    link = NEXT.search(res.getheader("Link", ""))
    return raw, res.getheader("Content-Encoding") == "gzip", link.group(1) if link else None


def pull_all(token, dev, parse=True, ahead=True):
    """Pulls every page of dev's scope, as a phone would on its first sync.

    With parse, every page is decompressed and parsed; without, the client only follows
    each page's Link header to the next. With ahead, the request for the next page (named
    by the page's Link header) goes out as soon as a page is received, before the client
    decompresses and parses it, so the server prepares it meanwhile: one page ahead, with no
    thread (Python's global lock would serialise a fetching thread with json.loads).
    Without, the next page is asked for once this one is parsed, from its cursor."""
    first = f"/v1/sync/pull?device_id={dev}&limit=1000"
    pages, changes, wire, cursors = 0, 0, 0, []
    t0 = time.perf_counter()
    conn = send_pull(token, first)
    while True:
        raw, gzipped, next_path = read_pull(conn)
        if next_path and (ahead or not parse):
            conn = send_pull(token, next_path)
        wire += len(raw)
        pages += 1
        if gzipped:
            raw = gzip.decompress(raw)
        if not parse:
            changes += raw.count(b'"collection":')
            if not next_path:
                break
            continue
        body = json.loads(raw)
        changes += len(body["changes"])
        cursors.append(body["cursor"])
        if bool(next_path) != body["has_more"] or (next_path and f"cursor={body['cursor']}&" not in next_path):
            raise RuntimeError(f"the Link header ({next_path}) does not match the page's cursor")
        if not body["has_more"]:
            break
        if not ahead:
            conn = send_pull(token, f"{first}&cursor={body['cursor']}")
    return time.perf_counter() - t0, changes, wire, pages, cursors


def pull_light(token, dev, out):
    out.append(pull_all(token, dev, parse=False)[1])


def pull_concurrently(token):
    devs = [device(token, f"puller {k}") for k in range(PULLERS)]
    done = []
    threads = [threading.Thread(target=pull_light, args=(token, d, done)) for d in devs]
    elapsed = run_together(threads)
    if len(done) != PULLERS:
        raise RuntimeError("a puller failed")
    return sum(done), elapsed


def main():
    rows = []
    say(f"registering, pushing {CONTACTS} contacts (batches of {BATCH} x 10 fields, {PUSHERS} devices)")
    token, user = register("Bench")
    # In two halves, each timed; the faster one is the result, as the COPY baseline is the
    # faster of two runs (on a shared machine either can be slowed by its neighbours).
    half = CONTACTS // 2
    halves = [push(token, half, f"pusher {h}", first=h * half) for h in range(2)]
    n, secs = min(halves, key=lambda ns: ns[1] / ns[0])
    push_rate = n * 10 / secs
    rows.append(("push: field mutations/s (batches of 100 contacts x 10 fields)",
                 f"{push_rate:,.0f}", f"{n:,} contacts in {secs:.1f} s = {n / secs:,.0f} contacts/s (faster of two halves; "
                 + " and ".join(f"{hn * 10 / hs:,.0f}" for hn, hs in halves) + " fields/s)"))

    if VACUUM:
        # As pgbench does before its runs: the pulls then read rows at rest, as a phone's
        # first sync usually does, rather than racing autovacuum over rows just written.
        t0 = time.perf_counter()
        psql("VACUUM (ANALYZE) contacts, sync_changes")
        say(f"VACUUM (ANALYZE) contacts, sync_changes: {time.perf_counter() - t0:.1f} s")
    rested = "after VACUUM ANALYZE" if VACUUM else "right after the push"
    dev = device(token, "fresh phone")
    say("initial sync of the whole scope (gzip), asking for each page while parsing the previous one")
    secs, changes, wire, pages, cursors = pull_all(token, dev)
    rows.append((f"initial sync of {changes:,} contacts (1000 a page, gzip; the client asks for the next "
                 "page, named by the Link header, while it parses this one)",
                 f"{secs:.2f} s", f"{pages} pages, {wire / 1e6:.1f} MB on the wire; {rested}"))
    rows.append(("pull: changes/s, one device, client parsing every page (same run)", f"{changes / secs:,.0f}", ""))
    say("initial sync again, asking for each page once the previous one is parsed")
    seq_secs = pull_all(token, device(token, "fresh phone, page by page"), ahead=False)[0]
    rows.append(("initial sync, the client asking for each page only once it parsed the previous one",
                 f"{seq_secs:.2f} s", f"{changes / seq_secs:,.0f} changes/s"))
    say(f"{PULLERS} devices pulling the whole scope at once")
    total, psecs = pull_concurrently(token)
    rows.append((f"pull: server throughput, {PULLERS} devices at once (changes/s)",
                 f"{total / psecs:,.0f}", f"{total:,} changes in {psecs:.1f} s; the clients follow the Link headers, parsing nothing"))

    # Baselines: the same rows with COPY, in and out.
    say("COPY baselines")
    lines = []
    for i in range(CONTACTS):
        f = contact_fields(i)
        lines.append("\t".join([
            str(uuid.uuid4()), user, f["name"], f["organization"], f["job_title"], f["city"],
            "{" + ",".join(f["tags"]["add"]) + "}", "{" + f["emails"]["add"][0] + "}",
            f["notes"]["value"], f["how_we_met"]["value"], "t" if f["starred"] else "f", "t"]))
    data = "\n".join(lines) + "\n"
    copy_in = ("\\copy contacts (id, owner_id, name, organization, job_title, city, tags, emails, "
               "notes, how_we_met, starred, met_in_person) FROM STDIN")
    # Twice, with fresh ids the second time; the faster run is the baseline (it varies with
    # background vacuum more than the push does).
    copy_secs = None
    for attempt in range(2):
        if attempt:
            data = "\n".join(str(uuid.uuid4()) + line[36:] for line in lines) + "\n"
        t0 = time.perf_counter()
        subprocess.run([PSQL, DB_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", copy_in],
                       input=data, text=True, check=True)
        secs = time.perf_counter() - t0
        copy_secs = secs if copy_secs is None else min(copy_secs, secs)
    copy_rate = CONTACTS * 10 / copy_secs
    rows.append(("baseline: COPY of the same contact rows into contacts (fields/s)",
                 f"{copy_rate:,.0f}", f"{CONTACTS:,} rows in {copy_secs:.1f} s (best of 2, triggers on); push = {push_rate / copy_rate:.2f}x COPY"))
    t0 = time.perf_counter()
    out = subprocess.run([PSQL, DB_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                          f"\\copy (SELECT to_jsonb(c) FROM contacts c WHERE owner_id = '{user}' "
                          f"ORDER BY id LIMIT {CONTACTS}) TO STDOUT"],
                         capture_output=True, check=True)
    out_secs = time.perf_counter() - t0
    rows.append(("baseline: COPY out of the same rows as JSON (rows/s)",
                 f"{CONTACTS / out_secs:,.0f}", f"{len(out.stdout) / 1e6:.1f} MB uncompressed"))

    # Grow the change feed to FEED_ROWS rows (other users' changes), then time pulls.
    have = int(psql("SELECT count(*) FROM sync_changes").strip())
    if have < FEED_ROWS:
        say(f"growing the change feed from {have:,} to {FEED_ROWS:,} rows")
        psql(f"INSERT INTO sync_changes (collection, record_id, user_id) "
             f"SELECT 'contacts', gen_random_uuid(), gen_random_uuid() FROM generate_series(1, {FEED_ROWS - have})")
        psql("ANALYZE sync_changes")
    total = int(psql("SELECT count(*) FROM sync_changes").strip())
    say(f"{PULLS} pulls of 500 changes from cursors of the initial sync")
    latencies = []
    for _ in range(PULLS):
        cursor = random.choice(cursors[:-1] or cursors)
        t0 = time.perf_counter()
        body, _ = call("GET", f"/v1/sync/pull?device_id={dev}&limit=500&cursor={cursor}", token, gzip_ok=True)
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    rows.append((f"pull latency, 500 changes a page, {total:,} change rows in the table",
                 f"p50 {p50:.0f} ms, p99 {p99:.0f} ms", f"{PULLS} pulls"))

    print("| Measure | Result | Detail |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
