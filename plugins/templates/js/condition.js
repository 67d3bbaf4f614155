// {{name}}: a LiveDesk routing condition. It holds when the message being
// routed contains the `keyword` from its `config { … }` block, ignoring
// case. Edit `evaluate` to decide what you need; `context` holds the
// channel, the contact, the conversation and its latest messages (WIT
// names in camelCase: `context.contact.customAttributes`).

import { config, log } from "livedesk:plugin/host@{{version}}";

const KEYS = ["keyword"];

export const condition = {
  evaluate(context) {
    // A thrown string is a plugin error: it counts as "no match", and
    // `livedesk test --deny-plugin-errors` fails the test.
    const keyword = config("keyword");
    if (keyword === undefined) {
      throw "`keyword` is not set";
    }
    if (context.message === undefined) {
      log("debug", "no message to look at");
      return false;
    }
    const holds = context.message.content.toLowerCase().includes(keyword.toLowerCase());
    log("debug", `looked for ${JSON.stringify(keyword)}: ${holds}`);
    return holds;
  },
};

// Runs when `livedesk check` (or the daemon) loads the plugin: each
// problem is an error at its key in the `.livedesk` file.
export const configCheck = {
  checkConfig(entries) {
    const problems = entries
      .filter((e) => !KEYS.includes(e.key))
      .map((e) => ({ key: e.key, message: `unknown key; the keys are ${KEYS.join(", ")}` }));
    if (!entries.some((e) => e.key === "keyword")) {
      problems.push({ key: undefined, message: "`keyword` is required" });
    }
    return problems;
  },
};
