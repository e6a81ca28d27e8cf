"""Result pushes from the emulators: every simulated call is pushed to the customer's URLs.

``attach_pushes(emulator, urls)`` hooks an emulator's dialing (``on_call`` /
``on_task_end``) and delivers what a vendor would push, in its format, from
a background thread; a ticker thread keeps the lazily simulated emulator
dialing in (scaled) time, so pushes flow without anyone polling.

- xfyeta (the vendor's push document): after each call ``receiveCallRecord``
  twice -- the basic record and the outbound one with ``task_id``,
  ``task_data_id``, ``task_result`` and ``task_row_*`` -- in a seeded random
  order; for an answered call also ``receiveDialog`` (nodes with intention
  ``tag_name`` A-D, D "拒绝"; ``intentions`` fixes a number's, e.g. a
  refusal) and, unless the task is in turbo mode, ``receiveVoice`` (a
  relative ``url``). The first round carries the row's ``task_data_id``;
  recall rounds carry new ids (as the platform does), so receivers must fall
  back to task id + callee.
- yccall: one JSON call record per dial (``uuid``, ``taskid``, ``round``,
  ``customuuid``, ``destnumber``, ``answertime``, ``duration``, ``billsec``,
  ``hangupcause``, ``recordurl``, ...), and a task-status callback
  (``status`` "3", ``endtype`` over/timeout) when a task ends by itself. The
  vendor documents no cause codes: this emulator uses 10000 for an answered
  call and 10001/10020 for unanswered ones.

Delivery: a push whose answer does not contain ``success`` (or fails, or
takes over ``timeout`` seconds) is retried ``retries`` times (the xfyeta rule:
3), then kept in ``failed``. Outcomes, durations, intentions and ids come
from ``random.Random`` seeded per call with ``seed``: the same run pushes
the same things. Imports nothing from the rest of ``reconciler``.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["XFYETA_MODULES", "YCCALL_MODULES", "PushSender", "Pushes", "attach_pushes"]

XFYETA_MODULES = ("receiveCallRecord", "receiveDialog", "receiveVoice")
YCCALL_MODULES = ("callrecord", "taskstatus")
_XF_UNANSWERED = (("20", "用户未接", 6), ("5", "用户正忙", 2), ("3", "无法接通", 1), ("4", "关机", 1),
                  ("6", "空号", 1), ("8", "用户拒接", 1))
_XF_ANSWERED = (("0", "成功", 4), ("15", "客户接听后并主动挂机", 1))
_INTENTIONS = (("A", "有意向", 2), ("B", "一般意向", 3), ("C", "无意向", 3), ("D", "拒绝", 2))
_CN = timezone(timedelta(hours=8))


def _pick(rng: random.Random, table: tuple[tuple[str, str, int], ...]) -> tuple[str, str]:
    code, desc, _ = rng.choices(table, weights=[w for *_, w in table])[0]
    return code, desc


class PushSender:
    """Posts JSON pushes to ``urls[module]`` from worker threads, with the vendor's retries."""

    def __init__(self, urls: Mapping[str, str], *, retries: int = 3, timeout: float = 3.0,
                 retry_delay: float = 0.05, workers: int = 2, headers: Mapping[str, str] | None = None) -> None:
        self.urls = dict(urls)
        self.retries = retries
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.headers = dict(headers or {})
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.failed: list[tuple[str, dict[str, Any]]] = []
        self.attempts: Counter[str] = Counter()
        self._workers = [threading.Thread(target=self._run, name=f"push-{i}", daemon=True) for i in range(workers)]
        for worker in self._workers:
            worker.start()

    def send(self, module: str, body: dict[str, Any]) -> None:
        if module in self.urls:
            self._queue.put((module, body))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued was delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(5)

    def _post(self, url: str, data: bytes) -> bool:
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json;charset=UTF-8", **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return b"success" in answer.read(4096)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                module, body = item
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                ok = False
                for attempt in range(1 + self.retries):
                    with self._lock:
                        self.attempts[module] += 1
                    if self._post(self.urls[module], data):
                        ok = True
                        break
                    if attempt < self.retries:
                        time.sleep(self.retry_delay * (attempt + 1))
                with self._lock:
                    (self.delivered if ok else self.failed).append((module, body))
            finally:
                self._queue.task_done()


class Pushes:
    """The pushes of one emulator: the sender, the generator and the ticker."""

    def __init__(self, emulator: Any, sender: PushSender, *, seed: int = 0, tick: float = 0.2,
                 intentions: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.emulator = emulator
        self.sender = sender
        self.seed = seed
        self.intentions = dict(intentions or {})  # phone -> (tag_name, tag_desc) of its answered xfyeta calls
        self._round_ids = 900_000_001  # xfyeta recall rounds get new task_data_ids
        self._record_ids = 263_000_001
        self._lock = threading.Lock()
        self.calls = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(tick,), name="push-ticker", daemon=True)
        self._ticker.start()

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.emulator.tick()
            except Exception:  # pragma: no cover - the emulator must never stop the ticker
                continue

    def flush(self, timeout: float = 30.0) -> bool:
        self.emulator.tick()
        return self.sender.flush(timeout)

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(5)
        self.sender.close()
        self.emulator.on_call = None
        self.emulator.on_task_end = None

    def _rng(self, *parts: Any) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    # ------------------------------------------------------------------ xfyeta
    def xfyeta_call(self, call: Mapping[str, Any]) -> None:
        """``call``: task_id, data_id, phone, row, columns, robot_id, attempt (1-based), answered, at_ms, turbo."""
        rng = self._rng(call["task_id"], call["data_id"], call["attempt"])
        with self._lock:
            self.calls += 1
            data_id = str(call["data_id"])
            if call["attempt"] > 1:
                data_id = str(self._round_ids)
                self._round_ids += 1
        call_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        answered = bool(call["answered"])
        code, desc = _pick(rng, _XF_ANSWERED if answered else _XF_UNANSWERED)
        ring = rng.randint(2, 25)
        talk = rng.randint(15, 180) if answered else 0
        dial = int(call["at_ms"])
        ring_at = dial + rng.randint(300, 1500)
        answer_at = ring_at + ring * 1000 if answered else 0
        hangup = (answer_at + talk * 1000) if answered else ring_at + ring * 1000
        basic: dict[str, Any] = {
            "business_id": "2745", "app_id": "emulator", "robot_id": str(call["robot_id"]), "call_uuid": call_uuid,
            "caller": str(call.get("line_num") or "055196866001"), "callee": str(call["phone"]), "direction": 2,
            "time_answer": answer_at, "time_hangup": hangup, "duration_ring": ring, "duration_call": talk,
        }
        outbound = {
            **basic, "task_id": str(call["task_id"]), "task_data_id": data_id, "time_dial": dial,
            "time_ring": ring_at, "task_result": code, "task_result_desc": desc,
            "task_tries": int(call["attempt"]) - 1, "task_row_index": int(call.get("index", 0)) + 1,
            "task_row_head": list(call["columns"]), "task_row_value": list(call["row"]),
        }
        records = [("receiveCallRecord", basic), ("receiveCallRecord", outbound)]
        rng.shuffle(records)
        for module, body in records:
            self.sender.send(module, body)
        if not answered:
            return
        tag, tag_desc = _pick(rng, _INTENTIONS)
        tag, tag_desc = self.intentions.get(str(call["phone"]), (tag, tag_desc))  # a seeded outcome for a number
        start = answer_at
        self.sender.send("receiveDialog", {
            "business_id": "2745", "app_id": "emulator", "robot_id": str(call["robot_id"]), "call_uuid": call_uuid,
            "task_id": str(call["task_id"]), "task_data_id": data_id, "time_begin": start,
            "time_end": start + talk * 1000, "dialog": [
                {"seq": 1, "role": "robot", "node_name": "开头语", "node_type": "NormalNode",
                 "text_robot": "您好，这里是客服中心。", "text_man": ""},
                {"seq": 2, "role": "customer", "node_name": "开头语", "node_type": "NormalNode",
                 "text_robot": "", "text_man": "嗯，你说。", "hits": [{"hit": "任意回答", "pick": True}]},
                {"seq": 3, "role": "robot", "node_name": "结束语", "node_type": "EndNode", "tag_name": tag,
                 "tag_desc": tag_desc, "text_robot": "感谢您的接听，再见。", "text_man": ""},
            ]})
        if not call.get("turbo"):
            day = datetime.fromtimestamp(dial / 1000, _CN)
            self.sender.send("receiveVoice", {
                "call_uuid": call_uuid, "business_id": "2745", "app_id": "emulator",
                "robot_id": str(call["robot_id"]), "task_data_id": data_id,
                "url": f"ant/4/ivr/0/{day:%Y/%m/%d}/0/{call_uuid}.wav", "size": 32_000 * talk, "duration": talk})

    # ------------------------------------------------------------------ yccall
    def yccall_call(self, call: Mapping[str, Any]) -> None:
        """``call``: taskid, phone, customuuid, userid, memberid, ext, round, answered, at (s), disnumber, extnumber."""
        rng = self._rng(call["taskid"], call["phone"], call["round"])
        with self._lock:
            self.calls += 1
            record_id = self._record_ids
            self._record_ids += 1
        call_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        answered = bool(call["answered"])
        wait = rng.randint(2, 25)
        talk = rng.randint(15, 240) if answered else 0
        start = datetime.fromtimestamp(float(call["at"]), _CN)
        fmt = "%Y-%m-%d %H:%M:%S"
        answer = start + timedelta(seconds=wait)
        end = answer + timedelta(seconds=talk) if answered else start + timedelta(seconds=wait)
        cause = 10000 if answered else rng.choice((10001, 10020))
        body = {
            "id": record_id, "companycode": "demo-company", "direction": "callout", "type": "callout",
            "callmethod": 5, "starttime": start.strftime(fmt), "answertime": answer.strftime(fmt) if answered else "",
            "endtime": end.strftime(fmt), "duration": wait, "billsec": talk, "userid": str(call.get("userid") or ""),
            "memberid": str(call.get("memberid") or ""), "chengshudu": str(call.get("ext") or ""),
            "ext": str(call.get("ext") or ""), "disnumber": str(call.get("disnumber") or ""),
            "destnumber": str(call["phone"]), "extnumber": str(call.get("extnumber") or "") if answered else "",
            "recordfilename": f"{start:%Y%m%d}/{call_uuid}.wav" if answered else "",
            "downloadip": "127.0.0.1" if answered else "", "hangupdirection": 10040 if answered else 10041,
            "hangupcause": cause, "uuid": call_uuid, "userkey": "", "customuuid": str(call.get("customuuid") or ""),
            "taskid": str(call["taskid"]), "round": int(call["round"]),
            "recordurl": f"http://127.0.0.1/recordings/{call_uuid}.wav" if answered else "",
        }
        self.sender.send("callrecord", body)

    def yccall_task_end(self, task: Mapping[str, Any]) -> None:
        self.sender.send("taskstatus", {"taskid": str(task["taskid"]), "companycode": "demo-company",
                                        "status": "3", "endtype": str(task["endtype"])})


def attach_pushes(emulator: Any, urls: Mapping[str, str] | str, *, seed: int = 0, retries: int = 3,
                  timeout: float = 3.0, tick: float = 0.2, headers: Mapping[str, str] | None = None,
                  intentions: Mapping[str, tuple[str, str]] | None = None) -> Pushes:
    """Make ``emulator`` push its calls' results; ``urls`` maps module -> URL, or is a base URL
    (``http://host:port/push/PROFILE/``) that each module name is appended to. ``intentions`` fixes the
    dialog intention (``tag_name``, ``tag_desc``) of a number's answered xfyeta calls, e.g.
    ``{"13800000000": ("D", "明确拒绝")}`` for a refusal; the other numbers keep their seeded ones."""
    modules = XFYETA_MODULES if emulator.name == "xfyeta" else YCCALL_MODULES
    if isinstance(urls, str):
        base = urls if urls.endswith("/") else urls + "/"
        urls = {m: base + m for m in modules}
    sender = PushSender(urls, retries=retries, timeout=timeout, headers=headers)
    pushes = Pushes(emulator, sender, seed=seed, tick=tick, intentions=intentions)
    if emulator.name == "xfyeta":
        emulator.on_call = pushes.xfyeta_call
    else:
        emulator.on_call = pushes.yccall_call
        emulator.on_task_end = pushes.yccall_task_end
    return pushes
