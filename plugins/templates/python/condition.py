"""{{name}}: a LiveDesk routing condition. It holds when the message being
routed contains the `keyword` from its `config { … }` block, ignoring
case. Edit `evaluate` to decide what you need; `context` holds the
channel, the contact, the conversation and its latest messages."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.exports.config_check import ConfigProblem
from wit_world.imports.types import Context

KEYS = ["keyword"]


class Condition(exports.Condition):
    def evaluate(self, context: Context) -> bool:
        # `raise Err(...)` is a plugin error: it counts as "no match", and
        # `livedesk test --deny-plugin-errors` fails the test. Any other
        # exception is a trap; its traceback shows in `livedesk plugin run`.
        keyword = host.config("keyword")
        if keyword is None:
            raise Err("`keyword` is not set")
        if context.message is None:
            host.log(host.Level.DEBUG, "no message to look at")
            return False
        holds = keyword.lower() in context.message.content.lower()
        host.log(host.Level.DEBUG, f"looked for {keyword!r}: {holds}")
        return holds


class ConfigCheck(exports.ConfigCheck):
    # Runs when `livedesk check` (or the daemon) loads the plugin: each
    # problem is an error at its key in the `.livedesk` file.
    def check_config(self, entries):
        problems = [
            ConfigProblem(key=e.key, message=f"unknown key; the keys are {', '.join(KEYS)}")
            for e in entries
            if e.key not in KEYS
        ]
        if not any(e.key == "keyword" for e in entries):
            problems.append(ConfigProblem(key=None, message="`keyword` is required"))
        return problems
