"""XfyetaConfig loading and the emulator under concurrent clients."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from reconciler.emulator.xfyeta import XfyetaConfig, load_config

from .xfyeta_support import T0_MS, rows, running


def test_default_fixture_matches_the_shared_contract() -> None:
    config = XfyetaConfig()
    robots = {r.robot_id: r for r in config.robots}
    assert (robots["719"].robot_name, robots["719"].call_column, robots["719"].status) == (
        "春季促销", ("客户手机号码", "姓名"), 4)
    assert (robots["720"].robot_name, robots["720"].call_column) == ("续费提醒", ("客户手机号码", "姓名", "到期日"))
    assert (robots["721"].robot_name, robots["721"].call_column) == ("回访问卷", ("客户手机号码",))
    assert (robots["799"].robot_name, robots["799"].status) == ("草稿话术", 1)
    lines = {ln.line_num: ln for ln in config.lines}
    assert lines["69101338"].time_work == ("08:00:00-21:00:00",) and lines["69101338"].time_expire == -1
    assert lines["055169101407"].time_work == ("09:00:00-18:00:00",)
    assert lines["01088880000"].time_expire != -1
    assert {v.voice_code: v.voice_name for v in config.voices} == {"60030": "小燕", "60120": "小峰"}
    assert (config.app_key, config.app_secret, config.token_ttl_s) == ("demo-app-key", "demo-app-secret", 3600)


def test_load_json_with_provider_section(tmp_path: Path) -> None:
    path = tmp_path / "emu.json"
    path.write_text(json.dumps({"xfyeta": {
        "robots": [{"robot_id": 5, "robot_name": "r", "call_column": ["手机"]}],
        "lines": [{"line_num": "1", "time_work": ["10:00:00-11:00:00"]}],
        "dial_rate": 30, "line_separator": ",",
    }}), encoding="utf-8")
    config = load_config(path)
    assert config.robots[0].robot_id == "5" and config.robots[0].call_column == ("手机",)
    assert config.robots[0].status == 4
    assert config.lines[0].time_work == ("10:00:00-11:00:00",)
    assert (config.dial_rate, config.line_separator) == (30, ",")
    assert config.voices == XfyetaConfig().voices
    assert XfyetaConfig.load(path) == config


def test_load_yaml(tmp_path: Path) -> None:
    path = tmp_path / "emu.yaml"
    path.write_text("app_key: k\napp_secret: s\nvoices:\n  - {voice_code: '9', voice_name: 九}\n", encoding="utf-8")
    config = load_config(path)
    assert (config.app_key, config.voices[0].voice_name) == ("k", "九")


@pytest.mark.parametrize(("text", "needle"), [
    ('{"colour": 1}', "colour"),
    ('{"robots": [{"robot_name": "x"}]}', "robot_id"),
    ("[1]", "object"),
    ("{nope", "not valid JSON"),
    ('{"dial_rate": 0}', "dial_rate"),
    ('{"delete_finished": "maybe"}', "delete_finished"),
])
def test_bad_config_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=needle):
        load_config(path)


def test_concurrent_clients_get_unique_ids_and_data_ids() -> None:
    with running() as xf:
        task_ids: list[str] = []
        data_ids: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            try:
                with httpx.Client(base_url=xf.server.base_url, params={"token": xf.token}) as client:
                    for i in range(5):
                        body = {"task_name": f"w{n}-{i}", "line_num": "69101338", "robot_id": "719",
                                "time_range": ["09:00:00-12:00:00"], "time_begin": T0_MS}
                        task_id = client.post("/openapi/outbound/v1/task/create", json=body).json()["result"][
                            "task_id"]
                        result = client.post("/openapi/outbound/v1/task/insert", json={
                            "task_id": task_id, "call_column": ["客户手机号码", "姓名"],
                            "call_list": rows(3, start=n * 100 + i * 10)}).json()["result"]
                        with lock:
                            task_ids.append(task_id)
                            data_ids.extend(result["task_data_ids"])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(set(task_ids)) == 20
        assert len(set(data_ids)) == 60
        assert xf.ok("task/query", {"page_size": 50})["total_rows"] == 20
        assert len(xf.emu.calls) == 41  # 20 creates, 20 inserts, 1 query
