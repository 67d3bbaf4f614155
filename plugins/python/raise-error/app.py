"""Test plugin: a routing condition, in Python, that logs a line and then
raises an exception from a nested call. The host must keep the whole
traceback (not only its last line) for `livedesk plugin run` and
`livedesk explain`."""

from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import Context


def ratio(context: Context) -> float:
    attended = len(context.conversation.recent_messages)
    return 1 / attended  # no messages: ZeroDivisionError


class Condition(exports.Condition):
    def evaluate(self, context: Context) -> bool:
        host.log(host.Level.INFO, "computing the ratio")
        return ratio(context) > 0.5
