"""The director's decoder and the journal's encoder for SUT sample batches: msgspec, no per-row Python.

At 100 Hz per GPU on many agents the batches are most of what the director parses, and pydantic's
``model_validate_json`` then ``model_dump_json`` cost about 4 ms for a 10,000-row batch on the 2-core
test VM; msgspec decodes into typed structs and encodes them again in C in about 1.1 ms. The structs
mirror :class:`~powerlog.wire.SampleBatch` field for field, and the rules that are per column, not per
row, are the same function (:func:`~powerlog.wire.batch_shape_problem`). What the decoder accepts is
what ``SampleBatch.model_validate_json(body, strict=True)`` accepts (``tests/powerlog/test_wire_codec.py``
checks it on generated bodies), less two things a run folder cannot hold, which it refuses:
non-finite numbers (``1e400``, ``NaN``) and integers outside int64 (the journal's columns are int64
or float64). It is strict as pydantic's strict mode is: ``true`` is not a reading, ``"1"`` is not a
sequence number.

Every refusal is a :class:`BatchDecodeError` saying what was wrong and where (``$.columns[...][3]``).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec

from powerlog.errors import PowerlogError
from powerlog.wire import MAX_BATCHES_PER_REQUEST, SampleBatch, SampleBatches, batch_shape_problem

__all__ = ["BatchDecodeError", "decode_sample_batch", "decode_sample_batches", "journal_line"]

_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Source = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    source: _Source
    seq: Annotated[int, msgspec.Meta(ge=0)]
    columns: dict[str, list[_Int64 | float]]
    simulated: bool = False
    kind: Literal["gpu", "component"] = "gpu"


class _Batches(msgspec.Struct, forbid_unknown_fields=True):
    batches: Annotated[list[_Batch], msgspec.Meta(min_length=1, max_length=MAX_BATCHES_PER_REQUEST)]


T = TypeVar("T")
_BATCH = msgspec.json.Decoder(_Batch)
_BATCHES = msgspec.json.Decoder(_Batches)
_ENCODER = msgspec.json.Encoder()


class BatchDecodeError(PowerlogError, ValueError):
    """A request body that is not a sample batch (or a list of them): ``message`` says what and where."""

    def __init__(self, message: str, location: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


def _record(batch: _Batch, location: tuple[str | int, ...]) -> SampleBatch:
    problem = batch_shape_problem(batch.source, batch.kind, batch.columns)
    if problem is not None:
        raise BatchDecodeError(problem, location)
    # validated above, field by field as SampleBatch would: constructing it again would be the cost saved
    return SampleBatch.model_construct(
        source=batch.source, seq=batch.seq, simulated=batch.simulated, kind=batch.kind, columns=batch.columns
    )


def _decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as e:  # ValidationError included: a body that parses but is not a batch
        raise BatchDecodeError(str(e)) from e


def decode_sample_batch(body: bytes) -> SampleBatch:
    """The JSON body of ``POST .../samples``."""
    return _record(_decode(_BATCH, body), ())


def decode_sample_batches(body: bytes) -> SampleBatches:
    """The JSON body of ``POST .../sample-batches``."""
    batches = _decode(_BATCHES, body).batches
    records = [_record(batch, ("batches", i)) for i, batch in enumerate(batches)]
    return SampleBatches.model_construct(batches=records)


def journal_line(batch: SampleBatch) -> bytes:
    """The batch as one line of its ``samples/<source>.jsonl`` journal (no newline): the fields of
    ``SampleBatch.model_dump_json()``, in its order, in compact JSON."""
    return _ENCODER.encode(
        {
            "source": batch.source,
            "seq": batch.seq,
            "simulated": batch.simulated,
            "kind": batch.kind,
            "columns": batch.columns,
        }
    )
