#!/usr/bin/env python3
"""Writes the tokenizer conformance corpus: one JSON string per line (so texts can hold newlines).

The corpus is generated rather than committed. It is deterministic for a given --seed and Python
installation (code lines come from the running interpreter's standard library), and mixes what
byte-level BPE pre-tokenizers are sensitive to:

  - source code (lines and multi-line snippets of the stdlib's .py files)
  - prose in many scripts, combining marks, right-to-left text, emoji with modifiers and ZWJ
  - random code points from chosen blocks and from the whole Unicode range (unassigned, private
    use and recently assigned ones included)
  - whitespace runs: tabs, spaces, CR/LF, trailing spaces, non-ASCII spaces
  - digit runs, ASCII and not, and numbers in text
  - contractions in every case ('s 'T 're 'LL ...)
  - special-token strings (<|im_start|>, <|im_end|>, <|endoftext|>, ...), whole, broken and glued

    python3 tools/reference/make_tokenizer_corpus.py OUT.jsonl [--lines 10000] [--seed 20240601]
"""

import argparse
import json
import os
import random
import sys
import sysconfig

PHRASES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How are you today?",
    "Grüße aus München, schöne Straße!",
    "Voilà : un café crème, s'il vous plaît.",
    "¿Dónde está la biblioteca? ¡Aquí!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ελληνικά: Καλημέρα κόσμε",
    "日本語のテキストです。東京は晴れ。",
    "中文文本：我爱自然语言处理，你呢？",
    "한국어 텍스트: 안녕하세요 세계",
    "עברית: שלום עולם",
    "العربية: مرحبا بالعالم ١٢٣٤٥",
    "हिन्दी: नमस्ते दुनिया १२३",
    "ภาษาไทย สวัสดีชาวโลก",
    "Tiếng Việt: Xin chào thế giới",
    "Emoji: 🤖👍🏽👨‍👩‍👧‍👦 🇫🇷 ❤️ 🧠✨",
    "Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 Z\u0336a\u0337l\u0338g\u0335o",
    "Math: ∑ᵢ xᵢ² ≤ ∞, ½ + ¼ = ¾, √2 ≈ 1.414",
    "Full-width: ＡＢＣ１２３！？",
    "Roman numerals: Ⅰ Ⅱ Ⅻ ⅷ, superscripts ¹²³ and subscripts ₁₂₃",
    "Mixed scripts: abcабвαβγ日本123١٢٣",
    "Quotes: “curly” ‘single’ «guillemets» „low“",
    "Dashes — en – em — minus − hyphen‐",
    "Zero width:\u200bjoiner\u200dnon\u200cjoiner\ufeffbom",
    "Tab\tseparated\tvalues\there",
    "Trailing spaces   ",
    "   leading spaces",
    "Windows line\r\nending",
    "NBSP\u00a0here and ideographic\u3000space and NEL\u0085and LS\u2028end",
    "CamelCaseIdentifier snake_case_identifier kebab-case-identifier",
    "https://example.com/path?query=1&other=two#frag",
    "user@example.org, +1 (555) 123-4567",
    "$100.00, €50, £20, ¥1000, ₿0.5",
    "I'm sure you're right; they've said we'll see, he'd know, it's John's.",
    "I'M SURE YOU'RE RIGHT; THEY'VE SAID WE'LL SEE, HE'D KNOW, IT'S JOHN'S.",
    "don't can't won't shouldn't y'all ma'am rock'n'roll",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'Re 'lL",
]

SPECIALS = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<reponame>", "<file_sep>",
    "<filename>", "<gh_stars>", "<issue_start>", "<jupyter_code>", "<empty_output>",
]

# (first, last) code point blocks that text is drawn from.
BLOCKS = [
    (0x0020, 0x007E), (0x00A0, 0x00FF), (0x0100, 0x024F), (0x0250, 0x02FF), (0x0300, 0x036F),
    (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0530, 0x058F), (0x0590, 0x05FF), (0x0600, 0x06FF),
    (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1E00, 0x1EFF),
    (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20CF), (0x2100, 0x214F), (0x2150, 0x218F),
    (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x257F), (0x2600, 0x26FF),
    (0x2700, 0x27BF), (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x4E00, 0x9FFF),
    (0xA7C0, 0xA7FF), (0xAC00, 0xD7A3), (0xFB00, 0xFB4F), (0xFE00, 0xFE0F), (0xFF00, 0xFFEF),
    (0x10400, 0x1044F), (0x1D400, 0x1D7FF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF), (0x1CC00, 0x1CEBF),
    (0x20000, 0x2A6DF), (0x30000, 0x3134F), (0xE0000, 0xE007F),
]

WHITESPACE = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ", " \t ",
              "\u00a0", "\u3000", "\u2003", "\u0085", "\u2028", "\v", "\f"]


def stdlib_lines(rng, limit):
    """Non-empty lines and small multi-line snippets of the standard library's Python sources."""
    root = sysconfig.get_paths()["stdlib"]
    files = sorted(
        os.path.join(root, name) for name in os.listdir(root)
        if name.endswith(".py") and os.path.isfile(os.path.join(root, name)))
    rng.shuffle(files)
    out = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().split("\n")
        except (UnicodeDecodeError, OSError):
            continue
        start = rng.randrange(max(1, len(lines) - 40))
        for line in lines[start:start + 25]:
            if line.strip():
                out.append(line)
        out.append("\n".join(lines[start:start + rng.randint(2, 8)]))
        if len(out) >= limit:
            break
    return out[:limit]


def random_scalar(rng):
    """Any code point but a surrogate, often in the blocks above."""
    if rng.random() < 0.8:
        first, last = rng.choice(BLOCKS)
        return chr(rng.randint(first, last))
    while True:
        value = rng.randint(0x80, 0x10FFFF)
        if not 0xD800 <= value <= 0xDFFF:
            return chr(value)


def random_word(rng):
    kind = rng.random()
    if kind < 0.35:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(1, 12)))
    if kind < 0.5:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    if kind < 0.6:
        return "".join(rng.choice("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for _ in range(rng.randint(1, 5)))
    if kind < 0.7:
        return rng.choice(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'x", "'"])
    if kind < 0.8:
        return rng.choice(rng.choice(PHRASES).split(" ")) if rng.random() < 0.5 else rng.choice(PHRASES)
    return "".join(random_scalar(rng) for _ in range(rng.randint(1, 8)))


def mixed_line(rng):
    parts = []
    for _ in range(rng.randint(1, 14)):
        parts.append(random_word(rng))
        parts.append(rng.choice(WHITESPACE) if rng.random() < 0.3 else rng.choice(["", " ", " "]))
    return "".join(parts)


def digits_line(rng):
    shapes = [
        lambda: str(rng.randint(0, 10 ** rng.randint(1, 20))),
        lambda: f"{rng.random() * 10 ** rng.randint(0, 8):.{rng.randint(0, 6)}f}",
        lambda: f"{rng.randint(0, 10 ** 9):,}",
        lambda: f"v{rng.randint(0, 9)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}",
        lambda: "".join(rng.choice("0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９¹²³½Ⅻ") for _ in range(rng.randint(1, 15))),
        lambda: "abc" + str(rng.randint(0, 99999)) + "def",
        lambda: " " + str(rng.randint(0, 99999)),
    ]
    return rng.choice([" ", "", "\t", "\n", " - "]).join(rng.choice(shapes)() for _ in range(rng.randint(1, 6)))


def whitespace_line(rng):
    parts = []
    for _ in range(rng.randint(1, 8)):
        parts.append(rng.choice(WHITESPACE) * rng.randint(1, 4))
        if rng.random() < 0.7:
            parts.append(random_word(rng))
    return "".join(parts)


def special_line(rng):
    parts = []
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.45:
            parts.append(rng.choice(SPECIALS))
        elif roll < 0.55:
            token = rng.choice(SPECIALS)
            cut = rng.randint(1, len(token) - 1)
            parts.append(token[:cut] if rng.random() < 0.5 else token[cut:])  # broken: never special
        elif roll < 0.65:
            outer, inner = rng.choice(SPECIALS), rng.choice(SPECIALS)
            cut = rng.randint(1, len(outer) - 1)
            parts.append(outer[:cut] + inner + outer[cut:])  # one special inside another's text
        else:
            parts.append(random_word(rng))
        parts.append(rng.choice(["", "", " ", "\n", "  "]))
    return "".join(parts)


def chat_line(rng):
    role = rng.choice(["system", "user", "assistant"])
    body = rng.choice(PHRASES)
    return f"<|im_start|>{role}\n{body}<|im_end|>\n" + ("<|im_start|>assistant\n" if rng.random() < 0.5 else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    texts = list(PHRASES)
    texts += ["", " ", "\n", "\t", "a", "1", "'", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
              "<|im_start|><|im_end|>", "<|im_<|im_end|>start|>", "<|endoftext|><|endoftext|>", "🤖", "é",
              "e\u0301", "\u0301", "\U0001FAE9", "\U0001CC00", "\uE000", "\U0010FFFF", "\u0378",
              "\x00", "a\x00b", "\x1b[31mred\x1b[0m", "\x7f\x01\x1f", "1's 2'LL x'", "'", "''s", "x" * 300,
              " " * 50 + "end", "\n" * 20, "\t \n \r\n  x", "a  \n  b", "élan" * 40, "1" * 100]
    count = max(args.lines - len(texts), 0)
    texts += stdlib_lines(rng, count // 4)
    makers = [mixed_line, mixed_line, digits_line, whitespace_line, special_line, chat_line]
    while len(texts) < args.lines:
        texts.append(rng.choice(makers)(rng))
    texts = texts[:max(args.lines, len(PHRASES))]

    with open(args.out, "w", encoding="utf-8") as handle:
        for text in texts:
            handle.write(json.dumps(text, ensure_ascii=True) + "\n")
    print(f"{len(texts)} lines -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
