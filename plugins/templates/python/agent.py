"""{{name}}: a LiveDesk AI agent. It answers a message that contains the
`keyword` from its `config { … }` block with the configured `answer`, and
hands anything else to a human. Edit `respond` to do what you need; to
call an HTTP API, use `wasi:http` (componentize-py's `poll_loop` module)
and list the host in the agent's `allow_hosts`."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.agent import Action_HandOff, Action_Reply
from wit_world.imports import host
from wit_world.exports.config_check import ConfigProblem
from wit_world.imports.livedesk_plugin_types import Context

KEYS = ["keyword", "answer"]


class Agent(exports.Agent):
    def respond(self, context: Context):
        # `raise Err(...)`, any other exception or running out of time hands
        # the conversation to a human, with the reason shown to the agents.
        keyword = host.config("keyword")
        answer = host.config("answer")
        if keyword is None or answer is None:
            raise Err("`keyword` and `answer` must be set")
        question = context.message.content if context.message else ""
        host.log(host.Level.DEBUG, f"{len(context.conversation.recent_messages)} earlier messages")
        if keyword.lower() in question.lower():
            return Action_Reply(answer)
        return Action_HandOff(f"no answer for {question!r}")


class ConfigCheck(exports.ConfigCheck):
    # Runs when `livedesk check` (or the daemon) loads the plugin: each
    # problem is an error at its key in the `.livedesk` file.
    def check_config(self, entries):
        problems = [
            ConfigProblem(key=e.key, message=f"unknown key; the keys are {', '.join(KEYS)}")
            for e in entries
            if e.key not in KEYS
        ]
        for required in KEYS:
            if not any(e.key == required for e in entries):
                problems.append(ConfigProblem(key=None, message=f"`{required}` is required"))
        return problems
