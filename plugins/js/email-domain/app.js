// livedesk-world: checked-condition-plugin
//
// A routing condition, written in JavaScript: does the contact write from
// one of the listed email domains? Route a key account's people to their
// team. Config:
//
// - `domains`: comma-separated domains, e.g. `bigcorp.test, bigcorp.co.id`
//   (a subdomain counts: `mail.bigcorp.test` is `bigcorp.test`)

import { config, log } from "livedesk:plugin/host@0.1.1";

function domains(text) {
  return text
    .split(",")
    .map((d) => d.trim().toLowerCase())
    .filter((d) => d.length > 0);
}

export const condition = {
  evaluate(context) {
    const listed = domains(config("domains") ?? "");
    if (listed.length === 0) {
      throw "`domains` is empty: list at least one domain";
    }
    const email = context.contact.email ?? "";
    const at = email.lastIndexOf("@");
    if (at < 0) {
      log("debug", "the contact has no email address");
      return false;
    }
    const domain = email.slice(at + 1).toLowerCase();
    return listed.some((d) => domain === d || domain.endsWith("." + d));
  },
};

export const configCheck = {
  checkConfig(entries) {
    const problems = [];
    for (const { key, value } of entries) {
      if (key !== "domains") {
        problems.push({ key, message: "unknown key; the only key is `domains`" });
      } else if (value !== undefined && domains(value).length === 0) {
        problems.push({ key, message: "list at least one domain" });
      }
    }
    if (!entries.some((e) => e.key === "domains")) {
      problems.push({ key: undefined, message: "`domains` is required" });
    }
    return problems;
  },
};
