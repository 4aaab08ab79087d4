#!/usr/bin/env python3
"""Check the Grafana dashboards' PromQL against a running Prometheus.

Extracts every query from the dashboard JSON files (panel targets, nested rows, and
`label_values(...)` template variables), substitutes Grafana's variables the way
Grafana would, and evaluates each one through Prometheus' HTTP API
(/api/v1/query, /api/v1/label/<name>/values). Prints one line per query:

    ok    board-overview.json #6 "Abstraction ratio against target by LPA, $month" A: 7 series
    FAIL  operations.json #9 "Batch apply latency" B: bad_data: ... parse error: ...

Exit status: 0 when every query parses and runs and at least --min-with-data of
them return data; 1 otherwise (also for a dashboard that is not valid JSON, a panel
or target without an expression, a data source other than the dashboard's ${datasource} variable, a dashboard
without that variable (type datasource, query prometheus), or one editable in the
UI while provisioning discards UI changes);
2 for bad arguments.

Variables:
  * dashboard template variables of type `query` are resolved from Prometheus like
    Grafana does (`label_values(metric, label)`), sorted by the variable's `sort`;
    a multi-value or "All" variable becomes its allValue (".*") or, without one,
    (v1|v2|...); a single-value variable takes the first value after sorting (for
    `month`, sorted descending: the latest month). --var NAME=VALUE overrides.
  * $__rate_interval (--rate-interval, 1m), $__interval (--interval, 15s),
    $__range (--range, 1h) and their _s / _ms forms.

Python 3.11 standard library only. Example:

    python3 deploy/grafana/check_dashboards.py http://127.0.0.1:9090 \\
        --min-with-data 0.8 --var month=2024-03
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DATASOURCE_UID = "${datasource}"
HERE = Path(__file__).resolve().parent

VAR_RE = re.compile(r"\$\{(\w+)(?::([\w]+))?\}|\[\[(\w+)\]\]|\$(\w+)")
# label_values(label) or label_values(selector, label); the selector may hold commas.
LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.*)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)
DURATION_RE = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    m = DURATION_RE.match(duration)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration like 1m or 15s: {duration!r}")
    return int(m.group(1)) * UNIT_SECONDS[m.group(2)]


def duration_arg(value: str) -> str:
    seconds(value)
    return value


def fraction_arg(value: str) -> float:
    f = float(value)
    if not 0.0 <= f <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return f


@dataclass
class Query:
    dashboard: str
    where: str  # panel id and title, or "variable NAME"
    ref: str
    expr: str  # as written in the dashboard
    kind: str = "expr"  # "expr" (instant query) or "label_values" (variable)


@dataclass
class Result:
    ok: bool
    series: int
    message: str


class Prometheus:
    def __init__(self, base_url: str, timeout: float, at: str | None):
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.at = at

    def _call(self, path: str, params: list[tuple[str, str]], post: bool) -> dict:
        data = urllib.parse.urlencode(params).encode()
        url = f"{self.base}{path}"
        if post:
            req = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            req = urllib.request.Request(f"{url}?{data.decode()}" if params else url)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            # Prometheus answers 400 (bad_data: parse errors) and 422 (execution
            # errors) with a JSON body that says why.
            try:
                return json.load(e)
            except (json.JSONDecodeError, ValueError):
                return {"status": "error", "errorType": f"http {e.code}", "error": e.reason}

    def query(self, expr: str) -> Result:
        params = [("query", expr)]
        if self.at:
            params.append(("time", self.at))
        body = self._call("/api/v1/query", params, post=True)
        if body.get("status") != "success":
            return Result(False, 0, f"{body.get('errorType', 'error')}: {body.get('error', body)}")
        data = body["data"]
        n = len(data["result"]) if data["resultType"] in ("vector", "matrix") else 1
        return Result(True, n, f"{n} series")

    def label_values(self, label: str, match: str | None) -> tuple[Result, list[str]]:
        params = [("match[]", match)] if match else []
        body = self._call(f"/api/v1/label/{urllib.parse.quote(label)}/values", params, post=False)
        if body.get("status") != "success":
            return Result(False, 0, f"{body.get('errorType', 'error')}: {body.get('error', body)}"), []
        values = list(body["data"])
        return Result(True, len(values), f"{len(values)} values"), values


def panels_of(dashboard: dict):
    """Every panel, including those nested in collapsed rows."""
    for p in dashboard.get("panels", []):
        yield p
        for inner in p.get("panels", []) or []:
            yield inner


def datasource_uid(ds) -> str | None:
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds  # legacy: a name string, or None


def structure(name: str, dashboard: dict) -> tuple[list[str], list[Query]]:
    """Structural problems, and the queries to run."""
    problems: list[str] = []
    queries: list[Query] = []
    seen_ids: set = set()
    for p in panels_of(dashboard):
        pid, title = p.get("id"), p.get("title", "")
        where = f'#{pid} "{title}"'
        if pid in seen_ids:
            problems.append(f"{name} {where}: duplicate panel id")
        seen_ids.add(pid)
        if "gridPos" not in p:
            problems.append(f"{name} {where}: no gridPos")
        targets = p.get("targets") or []
        if p.get("type") in ("row", "text") and not targets:
            continue
        if not targets:
            problems.append(f"{name} {where}: panel has no queries")
            continue
        if datasource_uid(p.get("datasource")) != DATASOURCE_UID:
            problems.append(f"{name} {where}: panel data source is not uid {DATASOURCE_UID!r}")
        for t in targets:
            ref = t.get("refId", "?")
            if "datasource" in t and datasource_uid(t["datasource"]) != DATASOURCE_UID:
                problems.append(f"{name} {where} {ref}: target data source is not uid {DATASOURCE_UID!r}")
            expr = (t.get("expr") or "").strip()
            if not expr:
                problems.append(f"{name} {where} {ref}: target has no expr")
                continue
            queries.append(Query(name, where, ref, expr))
    boxes = []
    for p in panels_of(dashboard):
        g = p.get("gridPos") or {}
        try:
            x, y, w, h = (int(g[k]) for k in "xywh")
        except (KeyError, TypeError, ValueError):
            continue
        if x < 0 or w <= 0 or h <= 0 or x + w > 24:
            problems.append(f'{name} #{p.get("id")} "{p.get("title", "")}": gridPos {g} outside the 24-column grid')
        for other, (ox, oy, ow, oh) in boxes:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                problems.append(f'{name} #{p.get("id")} "{p.get("title", "")}": overlaps panel #{other}')
        boxes.append((p.get("id"), (x, y, w, h)))
    variables = dashboard.get("templating", {}).get("list", [])
    if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
               and v.get("query") == "prometheus" for v in variables):
        problems.append(f"{name}: no `datasource` variable of type datasource (query prometheus)")
    # provisioning/dashboards/dashboards.yml sets allowUiUpdates: false.
    if dashboard.get("editable") is not False:
        problems.append(f"{name}: editable must be false (provisioning discards UI changes)")
    for v in variables:
        if v.get("type") != "query":
            continue
        where = f"variable {v.get('name')}"
        if datasource_uid(v.get("datasource")) != DATASOURCE_UID:
            problems.append(f"{name} {where}: data source is not uid {DATASOURCE_UID!r}")
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not q:
            problems.append(f"{name} {where}: no query")
            continue
        kind = "label_values" if LABEL_VALUES_RE.match(q) else "expr"
        queries.append(Query(name, where, "var", q, kind))
    return problems, queries


def sort_values(values: list[str], sort: int) -> list[str]:
    # Grafana: 0 none, 1/2 alphabetical asc/desc, 3/4 numerical asc/desc,
    # 5/6 alphabetical case-insensitive asc/desc.
    def num(s):
        m = re.search(r"-?\d+(\.\d+)?", s)
        return float(m.group()) if m else float("inf")
    if sort in (1, 2):
        return sorted(values, reverse=sort == 2)
    if sort in (3, 4):
        return sorted(values, key=num, reverse=sort == 4)
    if sort in (5, 6):
        return sorted(values, key=str.lower, reverse=sort == 6)
    return values


def builtins(args) -> dict[str, str]:
    rate, interval, rng = seconds(args.rate_interval), seconds(args.interval), seconds(args.range)
    return {
        "__rate_interval": args.rate_interval,
        "__rate_interval_ms": str(int(rate * 1000)),
        "__interval": args.interval,
        "__interval_ms": str(int(interval * 1000)),
        "__range": args.range,
        "__range_s": str(int(rng)),
        "__range_ms": str(int(rng * 1000)),
    }


def substitute(expr: str, values: dict[str, str], unknown: set[str]) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(3) or m.group(4)
        if name in values:
            return values[name]
        if not name.isdigit():  # $1 in label_replace is PromQL, not Grafana
            unknown.add(name)
        return m.group(0)
    return VAR_RE.sub(repl, expr)


def resolve_variables(dashboard: dict, prom: Prometheus, overrides: dict[str, str],
                      base: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    values = dict(base)
    notes = []
    for v in dashboard.get("templating", {}).get("list", []):
        name = v.get("name")
        if not name:
            continue
        if name in overrides:
            values[name] = overrides[name]
            notes.append(f"${name} = {values[name]} (--var)")
            continue
        options: list[str] = []
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = LABEL_VALUES_RE.match(q or "")
            if m:
                match = substitute(m.group(1), values, set()) if m.group(1) else None
                _, options = prom.label_values(m.group(2), match)
        elif v.get("type") in ("custom", "constant", "textbox", "interval"):
            raw = v.get("query", "")
            options = [o.strip() for o in raw.split(",") if o.strip()] if raw else []
            if not options and isinstance(v.get("current"), dict):
                options = [str(v["current"].get("value", ""))]
        options = sort_values(options, int(v.get("sort") or 0))
        if v.get("includeAll") or v.get("multi"):
            if v.get("allValue"):
                values[name] = v["allValue"]
            elif options:
                values[name] = "(" + "|".join(re.escape(o) for o in options) + ")"
            else:
                values[name] = ".*"
        elif options:
            values[name] = options[0]
        else:
            # Keeps the query parseable; it will return no data and be counted so.
            values[name] = f"no-value-for-{name}"
            notes.append(f"variable {name}: no value found, queries using it will have no data")
        notes.append(f"${name} = {values[name]}")
    return values, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Evaluate every PromQL query of the Grafana dashboards against a Prometheus.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("Variables:")[1])
    ap.add_argument("prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("dashboards", nargs="*", type=Path,
                    help="dashboard JSON files (default: every *.json in dashboards/ beside this script)")
    ap.add_argument("--min-with-data", type=fraction_arg, default=0.8, metavar="FRACTION",
                    help="least share of queries that must return data (default 0.8)")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="set a template variable instead of resolving it (repeatable)")
    ap.add_argument("--rate-interval", type=duration_arg, default="1m", help="$__rate_interval (default 1m)")
    ap.add_argument("--interval", type=duration_arg, default="15s", help="$__interval (default 15s)")
    ap.add_argument("--range", type=duration_arg, default="1h", help="$__range (default 1h)")
    ap.add_argument("--time", help="evaluation time (RFC 3339 or Unix seconds; default: Prometheus' now)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request (default 10)")
    args = ap.parse_args(argv)

    overrides = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            ap.error(f"--var wants NAME=VALUE, got {item!r}")
        overrides[name] = value

    files = args.dashboards or sorted((HERE / "dashboards").glob("*.json"))
    if not files:
        ap.error("no dashboard files")
    prom = Prometheus(args.prometheus, args.timeout, args.time)
    base = builtins(args)

    problems_found = 0  # structure problems, unreadable files
    failed = 0  # queries that did not parse or run
    total = 0
    with_data = 0
    for path in files:
        try:
            dashboard = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            print(f"FAIL  {path}: {e}")
            problems_found += 1
            continue
        name = Path(path).name
        problems, queries = structure(name, dashboard)
        for p in problems:
            print(f"FAIL  {p}")
        problems_found += len(problems)
        try:
            values, notes = resolve_variables(dashboard, prom, overrides, base)
        except (urllib.error.URLError, OSError) as e:
            print(f"FAIL  {name}: cannot reach Prometheus at {args.prometheus}: {e}")
            return 1
        for n in notes:
            print(f"      {name}: {n}")
        for q in queries:
            unknown: set[str] = set()
            try:
                if q.kind == "label_values":
                    m = LABEL_VALUES_RE.match(q.expr)
                    match = substitute(m.group(1), values, unknown) if m.group(1) else None
                    if match:
                        # The selector must parse too: /series would say so, but a
                        # query on it says it the same way and counts series.
                        sel = prom.query(f"count({match}) or vector(0)")
                        if not sel.ok:
                            res = sel
                        else:
                            res, _ = prom.label_values(m.group(2), match)
                    else:
                        res, _ = prom.label_values(m.group(2), None)
                else:
                    res = prom.query(substitute(q.expr, values, unknown))
            except (urllib.error.URLError, OSError) as e:
                res = Result(False, 0, f"cannot reach Prometheus: {e}")
            if unknown:
                res = Result(False, res.series, f"unknown variable(s) {', '.join(sorted(unknown))}; {res.message}")
            total += 1
            if not res.ok:
                failed += 1
                status = "FAIL"
            elif res.series == 0:
                status = "empty"
            else:
                with_data += 1
                status = "ok"
            print(f"{status:<5} {q.dashboard} {q.where} {q.ref}: {res.message}")

    share = with_data / total if total else 0.0
    print(f"{total} queries: {total - failed} ran, {failed} failed, {with_data} with data "
          f"({share:.0%}; at least {args.min_with_data:.0%} wanted); "
          f"{problems_found} dashboard problem(s)")
    if failed or problems_found:
        return 1
    if share < args.min_with_data:
        print(f"too few queries return data: {with_data}/{total} < {args.min_with_data}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
