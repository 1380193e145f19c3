"""Size parsing and formatting (planner.units)."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import InputError
from planner.units import format_kib, parse_size_bytes, parse_size_kib, size_label_kib


@pytest.mark.parametrize(
    ("text", "kib"),
    [
        ("128MiB", 131072),
        ("2G", 2097152),
        ("2GiB", 2097152),
        ("65536k", 65536),
        ("1003884k", 1003884),  # the seed's 2.6.18 Memory: line
        ("85928K", 85928),  # a 6.1 Memory: line
        ("512M", 524288),
        ("512 MiB", 524288),
        ("1T", 1073741824),
        ("1PiB", 1024**4),
        ("4096B", 4),
        ("1.5GiB", 1572864),
        ("64kB", 64),  # /proc/meminfo spelling
    ],
)
def test_parse_size_kib(text: str, kib: int) -> None:
    assert parse_size_kib(text) == kib


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12XB", "expected a size such as 128MiB, 2GiB or 65536k; found '12XB' (unknown unit 'XB')"),
        ("-5MiB", "expected a positive size such as 64GiB or 128MiB; found '-5MiB'"),
        ("0G", "expected a positive size such as 64GiB or 128MiB; found '0G'"),
        ("", "expected a size such as 128MiB, 2GiB or 65536k; found ''"),
        ("lots", "expected a size such as 128MiB, 2GiB or 65536k; found 'lots'"),
        ("512", "expected a size such as 128MiB, 2GiB or 65536k (a unit is required); found '512'"),
        ("1000B", "expected a whole number of KiB; found '1000B'"),
    ],
)
def test_bad_sizes_are_clear(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_size_kib(text, field="--memory")
    assert str(info.value) == f"--memory: {message}"


def test_bare_number_with_default_unit() -> None:
    assert parse_size_kib("512", default_unit="MiB") == 524288
    assert parse_size_kib(131072, default_unit="KiB") == 131072


def test_input_error_is_value_error_with_location() -> None:
    err = InputError("expected a size; found 'x'", file="host.yaml", line=4, field="host.memory")
    assert isinstance(err, ValueError)
    assert str(err) == "host.yaml:4: host.memory: expected a size; found 'x'"
    assert str(InputError("bad").located(file="a.yaml", line=2)) == "a.yaml:2: bad"


@given(st.integers(min_value=1, max_value=2**30), st.sampled_from(["k", "KiB", "M", "MiB", "G", "GiB"]))
def test_round_trip(value: int, unit: str) -> None:
    scale = {"k": 1, "KiB": 1, "M": 1024, "MiB": 1024, "G": 1024**2, "GiB": 1024**2}[unit]
    kib = parse_size_kib(f"{value}{unit}")
    assert kib == value * scale
    assert parse_size_kib(size_label_kib(kib)) == kib


@given(st.text(max_size=12))
def test_garbage_raises_only_input_error(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_size_bytes(text)


def test_format_kib() -> None:
    assert format_kib(131072) == "128 MiB"
    assert format_kib(1536) == "1.5 MiB"
    assert format_kib(512) == "512 KiB"
    assert format_kib(3 * 1024 * 1024) == "3 GiB"
