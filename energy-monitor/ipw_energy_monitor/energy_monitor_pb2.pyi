from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_MEASURED: _ClassVar[Source]
    SOURCE_DERIVED: _ClassVar[Source]
    SOURCE_ESTIMATED: _ClassVar[Source]
SOURCE_UNSPECIFIED: Source
SOURCE_MEASURED: Source
SOURCE_DERIVED: Source
SOURCE_ESTIMATED: Source

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "version", "collectors", "interval_ms", "notes")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COLLECTORS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    status: str
    version: str
    collectors: _containers.RepeatedScalarFieldContainer[str]
    interval_ms: int
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., version: _Optional[str] = ..., collectors: _Optional[_Iterable[str]] = ..., interval_ms: _Optional[int] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("energy_counter", "power", "temperature", "memory")
    ENERGY_COUNTER_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    energy_counter: bool
    power: bool
    temperature: bool
    memory: bool
    def __init__(self, energy_counter: _Optional[bool] = ..., power: _Optional[bool] = ..., temperature: _Optional[bool] = ..., memory: _Optional[bool] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("device", "device_type", "name", "vendor", "capabilities", "collector", "metadata", "status", "message")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    COLLECTOR_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    device: str
    device_type: str
    name: str
    vendor: str
    capabilities: Capabilities
    collector: str
    metadata: _containers.ScalarMap[str, str]
    status: str
    message: str
    def __init__(self, device: _Optional[str] = ..., device_type: _Optional[str] = ..., name: _Optional[str] = ..., vendor: _Optional[str] = ..., capabilities: _Optional[_Union[Capabilities, _Mapping]] = ..., collector: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices",)
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    def __init__(self, devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ...) -> None: ...

class StreamRequest(_message.Message):
    __slots__ = ("interval_ms", "max_batch", "flush_ms")
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    FLUSH_MS_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    max_batch: int
    flush_ms: int
    def __init__(self, interval_ms: _Optional[int] = ..., max_batch: _Optional[int] = ..., flush_ms: _Optional[int] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("device", "t_ns", "power_w", "energy_j", "source", "temperature_c", "memory_used_bytes")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    T_NS_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    ENERGY_J_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    device: str
    t_ns: int
    power_w: float
    energy_j: float
    source: Source
    temperature_c: float
    memory_used_bytes: int
    def __init__(self, device: _Optional[str] = ..., t_ns: _Optional[int] = ..., power_w: _Optional[float] = ..., energy_j: _Optional[float] = ..., source: _Optional[_Union[Source, str]] = ..., temperature_c: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ...) -> None: ...

class DeviceStatus(_message.Message):
    __slots__ = ("device", "t_ns", "status", "message")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    T_NS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    device: str
    t_ns: int
    status: str
    message: str
    def __init__(self, device: _Optional[str] = ..., t_ns: _Optional[int] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SampleBatch(_message.Message):
    __slots__ = ("samples", "statuses", "dropped")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    statuses: _containers.RepeatedCompositeFieldContainer[DeviceStatus]
    dropped: int
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., statuses: _Optional[_Iterable[_Union[DeviceStatus, _Mapping]]] = ..., dropped: _Optional[int] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("label",)
    LABEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    def __init__(self, label: _Optional[str] = ...) -> None: ...

class ClockRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClockResponse(_message.Message):
    __slots__ = ("monotonic_ns",)
    MONOTONIC_NS_FIELD_NUMBER: _ClassVar[int]
    monotonic_ns: int
    def __init__(self, monotonic_ns: _Optional[int] = ...) -> None: ...
