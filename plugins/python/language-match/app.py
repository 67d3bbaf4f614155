"""A routing condition, written in Python: is the customer writing in a
given language?

Counts the message's common words of each known language and holds when
the configured language scores highest. Useful to route conversations to
the team that speaks the customer's language. Config:

- `language`: `id` (Indonesian), `en` (English), `ms` (Malay) or `nl` (Dutch)
- `min_words`: how many common words must be seen to decide (default 2)
"""

import re

from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import Context, MessageType
from componentize_py_types import Err

COMMON_WORDS = {
    "id": {"saya", "tidak", "bisa", "apa", "yang", "dan", "ini", "itu", "dengan", "untuk",
           "ada", "mau", "tolong", "terima", "kasih", "bagaimana", "kenapa", "sudah", "belum", "pesanan"},
    "en": {"the", "and", "is", "my", "you", "to", "please", "can", "not", "with",
           "have", "what", "why", "how", "this", "that", "order", "thanks", "help", "it"},
    "ms": {"saya", "tidak", "boleh", "apa", "yang", "dan", "ini", "itu", "dengan", "untuk",
           "ada", "mahu", "tolong", "terima", "kasih", "bagaimana", "kenapa", "sudah", "belum", "pesanan"},
    "nl": {"de", "het", "een", "en", "is", "mijn", "niet", "kan", "met", "voor",
           "wat", "waarom", "hoe", "dit", "dat", "bestelling", "bedankt", "hulp", "ik", "je"},
}

WORD = re.compile(r"[^\W\d_]+")


def scores(text: str) -> dict:
    words = WORD.findall(text.lower())
    return {lang: sum(1 for w in words if w in vocabulary) for lang, vocabulary in COMMON_WORDS.items()}


class Condition(exports.Condition):
    def evaluate(self, context: Context) -> bool:
        language = (host.config("language") or "").strip().lower()
        if language not in COMMON_WORDS:
            raise Err(f"`language` must be one of {', '.join(sorted(COMMON_WORDS))}, not `{language}`")
        try:
            min_words = int(host.config("min_words") or "2")
        except ValueError:
            raise Err("`min_words` is not a whole number")

        texts = [m.content for m in context.conversation.recent_messages
                 if m.message_type == MessageType.INCOMING]
        if context.message is not None:
            texts.append(context.message.content)
        counted = scores(" ".join(texts))
        best = max(counted.values())
        host.log(host.Level.DEBUG, f"language scores {counted}")
        return best >= min_words and counted[language] == best
