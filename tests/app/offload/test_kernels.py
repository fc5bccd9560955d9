"""The kernel registry and the wire format, without Redis: names, typed round trips, errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import pytest

from perflab.app.classify import service as classify_service
from perflab.app.classify.service import ClassifyOptions, Prediction, classify_image
from perflab.app.diag.service import burn_cpu
from perflab.app.errors import BadRequest, KernelFailed, NotFound, Overloaded
from perflab.app.faceblur.service import BlurOptions, BlurResult, blur_image
from perflab.app.offload import kernels, wire
from perflab.app.offload.job_runner import Delivery, Outcome, run_jobs
from perflab.app.payload.service import summarize
from perflab.app.payload.spool import MemoryBody, SpooledBody
from perflab.config import FaceDetectorKind
from tests.app import kernels as test_kernels
from tests.app.classify.images import photo
from tests.app.faceblur.images import small_face_jpeg

BODY = b'{"name": "n", "data": {"a": 1, "b": 7}}'


def test_every_registered_function_is_found_by_its_name() -> None:
    assert set(kernels.names()) == {"blur", "parse_json", "classify", "cpu"}
    pairs = (
        (blur_image, "blur"),
        (summarize, "parse_json"),
        (classify_image, "classify"),
        (burn_cpu, "cpu"),
    )
    for function, name in pairs:
        kernel = kernels.kernel_for(function)
        assert kernel.name == name
        assert kernel.function is function
        assert kernels.kernel_named(name) is kernel


def test_an_unregistered_function_or_name_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"add it to perflab\.app\.offload\.kernels"):
        kernels.kernel_for(test_kernels.add)
    with pytest.raises(ValueError, match="registered: blur"):
        kernels.kernel_named("pickle")


def round_trip(function: Callable[..., Any], *args: object) -> tuple[object, ...]:
    kernel = kernels.kernel_for(function)
    return wire.decode_args(kernel, wire.encode_args(kernel, args))


def test_arguments_decode_as_the_declared_types() -> None:
    options = BlurOptions(FaceDetectorKind.HAAR, 70, 1000)
    data, decoded_options = round_trip(blur_image, b"jpeg bytes", options)
    assert (data, decoded_options) == (b"jpeg bytes", options)
    assert isinstance(decoded_options, BlurOptions)
    assert round_trip(burn_cpu, 12) == (12,)


def test_a_spooled_body_travels_as_its_bytes(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "body.json")
    with open(path, "wb") as file:
        file.write(BODY)
    for source in (SpooledBody(path, len(BODY)), MemoryBody(bytearray(BODY))):
        (body,) = round_trip(summarize, source)
        # The worker gets a body it can open, whatever machine it is on.
        assert isinstance(body, MemoryBody)
        assert bytes(body.buffer) == BODY
        assert summarize(body) == {"name": "n", "count": 2, "maxval": 7}


def test_results_decode_as_the_declared_types() -> None:
    kernel = kernels.kernel_named("blur")
    result = blur_image(small_face_jpeg(), BlurOptions())
    decoded = wire.decode_result(kernel, wire.encode(result))
    assert isinstance(decoded, BlurResult)
    assert decoded == result


def test_errors_keep_their_class_and_retry_after() -> None:
    for error in (BadRequest("bad image"), NotFound("x"), Overloaded("busy", retry_after_s=7)):
        sent = wire.Reply(1, "w", error=wire.error_to_wire(error))
        received = wire.decode_reply(wire.encode(sent)).error
        assert received is not None
        back = wire.error_from_wire(received)
        assert type(back) is type(error)
        assert back.message == error.message
        assert back.headers() == error.headers()
    unknown = wire.error_from_wire(wire.WireError("os.system", "no"))
    assert isinstance(unknown, KernelFailed)


def delivery(function: Callable[..., Any], *args: object, deadline_ms: float = 2e12) -> Delivery:
    kernel = kernels.kernel_for(function)
    raw = msgspec.Raw(wire.encode_args(kernel, args))
    job = wire.encode(wire.JobMessage(5, kernel.name, "reply-stream", raw))
    fields = {b"job": job, b"deadline_ms": str(int(deadline_ms)).encode()}
    return Delivery("jobs", "1-0", kernel, fields, 1)


def test_worker_runs_jobs_and_answers_each() -> None:
    jobs = [delivery(burn_cpu, 0), delivery(summarize, MemoryBody(bytearray(b"{")))]
    good, bad = run_jobs(jobs, "worker-1", lambda: 1e12)
    assert (good.reply_to, good.event) == ("reply-stream", "jobs")
    assert good.reply is not None
    answer = wire.decode_reply(good.reply)
    assert (answer.job_id, answer.worker, answer.batch_size, answer.error) == (
        5,
        "worker-1",
        2,
        None,
    )
    assert wire.decode_result(kernels.kernel_named("cpu"), answer.result)["pid"] == os.getpid()
    assert bad.reply is not None
    failed = wire.decode_reply(bad.reply)
    assert failed.error is not None
    assert failed.error.code == "BadRequest"


def test_worker_skips_expired_jobs_and_answers_undecodable_ones() -> None:
    expired = delivery(burn_cpu, 10_000, deadline_ms=1000)  # would burn 10 s if it ran
    garbled = delivery(burn_cpu, 1)
    garbled.fields[b"job"] = wire.encode(
        wire.JobMessage(6, "cpu", "r", msgspec.Raw(wire.encode(["x"])))
    )
    skipped, failed = run_jobs([expired, garbled], "w", lambda: 2000)
    assert (skipped.reply, skipped.event) == (None, "expired")
    assert failed.reply is not None
    answer = wire.decode_reply(failed.reply)
    assert answer.error is not None
    assert answer.error.code == "KernelFailed"
    assert "do not decode" in answer.error.message


def results_of(outcomes: list[Outcome]) -> list[Any]:
    """Each outcome's decoded result, or its error's class name."""
    found: list[Any] = []
    for outcome in outcomes:
        assert outcome.reply is not None
        reply = wire.decode_reply(outcome.reply)
        kernel = outcome.delivery.kernel
        found.append(reply.error.code if reply.error else wire.decode_result(kernel, reply.result))
    return found


def test_a_batch_runs_as_one_and_a_bad_item_fails_alone(
    classify_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classify_service, "_options", ClassifyOptions(model_dir=classify_model_dir))
    calls: list[int] = []
    kernel = kernels.kernel_named("classify")
    assert kernel.batch is not None
    batch = kernel.batch

    def counted(jobs: list[tuple[object, ...]]) -> list[object]:
        calls.append(len(jobs))
        return batch(jobs)

    counting = replace(kernel, batch=counted)
    jobs = [delivery(classify_image, data) for data in (photo(0), b"not an image", photo(1))]
    jobs = [replace(job, kernel=counting) for job in jobs]
    first, bad, second = results_of(run_jobs(jobs, "w", lambda: 1e12))
    assert calls == [3]  # one model run for the read
    assert bad == "BadRequest"
    assert first == classify_image(photo(0))
    assert second == classify_image(photo(1))
    assert isinstance(first, Prediction)


def test_a_batch_that_fails_as_a_whole_runs_item_by_item() -> None:
    def broken(jobs: list[tuple[object, ...]]) -> list[object]:
        raise MemoryError("the batch did not fit")

    cpu = replace(kernels.kernel_named("cpu"), batch=broken)
    jobs = [replace(delivery(burn_cpu, n), kernel=cpu) for n in (0, 1)]
    answers = results_of(run_jobs(jobs, "w", lambda: 1e12))
    assert [answer["work_ms"] for answer in answers] == [0, 1]
