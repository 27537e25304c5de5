"""The director's batch decoder against the contract, pydantic's SampleBatch in strict mode, on generated bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from powerlog.sut_samples import read_journal
from powerlog.wire import MAX_BATCHES_PER_REQUEST, SampleBatch, SampleBatches
from powerlog.wire_codec import BatchDecodeError, decode_sample_batch, decode_sample_batches, journal_line

INT64_MAX = 2**63 - 1

sources = st.one_of(
    st.sampled_from(["gpu0.power", "a03.gpu5.power", "rapl.package-0.energy", "hwmon.cpu.power", "x", "bad source"]),
    st.text(max_size=70),
)
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=INT64_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
)
readings = st.one_of(
    numbers,
    numbers,
    numbers,
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.integers(min_value=INT64_MAX + 1, max_value=2**70),
)
column_names = st.one_of(st.sampled_from(["t_utc_ns", "power_w", "energy_j", "Power", "9x"]), st.text(max_size=5))
columns = st.one_of(
    st.dictionaries(column_names, st.lists(readings, max_size=6), max_size=3),
    # all the same length, with t_utc_ns: the common case, which must mostly decode
    st.integers(min_value=0, max_value=6).flatmap(
        lambda n: st.dictionaries(
            st.sampled_from(["power_w", "energy_j"]), st.lists(numbers, min_size=n, max_size=n), max_size=2
        ).map(lambda c: {"t_utc_ns": list(range(n)), **c})
    ),
    st.just("all"),
)
anything = st.one_of(
    st.booleans(), st.integers(min_value=-3, max_value=3), st.floats(allow_nan=False), st.text(max_size=4)
)
batches = st.fixed_dictionaries(
    {"source": st.one_of(sources, anything), "seq": st.one_of(st.integers(min_value=-2, max_value=2**64), anything)},
    optional={
        "columns": columns,
        "simulated": st.one_of(st.booleans(), anything),
        "kind": st.one_of(st.sampled_from(["gpu", "component", "GPU"]), anything),
        "extra": anything,
    },
)


def _typed(value: Any) -> Any:
    """A value with the type of every number in it: 1 and 1.0 are different readings for a journal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _outside_int64(obj: Any) -> bool:
    columns = obj.get("columns") if isinstance(obj, dict) else None
    values = [v for c in columns.values() if isinstance(c, list) for v in c] if isinstance(columns, dict) else []
    return any(type(v) is int and not -(2**63) <= v <= INT64_MAX for v in values)


def _agree(body: bytes, obj: Any, decode, model) -> None:
    try:
        fast = decode(body)
    except BatchDecodeError as e:
        fast, refused = None, e
    try:
        reference = model.model_validate_json(body, strict=True)
    except ValidationError:
        reference = None
    if fast is not None:
        assert reference is not None, f"the decoder took what the contract refuses: {body!r}"
        assert _typed(fast.model_dump()) == _typed(reference.model_dump())
    elif reference is not None:  # only what a run folder cannot hold may be refused beyond the contract
        assert _outside_int64(obj) or any(_outside_int64(b) for b in obj.get("batches", [])), (body, refused)
        assert "int" in refused.message


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
@example({"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1], "power_w": [True]}})
@example({"source": "gpu0.power", "seq": True, "columns": {"t_utc_ns": [1]}})
@example({"source": "gpu0.power", "seq": "1", "columns": {"t_utc_ns": [1]}})
@example({"source": "gpu0.power", "seq": 1.0, "columns": {"t_utc_ns": [1]}})
@example({"source": "gpu0.power", "seq": 0, "simulated": 1, "columns": {"t_utc_ns": [1]}})
@example({"source": "rapl.package-0.energy", "seq": 0, "columns": {"t_utc_ns": [1]}})
@example({"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [2**63]}})
def test_the_decoder_takes_what_the_contract_takes(obj: dict[str, Any]) -> None:
    _agree(json.dumps(obj).encode(), obj, decode_sample_batch, SampleBatch)


@settings(max_examples=200, deadline=None)
@given(st.lists(batches, max_size=MAX_BATCHES_PER_REQUEST + 2))
def test_the_list_decoder_takes_what_the_contract_takes(items: list[dict[str, Any]]) -> None:
    obj = {"batches": items}
    _agree(json.dumps(obj).encode(), obj, decode_sample_batches, SampleBatches)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"source":"gpu0.power","seq":0,"columns":{"t_utc_ns":[1],"power_w":[1e400]}}', "out of range"),
        (b'{"source":"gpu0.power","seq":0,"columns":{"t_utc_ns":[1],"power_w":[NaN]}}', "malformed"),
        (b'{"source":"gpu0.power","seq":0,"columns":{"t_utc_ns":[1],"power_w":[true]}}', "got `bool`"),
        (b'{"source":"gpu0.power","seq":0,"columns":{"t_utc_ns":[9223372036854775808]}}', "<= 9223372036854775807"),
        (b'{"source":"gpu0.power","seq":0,"columns":{"t_utc_ns":[1,2],"power_w":[1]}}', "differ in length"),
        (b'{"source":"gpu0.power","seq":0,"columns":{"t_utc_ns":[1]}} x', "trailing characters"),
        (b"", "truncated"),
    ],
)
def test_a_refusal_says_what_and_where(body: bytes, says: str) -> None:
    with pytest.raises(BatchDecodeError) as refused:
        decode_sample_batch(body)
    assert says in refused.value.message


def test_a_refusal_in_a_list_names_the_batch() -> None:
    good = {"source": "gpu0.power", "seq": 0, "columns": {"t_utc_ns": [1]}}
    bad = {"source": "rapl.package-0.energy", "seq": 0, "columns": {"t_utc_ns": [1]}}  # a component as a GPU
    with pytest.raises(BatchDecodeError) as refused:
        decode_sample_batches(json.dumps({"batches": [good, bad]}).encode())
    assert refused.value.location == ("batches", 1) and "kind component" in refused.value.message


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=40).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "t_utc_ns": st.lists(st.integers(min_value=-(2**63), max_value=INT64_MAX), min_size=n, max_size=n),
                "power_w": st.lists(numbers, min_size=n, max_size=n),
            }
        )
    ),
    st.integers(min_value=0, max_value=2**40),
    st.booleans(),
)
def test_a_journal_line_is_the_batch_and_reads_back(columns: dict[str, list[Any]], seq: int, simulated: bool) -> None:
    batch = SampleBatch(source="gpu3.power", seq=seq, simulated=simulated, columns=columns)
    line = journal_line(batch)
    assert b"\n" not in line
    assert _typed(json.loads(line)) == _typed(json.loads(batch.model_dump_json()))
    assert _typed(decode_sample_batch(line).model_dump()) == _typed(batch.model_dump())


def test_journal_lines_read_back_as_the_columns_sent(tmp_path: Path) -> None:
    journal = tmp_path / "gpu0.power.jsonl"
    sent = [
        SampleBatch(source="gpu0.power", seq=seq, columns={"t_utc_ns": [10 * seq, 10 * seq + 5], "power_w": [1, 2.5]})
        for seq in (1, 0, 2)
    ]
    journal.write_bytes(b"".join(journal_line(b) + b"\n" for b in sent))
    columns, bad = read_journal(journal)
    assert not bad
    assert columns["t_utc_ns"].tolist() == [0, 5, 10, 15, 20, 25]
    assert columns["power_w"].tolist() == [1.0, 2.5] * 3
