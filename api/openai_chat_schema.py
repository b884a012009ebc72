"""OpenAI's chat-completions request schema, for every field MPC-API reads or forwards.

The Structs here only check a body; the body itself is forwarded as the client sent it, so
their unknown fields are ignored (not refused): platforms and newer SDKs send fields this
module does not know, and LiteLLM passes them on or drops them. Shapes follow OpenAI's API
reference: messages tagged by `role`, content parts tagged by `type`, tools tagged by
`type`, and the documented ranges of the sampling parameters. Fields whose allowed values
OpenAI extends often (`reasoning_effort`, an image's `detail`, audio formats) are checked
as strings only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
# OpenAI: "a-z, A-Z, 0-9, underscores and dashes, with a maximum length of 64".
FunctionName = Annotated[str, msgspec.Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
Penalty = Annotated[float, msgspec.Meta(ge=-2.0, le=2.0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]


class TextPart(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class ImageUrl(msgspec.Struct):
    url: NonEmpty
    detail: str | None = None


class ImagePart(msgspec.Struct, tag_field="type", tag="image_url"):
    image_url: ImageUrl


class InputAudio(msgspec.Struct):
    data: str
    format: NonEmpty


class AudioPart(msgspec.Struct, tag_field="type", tag="input_audio"):
    input_audio: InputAudio


class FileRef(msgspec.Struct):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(msgspec.Struct, tag_field="type", tag="file"):
    file: FileRef


class RefusalPart(msgspec.Struct, tag_field="type", tag="refusal"):
    refusal: str


UserPart = TextPart | ImagePart | AudioPart | FilePart
AssistantPart = TextPart | RefusalPart


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str


class FunctionToolCall(msgspec.Struct, tag_field="type", tag="function"):
    id: str
    function: FunctionCall


class CustomCall(msgspec.Struct):
    name: str
    input: str


class CustomToolCall(msgspec.Struct, tag_field="type", tag="custom"):
    id: str
    custom: CustomCall


class SystemMessage(msgspec.Struct, tag_field="role", tag="system"):
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(msgspec.Struct, tag_field="role", tag="developer"):
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(msgspec.Struct, tag_field="role", tag="user"):
    content: str | list[UserPart]
    name: str | None = None


class AssistantMessage(msgspec.Struct, tag_field="role", tag="assistant"):
    # null (or absent) only with `tool_calls` or `function_call`: checked in `check_chat_body`
    content: str | list[AssistantPart] | None = None
    tool_calls: list[FunctionToolCall | CustomToolCall] | None = None
    function_call: FunctionCall | None = None
    name: str | None = None
    refusal: str | None = None


class ToolMessage(msgspec.Struct, tag_field="role", tag="tool"):
    content: str | list[TextPart]
    tool_call_id: NonEmpty


class FunctionMessage(msgspec.Struct, tag_field="role", tag="function"):
    content: str | None
    name: str


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage


class FunctionDefinition(msgspec.Struct):
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema of an object: checked in `check_chat_body`
    strict: bool | None = None


class FunctionTool(msgspec.Struct, tag_field="type", tag="function"):
    function: FunctionDefinition


class CustomDefinition(msgspec.Struct):
    name: FunctionName
    description: str | None = None
    format: dict[str, Any] | None = None


class CustomTool(msgspec.Struct, tag_field="type", tag="custom"):
    custom: CustomDefinition


class StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class TextFormat(msgspec.Struct, tag_field="type", tag="text"):
    pass


class JsonObjectFormat(msgspec.Struct, tag_field="type", tag="json_object"):
    pass


class JsonSchema(msgspec.Struct):
    name: FunctionName
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class JsonSchemaFormat(msgspec.Struct, tag_field="type", tag="json_schema"):
    json_schema: JsonSchema


class NamedToolChoice(msgspec.Struct):
    type: NonEmpty  # "function", "custom", "allowed_tools": their details are the provider's to check


class ChatBody(msgspec.Struct):
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    model: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = None
    max_tokens: AtLeastOne | None = None
    max_completion_tokens: AtLeastOne | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    logit_bias: dict[str, Annotated[float, msgspec.Meta(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    seed: int | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    tools: list[FunctionTool | CustomTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: TextFormat | JsonObjectFormat | JsonSchemaFormat | None = None
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    modalities: list[str] | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
