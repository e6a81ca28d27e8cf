#!/usr/bin/env python3
"""A fake `gh` and `curl` for the CI template tests: a tiny forge API that records what was posted.

State lives in the JSON file $FAKE_FORGE_STATE: ``comments`` (GitHub issue comments and GitLab notes,
each ``{"id", "body"}``), ``labels`` and ``calls`` (every request: method, path). Installed on PATH as
``gh`` and ``curl``; it answers only the API calls the templates make and fails loudly on anything else.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any


def _load() -> dict[str, Any]:
    path = Path(os.environ["FAKE_FORGE_STATE"])
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"comments": [], "labels": [], "calls": [], "next_id": 100}


def _save(state: dict[str, Any]) -> None:
    Path(os.environ["FAKE_FORGE_STATE"]).write_text(json.dumps(state, ensure_ascii=False, indent=1))


def _value(raw: str) -> str:
    return Path(raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw


def handle(state: dict[str, Any], method: str, path: str, fields: dict[str, Any]) -> tuple[int, Any]:
    path = path.split("?", 1)[0]
    state["calls"].append({"method": method, "path": path})
    if re.fullmatch(r".*/(issues/\d+/comments|merge_requests/\d+/notes)", path):
        if method == "GET":
            return 200, state["comments"]
        if method == "POST":
            state["next_id"] += 1
            comment = {"id": state["next_id"], "body": fields["body"]}
            state["comments"].append(comment)
            return 201, comment
    m = re.fullmatch(r".*/(issues/comments|merge_requests/\d+/notes)/(\d+)", path)
    if m and method in ("PATCH", "PUT"):
        for c in state["comments"]:
            if str(c["id"]) == m.group(2):
                c["body"] = fields["body"]
                return 200, c
        return 404, {"message": "Not Found"}
    if re.fullmatch(r".*/issues/\d+/labels", path) and method == "POST":
        for label in fields.get("labels[]", []):
            if label not in state["labels"]:
                state["labels"].append(label)
        return 200, [{"name": n} for n in state["labels"]]
    m = re.fullmatch(r".*/issues/\d+/labels/(.+)", path)
    if m and method == "DELETE":
        if m.group(1) in state["labels"]:
            state["labels"].remove(m.group(1))
            return 200, []
        return 404, {"message": "Label does not exist"}
    if re.fullmatch(r".*/merge_requests/\d+", path) and method == "PUT":
        for label in fields.get("add_labels", "").split(","):
            if label and label not in state["labels"]:
                state["labels"].append(label)
        for label in fields.get("remove_labels", "").split(","):
            if label in state["labels"]:
                state["labels"].remove(label)
        return 200, {"labels": state["labels"]}
    return 599, {"message": f"fake forge: no such call {method} {path}"}


def gh(argv: list[str]) -> int:
    if not argv or argv[0] != "api":
        print(f"fake gh: unsupported command {argv}", file=sys.stderr)
        return 2
    method, path, fields = "GET", "", {}
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--method", "-X"):
            method = next(args)
        elif arg in ("-f", "--raw-field", "-F", "--field"):
            key, _, raw = next(args).partition("=")
            value = raw if arg in ("-f", "--raw-field") else _value(raw)
            if key.endswith("[]"):
                fields.setdefault(key, []).append(value)
            else:
                fields[key] = value
            if method == "GET":
                method = "POST"
        elif arg == "--paginate":
            continue
        elif arg.startswith("-"):
            print(f"fake gh: unsupported flag {arg}", file=sys.stderr)
            return 2
        else:
            path = arg
    if not os.environ.get("GH_TOKEN"):
        print("fake gh: GH_TOKEN not set", file=sys.stderr)
        return 4
    state = _load()
    status, body = handle(state, method, path, fields)
    _save(state)
    print(json.dumps(body, ensure_ascii=False))
    if status >= 400:
        print(f"gh: HTTP {status}", file=sys.stderr)
        return 1
    return 0


def curl(argv: list[str]) -> int:
    method, url, headers, data, output = "", "", [], "", None
    args = iter(argv)
    for arg in args:
        if arg in ("--request", "-X"):
            method = next(args)
        elif arg in ("--header", "-H"):
            headers.append(next(args))
        elif arg in ("--data", "-d"):
            data = _value(next(args))
        elif arg in ("--output", "-o"):
            output = next(args)
        elif arg in ("--silent", "-s", "--show-error", "-S", "--fail", "-f", "-sSf"):
            continue
        elif arg.startswith("-"):
            print(f"fake curl: unsupported flag {arg}", file=sys.stderr)
            return 2
        else:
            url = arg
    if not any(h.startswith("PRIVATE-TOKEN: ") and len(h) > len("PRIVATE-TOKEN: ") for h in headers):
        print("fake curl: no PRIVATE-TOKEN", file=sys.stderr)
        return 22
    method = method or ("POST" if data else "GET")
    if any(h.lower() == "content-type: application/json" for h in headers):
        fields = json.loads(data) if data else {}
    else:
        fields = dict(p.partition("=")[::2] for p in data.split("&") if p)
    state = _load()
    status, body = handle(state, method, url.split("://", 1)[-1].split("/", 1)[-1], fields)
    _save(state)
    text = json.dumps(body, ensure_ascii=False)
    if output and output != "/dev/null":
        Path(output).write_text(text)
    elif not output:
        print(text)
    if status >= 400:
        print(f"curl: (22) The requested URL returned error: {status}", file=sys.stderr)
        return 22
    return 0


if __name__ == "__main__":
    name = Path(sys.argv[0]).name
    sys.exit(gh(sys.argv[1:]) if name == "gh" else curl(sys.argv[1:]))
