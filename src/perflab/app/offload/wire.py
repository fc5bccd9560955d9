"""The queue's messages: schema'd msgpack (msgspec), never pickle.

A job is a kernel name and its arguments encoded with the types the kernel registry declares
(perflab.app.offload.kernels); a worker decodes them as exactly those types, so a message can
never make a worker run code or build objects it did not expect. A reply is the result encoded
with the kernel's result type, or an error by its class name in perflab.app.errors, so a
`BadRequest` raised in a worker on another machine is still a 400 here.

Structs are `array_like` (no field names on the wire) and new fields go at the end with a
default, so a worker and an API one release apart still read each other.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec

from perflab.app import errors
from perflab.app.errors import KernelFailed, PerflabError, Unavailable
from perflab.app.offload.kernels import Args, Kernel


class JobMessage(msgspec.Struct, array_like=True, frozen=True):
    """One request's work. `job_id` is unique within the API instance that owns `reply_to`."""

    job_id: int
    kernel: str
    reply_to: str
    args: msgspec.Raw


class WireError(msgspec.Struct, array_like=True, frozen=True):
    """An error raised where the kernel ran: its class name in perflab.app.errors and fields."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None
    retry_after_s: float | None = None


NIL = msgspec.Raw(b"\xc0")  # msgpack's nil, already encoded


class Reply(msgspec.Struct, array_like=True, frozen=True):
    """The answer to one job: `result` (encoded with the kernel's result type) or `error`.

    `deliveries` is how many times the job was handed to a worker (more than 1: re-claimed
    from a dead one); `batch_size` is how many jobs that worker read at once.
    """

    job_id: int
    worker: str
    service_s: float = 0.0
    deliveries: int = 1
    batch_size: int = 1
    result: msgspec.Raw = NIL  # (msgspec.Raw cannot be part of a union with None)
    error: WireError | None = None
    dead_lettered: bool = False


_encoder = msgspec.msgpack.Encoder()
_job_decoder = msgspec.msgpack.Decoder(JobMessage)
_reply_decoder = msgspec.msgpack.Decoder(Reply)


def encode(value: object) -> bytes:
    return _encoder.encode(value)


def encode_args(kernel: Kernel, args: Args) -> bytes:
    """The arguments the API passes, as the kernel's wire types (a spooled body as bytes)."""
    return _encoder.encode(kernel.to_wire(args))


def decode_args(kernel: Kernel, raw: bytes | memoryview) -> Args:
    """The arguments as the worker hands them to the kernel; `BadRequest`-free: a job that does
    not decode is the sender's bug, raised as `msgspec.DecodeError`/`ValidationError`."""
    decoded = msgspec.msgpack.decode(raw, type=kernel.args_type)
    return kernel.from_wire(cast(Args, decoded))


def decode_result(kernel: Kernel, raw: bytes | memoryview) -> Any:
    return msgspec.msgpack.decode(raw, type=kernel.result_type)


def decode_job(data: bytes) -> JobMessage:
    return _job_decoder.decode(data)


def decode_reply(data: bytes) -> Reply:
    return _reply_decoder.decode(data)


def error_to_wire(error: PerflabError) -> WireError:
    retry_after_s = error.retry_after_s if isinstance(error, Unavailable) else None
    return WireError(type(error).__name__, error.message, error.details, retry_after_s)


def error_from_wire(wire: WireError) -> PerflabError:
    """The error the worker raised, rebuilt here; an unknown name is a `KernelFailed`."""
    cls = getattr(errors, wire.code, None)
    if not (isinstance(cls, type) and issubclass(cls, PerflabError)):
        return KernelFailed(f"{wire.code}: {wire.message}", details=wire.details)
    if issubclass(cls, Unavailable):
        return cls(wire.message, retry_after_s=wire.retry_after_s or 1.0, details=wire.details)
    return cls(wire.message, details=wire.details)
