// {{name}}: a LiveDesk AI agent. It answers a message that contains the
// `keyword` from its `config { … }` block with the configured `answer`,
// and hands anything else to a human. Edit `respond` to do what you need:
// `respond` may be `async` and `await fetch(…)` an HTTP API (it runs on
// `wasi:http`); list the API's host in the agent's `allow_hosts`.

import { config, log } from "livedesk:plugin/host@{{version}}";

const KEYS = ["keyword", "answer"];

export const agent = {
  async respond(context) {
    // A thrown string, any other exception or running out of time hands
    // the conversation to a human, with the reason shown to the agents.
    const keyword = config("keyword");
    const answer = config("answer");
    if (keyword === undefined || answer === undefined) {
      throw "`keyword` and `answer` must be set";
    }
    const question = context.message?.content ?? "";
    log("debug", `${context.conversation.recentMessages.length} earlier messages`);
    if (question.toLowerCase().includes(keyword.toLowerCase())) {
      return { tag: "reply", val: answer };
    }
    return { tag: "hand-off", val: `no answer for ${JSON.stringify(question)}` };
  },
};

// Runs when `livedesk check` (or the daemon) loads the plugin: each
// problem is an error at its key in the `.livedesk` file.
export const configCheck = {
  checkConfig(entries) {
    const problems = entries
      .filter((e) => !KEYS.includes(e.key))
      .map((e) => ({ key: e.key, message: `unknown key; the keys are ${KEYS.join(", ")}` }));
    for (const required of KEYS) {
      if (!entries.some((e) => e.key === required)) {
        problems.push({ key: undefined, message: `\`${required}\` is required` });
      }
    }
    return problems;
  },
};
