// livedesk-world: checked-agent-plugin
//
// An AI agent, written in JavaScript: answers from a knowledge base's
// search API over HTTP (`fetch`, which runs on `wasi:http`), and hands the
// conversation to a human when nothing matches well enough. Config:
//
// - `base_url`: the search API; the agent POSTs `{"query": …}` to
//   `{base_url}/search` and reads `{"results": [{"answer", "score"}]}`
// - `api_key`: sent as a bearer token, if set
// - `min_score`: the lowest score (0 to 1) worth answering with (default 0.5)
//
// The API's host must be in the agent's `allow_hosts`.

import { config, log } from "livedesk:plugin/host@0.1.1";

function minScore() {
  const text = config("min_score") ?? "0.5";
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw `\`min_score\` must be a number from 0 to 1, not \`${text}\``;
  }
  return value;
}

export const agent = {
  async respond(context) {
    const question = context.message?.content ?? "";
    if (question.trim() === "") {
      return { tag: "hand-off", val: "the customer's message is empty" };
    }
    const base = config("base_url");
    if (!base) {
      throw "`base_url` is not set";
    }
    const threshold = minScore();
    const headers = { "content-type": "application/json" };
    const key = config("api_key");
    if (key) {
      headers.authorization = `Bearer ${key}`;
    }
    let response;
    try {
      response = await fetch(`${base.replace(/\/+$/, "")}/search`, {
        method: "POST",
        headers,
        body: JSON.stringify({ query: question }),
      });
    } catch (e) {
      log("warn", `cannot reach the knowledge base: ${e}`);
      return { tag: "hand-off", val: "the knowledge base cannot be reached" };
    }
    if (!response.ok) {
      log("warn", `the knowledge base answered ${response.status}`);
      return { tag: "hand-off", val: `the knowledge base failed (HTTP ${response.status})` };
    }
    const body = await response.json();
    const best = (body.results ?? [])
      .filter((r) => typeof r.answer === "string" && typeof r.score === "number")
      .sort((a, b) => b.score - a.score)[0];
    log("debug", `best score ${best?.score ?? "none"} (needs ${threshold})`);
    if (!best || best.score < threshold) {
      return { tag: "hand-off", val: "the knowledge base has no good answer" };
    }
    return { tag: "reply", val: best.answer };
  },
};

export const configCheck = {
  checkConfig(entries) {
    const known = ["base_url", "api_key", "min_score"];
    const problems = [];
    for (const { key, value } of entries) {
      if (!known.includes(key)) {
        problems.push({ key, message: `unknown key; the keys are ${known.join(", ")}` });
      } else if (key === "base_url" && value !== undefined && !/^https?:\/\//.test(value)) {
        problems.push({ key, message: "must start with http:// or https://" });
      } else if (key === "min_score" && value !== undefined) {
        const n = Number(value);
        if (!Number.isFinite(n) || n < 0 || n > 1) {
          problems.push({ key, message: "must be a number from 0 to 1" });
        }
      }
    }
    if (!entries.some((e) => e.key === "base_url")) {
      problems.push({ key: undefined, message: "`base_url` is required" });
    }
    return problems;
  },
};
