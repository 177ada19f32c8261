"""The typed errors of ``ipw.errors``: what the runner and the CLI read from them."""

from __future__ import annotations

import pytest

from ipw.capture.clients.base import client_error
from ipw.errors import ClientError, ServerResponseError, ServerTimeoutError, ServerUnreachableError


@pytest.mark.parametrize("cls", [ClientError, ServerUnreachableError, ServerTimeoutError, ServerResponseError])
def test_retryable_is_a_field_of_every_client_error(cls: type[ClientError]) -> None:
    assert cls("plain").retryable is False  # an error not known to be passing is not retried
    err = cls("try again", hint="wait", retryable=True)
    assert err.retryable is True and err.hint == "wait" and err.exit_code == 5
    assert err.one_line() == "try again; wait"


def test_client_error_builds_the_same_error() -> None:
    err = client_error(ServerResponseError, "HTTP 503", retryable=True, hint="retry later")
    assert type(err) is ServerResponseError and err.retryable is True and err.hint == "retry later"
    assert client_error(ServerResponseError, "HTTP 400", retryable=False).retryable is False
