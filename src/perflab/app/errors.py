"""The service's one error tree, and the one place that maps errors to HTTP answers.

    PerflabError                        never raised itself
    ├── ClientError                     the request is at fault: 4xx, logged at debug level
    │   ├── BadRequest             400  bad_request (undecodable image, malformed JSON, ...)
    │   ├── NotFound               404  not_found
    │   ├── PayloadTooLarge        413  payload_too_large
    │   ├── UnsupportedMediaType   415  unsupported_media_type
    │   ├── Unprocessable          422  validation_error
    │   └── ClientDisconnected     499  client_closed_request (nobody is left to read it)
    └── ServerError                     the service or what it depends on is at fault: 5xx, logged
        ├── KernelFailed           500  kernel_failed (a bug in a CPU kernel)
        ├── BadGateway             502  bad_gateway (a downstream service failed)
        ├── Unavailable            503  unavailable, with Retry-After (a backing service is down)
        │   ├── Overloaded         503  overloaded (a bounded queue is full)
        │   └── WorkerLost         503  worker_lost (a worker process died holding the job)
        └── GatewayTimeout         504  gateway_timeout (a downstream call ran past its timeout)
            └── JobTimedOut        504  job_timed_out (a kernel ran past PERFLAB_JOB_TIMEOUT_S)

Kernels raise these errors inside worker processes, so this module imports no web framework and
each error pickles with its attributes (BaseException's `__reduce__` carries `__dict__` along with
`args`). `perflab.app.error_handlers` is the one place that turns them into HTTP answers:
JSON `{"error": {"code": ..., "message": ..., "request_id": ...}}`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class PerflabError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str]:
        return {}


class ClientError(PerflabError):
    status = 400
    code = "bad_request"


class BadRequest(ClientError):
    pass


class NotFound(ClientError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(ClientError):
    status = 422
    code = "validation_error"


class ClientDisconnected(ClientError):
    # nginx's 499: the client left mid-request. Logged as a client event, not a crash.
    status = 499
    code = "client_closed_request"


class ServerError(PerflabError):
    pass


class KernelFailed(ServerError):
    code = "kernel_failed"


class BadGateway(ServerError):
    status = 502
    code = "bad_gateway"


class Unavailable(ServerError):
    status = 503
    code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float = 1.0,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        # Retry-After takes whole seconds; never advertise 0, which invites a retry storm.
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_s)))}


class Overloaded(Unavailable):
    code = "overloaded"


class WorkerLost(Unavailable):
    code = "worker_lost"


class GatewayTimeout(ServerError):
    status = 504
    code = "gateway_timeout"


class JobTimedOut(GatewayTimeout):
    code = "job_timed_out"
