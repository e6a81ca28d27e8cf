"""Tasks made by hand on the emulators (as a team would have before campaignctl), over plain HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import XF_ENV, YC_ENV


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp() * 1000)


def xf_task(base_url: str, name: str, phones: list[str], *, start: bool = False, pause: bool = False,
            windows: tuple[str, ...] = ("09:00:00-12:00:00", "13:30:00-20:00:00"), recall: int = 1,
            voice: str = "60030", end: str | None = "2027-03-31T20:00:00+08:00") -> str:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        token = client.post("/openapi/oauth/v1/token", json={"app_key": XF_ENV["XFYETA_APP_KEY"],
                                                             "app_secret": XF_ENV["XFYETA_APP_SECRET"]}).json()
        tok = token["result"]["token"]

        def call(op: str, body: dict[str, Any]) -> Any:
            data = client.post(f"/openapi/outbound/v1/task/{op}", params={"token": tok}, json=body).json()
            assert data["code"] == 0, data
            return data.get("result")

        body: dict[str, Any] = {"task_name": name, "line_num": "69101338", "robot_id": "719",
                                "time_range": list(windows), "time_begin": _ms("2027-03-01T09:00:00+08:00"),
                                "recall_count": recall, "time_recall_wait": 600, "trubo_mode": False}
        if voice:
            body["voice_code"] = voice
        if end:
            body["time_end"] = _ms(end)
        task_id = str(call("create", body)["task_id"])
        if phones:
            call("insert", {"task_id": task_id, "call_column": ["客户手机号码", "姓名"],
                            "call_list": [[p, f"客户{i}"] for i, p in enumerate(phones)]})
        if start or pause:
            call("start", {"task_id": task_id})
        if pause:
            call("pause", {"task_id": task_id})
        return task_id


def yc_task(base_url: str, name: str, phones: list[str], *, start: bool = False, customtaskid: str = "") -> str:
    import json

    with httpx.Client(base_url=base_url, timeout=10) as client:
        def call(service: str, **fields: str) -> Any:
            data = client.post("/", data={"service": service, **fields}).json()
            assert data.get("ret") == 200 and data["data"]["status"] == 0, data
            return data["data"]["result"]

        token = call("App.Sip_Auth.Login", appid=YC_ENV["YCCALL_APPID"], accesskey=YC_ENV["YCCALL_ACCESSKEY"])["token"]
        fields = {"token": str(token), "assigntype": "1", "assignagent": "8001", "taskscale": "1:1",
                  "isscale": "auto", "concurrent": "10", "disnumber": "02160000001", "status": "0",
                  "taskname": name, "scheduledtime": "2027-03-01 09:00:00", "pausedtime": "2027-03-31 20:00:00",
                  "is_multi_call": "1", "multi_call_type": "2", "multi_call_max_rounds": "1",
                  "multi_call_interval": "3600",
                  "telphone": json.dumps([{"phone": p} for p in phones])}
        if customtaskid:
            fields["customtaskid"] = customtaskid
        task_id = str(call("App.Sip_Yccall.TaskCreat", **fields)["taskid"])
        if start:
            call("App.Sip_Yccall.TaskSet", token=str(token), taskid=task_id, taskstatus="1")
        return task_id
