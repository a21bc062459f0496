"""`--world live`: the agent searches Tavily and a Lens-style API (scripted mock servers on 127.0.0.1), cached."""

from __future__ import annotations

import json

from mock_search_apis import mock_api

from graph.cli import main

QUESTION = "What is the capital of the country whose flag is on the right?"


def _live_env(monkeypatch, url: str, cache) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-test-key")
    monkeypatch.setenv("TAVILY_BASE_URL", url)
    monkeypatch.setenv("LENS_BASE_URL", f"{url}/lens")
    monkeypatch.setenv("DEEPMMSEARCH_SEARCH_CACHE", str(cache))


def test_ask_searches_the_live_apis_and_caches_them(demo_path, tmp_path, monkeypatch, capsys):
    with mock_api() as api:
        _live_env(monkeypatch, api.url, tmp_path / "live.sqlite")
        argv = ["ask", "--world", "live", "--policy", "scripted", "--image", str(demo_path), "--json", QUESTION]
        assert main(argv) == 0
        state = json.loads(capsys.readouterr().out)
        assert [o["tool"] for o in state["observations"]] == ["crop", "image_search", "text_search"]
        assert "Flag 0" in state["observations"][1]["text"]  # the Lens-style API's answer reached the policy
        assert api.calls("/lens/search") == 1 and api.calls("/search") == 1
        assert main(argv) == 0  # the same run again is served from the cache
        assert api.calls("/lens/search") == 1 and api.calls("/search") == 1
    assert (tmp_path / "live.sqlite").is_file()


def test_live_world_without_its_settings_is_a_one_line_error(demo_path, monkeypatch, capsys):
    for key in ("TAVILY_API_KEY", "LENS_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    assert main(["ask", "--world", "live", "--image", str(demo_path), QUESTION]) == 2
    err = capsys.readouterr().err
    assert "needs TAVILY_API_KEY and LENS_BASE_URL" in err and len(err.strip().splitlines()) == 1
