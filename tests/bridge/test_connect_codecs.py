"""The web port's codecs on their own: JSON of a shared answer is made once, within budget."""

from __future__ import annotations

import json

from neural_heatmap_bridge._connect import BinaryCodec, JsonCodec, WireResponse
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import view_pb2


def _answer(theme: int) -> WireResponse:
    msg = pb.GetThemeResponse(theme=view_pb2.ThemeSettings(theme=theme))
    return WireResponse(msg.SerializeToString(), pb.GetThemeResponse)


def test_binary_passes_preserialized_answers_through() -> None:
    answer = _answer(view_pb2.THEME_PLASMA)
    assert BinaryCodec().encode(answer) is answer.data


def test_json_of_one_answer_is_made_once_and_equals_the_message() -> None:
    codec = JsonCodec()
    answer = _answer(view_pb2.THEME_PLASMA)
    first = codec.encode(answer)
    assert json.loads(first) == {"theme": {"theme": "THEME_PLASMA"}}
    assert codec.encode(WireResponse(answer.data, pb.GetThemeResponse)) is first


def test_json_cache_stays_within_its_budget() -> None:
    one = _answer(view_pb2.THEME_PLASMA)
    size = len(one.data) + len(JsonCodec().encode(one))
    codec = JsonCodec(budget=2 * size)
    first = codec.encode(one)
    codec.encode(_answer(view_pb2.THEME_THERMAL))
    codec.encode(_answer(view_pb2.THEME_CONTOUR))  # the oldest, PLASMA, goes
    again = codec.encode(one)
    assert again == first and again is not first
