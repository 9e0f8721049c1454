"""Unit tests of the client's error mapping: by ErrorInfo reason, never by message text."""

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from raftcache.client import errors
from raftcache.client.commands import to_python
from raftcache.proto import commands_pb2 as pb


def _trailer(reason: str, domain: str = errors.ERROR_DOMAIN):
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain))
    status = status_pb2.Status(code=9, message="whatever", details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


@pytest.mark.parametrize("reason,cls", [
    ("WRONGTYPE", errors.WrongTypeError),
    ("NOT_INTEGER", errors.NotIntegerError),
    ("NOT_FLOAT", errors.NotFloatError),
    ("OVERFLOW", errors.IncrOverflowError),
    ("NO_SUCH_KEY", errors.NoSuchKeyError),
    ("SYNTAX", errors.CommandSyntaxError),
    ("INVALID_ARGUMENT", errors.InvalidArgumentError),
    ("INVALID_EXPIRE", errors.InvalidExpireError),
    ("KEY_TOO_LARGE", errors.KeyTooLargeError),
    ("VALUE_TOO_LARGE", errors.ValueTooLargeError),
    ("OUT_OF_MEMORY", errors.OutOfMemoryError),
    ("NOT_LEADER", errors.NotLeaderError),
    ("UNAVAILABLE", errors.UnavailableError),
    ("TIMEOUT", errors.DeadlineExceededError),
    ("UNAUTHENTICATED", errors.AuthenticationError),
    ("INTERNAL", errors.InternalError),
])
def test_every_server_reason_has_its_exception(reason, cls):
    e = errors.error_from_status(grpc.StatusCode.FAILED_PRECONDITION, "some text", _trailer(reason))
    assert type(e) is cls
    assert e.reason == reason
    assert e.message == "some text"


def test_the_reason_wins_over_the_code_and_the_text():
    # A message that *says* WRONGTYPE does not make it one; the ErrorInfo does.
    e = errors.error_from_status(grpc.StatusCode.INVALID_ARGUMENT, "WRONGTYPE lies", _trailer("NOT_INTEGER"))
    assert isinstance(e, errors.NotIntegerError)
    e = errors.error_from_status(grpc.StatusCode.INVALID_ARGUMENT, "WRONGTYPE lies", ())
    assert not isinstance(e, errors.WrongTypeError)


def test_another_domain_is_ignored():
    e = errors.error_from_status(grpc.StatusCode.UNAVAILABLE, "x", _trailer("WRONGTYPE", domain="example.com"))
    assert isinstance(e, errors.ConnectionFailedError)


def test_unknown_reason_from_a_newer_server_is_a_response_error():
    e = errors.error_from_status(grpc.StatusCode.FAILED_PRECONDITION, "new", _trailer("SHINY_NEW"))
    assert type(e) is errors.ResponseError and e.reason == "SHINY_NEW" and not e.retryable


@pytest.mark.parametrize("code,cls", [
    (grpc.StatusCode.UNAVAILABLE, errors.ConnectionFailedError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceededError),
    (grpc.StatusCode.UNAUTHENTICATED, errors.AuthenticationError),
    (grpc.StatusCode.UNKNOWN, errors.InternalError),
])
def test_transport_statuses_map_by_code(code, cls):
    assert type(errors.error_from_status(code, "boom", None)) is cls


def test_garbled_details_do_not_crash():
    e = errors.error_from_status(grpc.StatusCode.UNAVAILABLE, "x", (("grpc-status-details-bin", b"\xff\x00garbage"),))
    assert isinstance(e, errors.ConnectionFailedError)


def test_hierarchy_retryability_and_builtin_bases():
    assert errors.NotLeaderError().retryable and errors.ConnectionFailedError().retryable
    assert errors.DeadlineExceededError().retryable and isinstance(errors.DeadlineExceededError(), TimeoutError)
    assert not errors.WrongTypeError().retryable
    assert isinstance(errors.NotIntegerError(), ValueError)
    assert str(errors.NoSuchKeyError("no such key")) == "no such key"


def test_error_values_inside_arrays_become_exception_instances():
    v = pb.Value()
    v.array.items.add().integer = 1
    err = v.array.items.add().error
    err.reason, err.message = "WRONGTYPE", "Operation against a key holding the wrong kind of value"
    one, two = to_python(v)
    assert one == 1 and isinstance(two, errors.WrongTypeError)


def test_integers_above_sint64_come_back_as_python_ints():
    """memcached counters are unsigned 64-bit: the node sends them as Value.unsigned."""
    assert to_python(pb.Value(unsigned=(1 << 64) - 1)) == (1 << 64) - 1
    assert to_python(pb.Value(integer=-(1 << 63))) == -(1 << 63)
