"""The pure helpers of bench/e2e.py, whose figures go into docs/benchmarks.md (the benchmark itself is not a test)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def e2e() -> ModuleType:
    """bench/e2e.py, imported as the benchmark runs it (bench/ on the path for benchlib)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_e2e", BENCH / "e2e.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_a_block_is_final_at_the_first_sample_that_reached_it(e2e: ModuleType) -> None:
    samples = [(10.0, 3), (11.0, 5), (12.5, 6)]
    assert e2e.first_reaching(samples, 4) == 11.0  # jumped from 3 to 5: block 4 final at 11.0
    assert e2e.first_reaching(samples, 5) == 11.0
    assert e2e.first_reaching(samples, 1) == 10.0
    assert e2e.first_reaching(samples, 7) is None


def test_an_events_created_time_is_read_to_the_millisecond(e2e: ModuleType) -> None:
    assert e2e.parse_created("1970-01-01T00:00:01.250Z") == 1.25


def test_rpc_times_are_the_difference_of_two_scrapes_per_method(e2e: ModuleType) -> None:
    method = "/stablegate.internal.v1.ObservationService/RecordFinality"
    before = e2e.rpc_totals(
        f'grpc_server_handling_seconds_count{{grpc_method="{method}"}} 2.0\n'
        f'grpc_server_handling_seconds_sum{{grpc_method="{method}"}} 1.0\n'
        'grpc_server_handling_seconds_bucket{grpc_method="x",le="0.005"} 1.0\n'
    )
    after = e2e.rpc_totals(
        f'grpc_server_handling_seconds_count{{grpc_method="{method}"}} 6.0\n'
        f'grpc_server_handling_seconds_sum{{grpc_method="{method}"}} 3.0\n'
    )
    assert before == {"RecordFinality": (2.0, 1.0)}
    assert e2e.rpc_delta(before, after) == {"RecordFinality": (4, 0.5)}
    assert e2e.rpc_delta(after, after) == {}


def test_a_rate_over_no_time_is_infinite_not_a_division_error(e2e: ModuleType) -> None:
    assert e2e.per_second(10, 1.0, 3.0) == 5.0
    assert e2e.per_second(10, 2.0, 2.0) == float("inf")
