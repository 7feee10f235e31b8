from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    LINEAR_PCM: _ClassVar[AudioEncoding]
    FLAC: _ClassVar[AudioEncoding]
    MULAW: _ClassVar[AudioEncoding]
    OGG: _ClassVar[AudioEncoding]
    ALAW: _ClassVar[AudioEncoding]
    FLOAT32_PCM: _ClassVar[AudioEncoding]
    WAV: _ClassVar[AudioEncoding]

class TimepointType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIMEPOINT_TYPE_UNSPECIFIED: _ClassVar[TimepointType]
    SSML_MARK: _ClassVar[TimepointType]
ENCODING_UNSPECIFIED: AudioEncoding
LINEAR_PCM: AudioEncoding
FLAC: AudioEncoding
MULAW: AudioEncoding
OGG: AudioEncoding
ALAW: AudioEncoding
FLOAT32_PCM: AudioEncoding
WAV: AudioEncoding
TIMEPOINT_TYPE_UNSPECIFIED: TimepointType
SSML_MARK: TimepointType

class Audio(_message.Message):
    __slots__ = ("data", "encoding", "sample_rate_hz", "channels")
    DATA_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    encoding: AudioEncoding
    sample_rate_hz: int
    channels: int
    def __init__(self, data: _Optional[bytes] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ...) -> None: ...

class Codes(_message.Message):
    __slots__ = ("model", "weights_hash", "num_codebooks", "num_frames", "values", "num_samples", "codes_hash")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_HASH_FIELD_NUMBER: _ClassVar[int]
    NUM_CODEBOOKS_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CODES_HASH_FIELD_NUMBER: _ClassVar[int]
    model: str
    weights_hash: str
    num_codebooks: int
    num_frames: int
    values: _containers.RepeatedScalarFieldContainer[int]
    num_samples: int
    codes_hash: str
    def __init__(self, model: _Optional[str] = ..., weights_hash: _Optional[str] = ..., num_codebooks: _Optional[int] = ..., num_frames: _Optional[int] = ..., values: _Optional[_Iterable[int]] = ..., num_samples: _Optional[int] = ..., codes_hash: _Optional[str] = ...) -> None: ...

class EncodeRequest(_message.Message):
    __slots__ = ("audio", "model", "bandwidth_kbps")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_KBPS_FIELD_NUMBER: _ClassVar[int]
    audio: Audio
    model: str
    bandwidth_kbps: float
    def __init__(self, audio: _Optional[_Union[Audio, _Mapping]] = ..., model: _Optional[str] = ..., bandwidth_kbps: _Optional[float] = ...) -> None: ...

class EncodeResponse(_message.Message):
    __slots__ = ("codes", "bitrate_kbps")
    CODES_FIELD_NUMBER: _ClassVar[int]
    BITRATE_KBPS_FIELD_NUMBER: _ClassVar[int]
    codes: Codes
    bitrate_kbps: float
    def __init__(self, codes: _Optional[_Union[Codes, _Mapping]] = ..., bitrate_kbps: _Optional[float] = ...) -> None: ...

class DecodeRequest(_message.Message):
    __slots__ = ("codes", "encoding", "sample_rate_hz")
    CODES_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    codes: Codes
    encoding: AudioEncoding
    sample_rate_hz: int
    def __init__(self, codes: _Optional[_Union[Codes, _Mapping]] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ...) -> None: ...

class DecodeResponse(_message.Message):
    __slots__ = ("audio",)
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    audio: Audio
    def __init__(self, audio: _Optional[_Union[Audio, _Mapping]] = ...) -> None: ...

class StreamingConfig(_message.Message):
    __slots__ = ("model", "encoding", "sample_rate_hz", "channels", "bandwidth_kbps", "weights_hash", "codes_hash")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_KBPS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_HASH_FIELD_NUMBER: _ClassVar[int]
    CODES_HASH_FIELD_NUMBER: _ClassVar[int]
    model: str
    encoding: AudioEncoding
    sample_rate_hz: int
    channels: int
    bandwidth_kbps: float
    weights_hash: str
    codes_hash: str
    def __init__(self, model: _Optional[str] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ..., bandwidth_kbps: _Optional[float] = ..., weights_hash: _Optional[str] = ..., codes_hash: _Optional[str] = ...) -> None: ...

class EncodeStreamRequest(_message.Message):
    __slots__ = ("config", "audio_content", "end_of_stream")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    END_OF_STREAM_FIELD_NUMBER: _ClassVar[int]
    config: StreamingConfig
    audio_content: bytes
    end_of_stream: bool
    def __init__(self, config: _Optional[_Union[StreamingConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ..., end_of_stream: _Optional[bool] = ...) -> None: ...

class EncodeStreamResponse(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: Codes
    def __init__(self, codes: _Optional[_Union[Codes, _Mapping]] = ...) -> None: ...

class DecodeStreamRequest(_message.Message):
    __slots__ = ("config", "codes")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    config: StreamingConfig
    codes: Codes
    def __init__(self, config: _Optional[_Union[StreamingConfig, _Mapping]] = ..., codes: _Optional[_Union[Codes, _Mapping]] = ...) -> None: ...

class DecodeStreamResponse(_message.Message):
    __slots__ = ("audio",)
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    audio: Audio
    def __init__(self, audio: _Optional[_Union[Audio, _Mapping]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "weights_hash", "sample_rate_hz", "frame_rate_hz", "codebook_sizes", "bitrate_kbps", "latency_ms", "backend", "models", "codes_hash")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_HASH_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CODEBOOK_SIZES_FIELD_NUMBER: _ClassVar[int]
    BITRATE_KBPS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CODES_HASH_FIELD_NUMBER: _ClassVar[int]
    name: str
    weights_hash: str
    sample_rate_hz: int
    frame_rate_hz: float
    codebook_sizes: _containers.RepeatedScalarFieldContainer[int]
    bitrate_kbps: float
    latency_ms: float
    backend: str
    models: _containers.RepeatedScalarFieldContainer[str]
    codes_hash: str
    def __init__(self, name: _Optional[str] = ..., weights_hash: _Optional[str] = ..., sample_rate_hz: _Optional[int] = ..., frame_rate_hz: _Optional[float] = ..., codebook_sizes: _Optional[_Iterable[int]] = ..., bitrate_kbps: _Optional[float] = ..., latency_ms: _Optional[float] = ..., backend: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., codes_hash: _Optional[str] = ...) -> None: ...

class ZeroShotData(_message.Message):
    __slots__ = ("audio_prompt", "encoding", "sample_rate_hz", "transcript")
    AUDIO_PROMPT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    audio_prompt: bytes
    encoding: AudioEncoding
    sample_rate_hz: int
    transcript: str
    def __init__(self, audio_prompt: _Optional[bytes] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., transcript: _Optional[str] = ...) -> None: ...

class SynthesizeSpeechRequest(_message.Message):
    __slots__ = ("text", "language_code", "encoding", "sample_rate_hz", "voice_name", "zero_shot_data", "temperature", "top_p", "top_k", "seed", "speaking_rate", "chunk_ms", "model", "cfg_scale", "best_of", "word_times", "custom_dictionary", "volume_gain_db", "enable_time_pointing", "pitch")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    VOICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ZERO_SHOT_DATA_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_RATE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CFG_SCALE_FIELD_NUMBER: _ClassVar[int]
    BEST_OF_FIELD_NUMBER: _ClassVar[int]
    WORD_TIMES_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_DICTIONARY_FIELD_NUMBER: _ClassVar[int]
    VOLUME_GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    ENABLE_TIME_POINTING_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    text: str
    language_code: str
    encoding: AudioEncoding
    sample_rate_hz: int
    voice_name: str
    zero_shot_data: ZeroShotData
    temperature: float
    top_p: float
    top_k: int
    seed: int
    speaking_rate: float
    chunk_ms: int
    model: str
    cfg_scale: float
    best_of: int
    word_times: bool
    custom_dictionary: str
    volume_gain_db: float
    enable_time_pointing: _containers.RepeatedScalarFieldContainer[TimepointType]
    pitch: float
    def __init__(self, text: _Optional[str] = ..., language_code: _Optional[str] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., voice_name: _Optional[str] = ..., zero_shot_data: _Optional[_Union[ZeroShotData, _Mapping]] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., top_k: _Optional[int] = ..., seed: _Optional[int] = ..., speaking_rate: _Optional[float] = ..., chunk_ms: _Optional[int] = ..., model: _Optional[str] = ..., cfg_scale: _Optional[float] = ..., best_of: _Optional[int] = ..., word_times: _Optional[bool] = ..., custom_dictionary: _Optional[str] = ..., volume_gain_db: _Optional[float] = ..., enable_time_pointing: _Optional[_Iterable[_Union[TimepointType, str]]] = ..., pitch: _Optional[float] = ...) -> None: ...

class SynthesizeTextStreamRequest(_message.Message):
    __slots__ = ("config", "text", "flush", "interrupt")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FLUSH_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    config: SynthesizeSpeechRequest
    text: str
    flush: bool
    interrupt: bool
    def __init__(self, config: _Optional[_Union[SynthesizeSpeechRequest, _Mapping]] = ..., text: _Optional[str] = ..., flush: _Optional[bool] = ..., interrupt: _Optional[bool] = ...) -> None: ...

class SynthesizeSpeechResponse(_message.Message):
    __slots__ = ("audio", "encoding", "sample_rate_hz", "words", "interrupted", "flushed", "timepoints")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    FLUSHED_FIELD_NUMBER: _ClassVar[int]
    TIMEPOINTS_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    encoding: AudioEncoding
    sample_rate_hz: int
    words: _containers.RepeatedCompositeFieldContainer[WordTime]
    interrupted: bool
    flushed: bool
    timepoints: _containers.RepeatedCompositeFieldContainer[Timepoint]
    def __init__(self, audio: _Optional[bytes] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., words: _Optional[_Iterable[_Union[WordTime, _Mapping]]] = ..., interrupted: _Optional[bool] = ..., flushed: _Optional[bool] = ..., timepoints: _Optional[_Iterable[_Union[Timepoint, _Mapping]]] = ...) -> None: ...

class Timepoint(_message.Message):
    __slots__ = ("mark_name", "time_s")
    MARK_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    mark_name: str
    time_s: float
    def __init__(self, mark_name: _Optional[str] = ..., time_s: _Optional[float] = ...) -> None: ...

class WordTime(_message.Message):
    __slots__ = ("word", "start_s", "end_s", "sentence", "aligned", "text_offset", "text_length")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_FIELD_NUMBER: _ClassVar[int]
    ALIGNED_FIELD_NUMBER: _ClassVar[int]
    TEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    TEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_s: float
    end_s: float
    sentence: int
    aligned: bool
    text_offset: int
    text_length: int
    def __init__(self, word: _Optional[str] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., sentence: _Optional[int] = ..., aligned: _Optional[bool] = ..., text_offset: _Optional[int] = ..., text_length: _Optional[int] = ...) -> None: ...

class ListVoicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Voice(_message.Message):
    __slots__ = ("name", "language_code", "description", "model", "custom")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    name: str
    language_code: str
    description: str
    model: str
    custom: bool
    def __init__(self, name: _Optional[str] = ..., language_code: _Optional[str] = ..., description: _Optional[str] = ..., model: _Optional[str] = ..., custom: _Optional[bool] = ...) -> None: ...

class CreateVoiceRequest(_message.Message):
    __slots__ = ("name", "recording", "model", "description", "replace", "consent")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    recording: ZeroShotData
    model: str
    description: str
    replace: bool
    consent: ZeroShotData
    def __init__(self, name: _Optional[str] = ..., recording: _Optional[_Union[ZeroShotData, _Mapping]] = ..., model: _Optional[str] = ..., description: _Optional[str] = ..., replace: _Optional[bool] = ..., consent: _Optional[_Union[ZeroShotData, _Mapping]] = ...) -> None: ...

class DeleteVoiceRequest(_message.Message):
    __slots__ = ("name", "model")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class DeleteVoiceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices", "consent_statement")
    VOICES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_STATEMENT_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[Voice]
    consent_statement: str
    def __init__(self, voices: _Optional[_Iterable[_Union[Voice, _Mapping]]] = ..., consent_statement: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ...) -> None: ...
