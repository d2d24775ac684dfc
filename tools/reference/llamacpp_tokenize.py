#!/usr/bin/env python3
"""Tokenizes a corpus with llama.cpp (through llama-cpp-python) for Recur's tokenizer tests.

Reads CORPUS (one JSON string per line, as make_tokenizer_corpus.py writes it) and writes OUT, a
JSON object:

  vocab: n_tokens, bos, eos, eot (-1 when none), add_bos, add_eos, eog (every end-of-generation
         id), pieces / pieces_special (hex of llama_token_to_piece for every id, special false /
         true)
  lines: for each text, ids (llama_tokenize add_special=false, parse_special=false),
         ids_special (parse_special=true), ids_add (add_special=true, parse_special=true),
         detok / detok_special (hex of llama_detokenize of `ids` / `ids_special`, remove_special
         false, unparse_special false / true)

Only the vocabulary is loaded (vocab_only), so any GGUF with tokenizer metadata works, weights
or not. Exits 77 when llama_cpp cannot be imported (the tests then skip).

    python3 tools/reference/llamacpp_tokenize.py --model M.gguf --corpus C.jsonl --out R.json [--no-pieces]
"""

import argparse
import ctypes
import json
import sys

try:
    import llama_cpp
except ImportError as error:  # the tests turn 77 into a skip
    print(f"llama_cpp is not importable ({error}); pip install llama-cpp-python", file=sys.stderr)
    sys.exit(77)


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _quiet(level, text, user_data):
    pass


def load_vocab(path):
    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p())
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(path.encode(), params)
    if not model:
        sys.exit(f"llama.cpp could not load {path}")
    return model, llama_cpp.llama_model_get_vocab(model)


def tokenize(vocab, data, add_special, parse_special):
    capacity = len(data) + 16
    while True:
        tokens = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(vocab, data, len(data), tokens, capacity, add_special, parse_special)
        if count >= 0:
            return list(tokens[:count])
        capacity = -count


def piece(vocab, token, special):
    capacity = 64
    while True:
        buffer = ctypes.create_string_buffer(capacity)
        count = llama_cpp.llama_token_to_piece(vocab, token, buffer, capacity, 0, special)
        if count >= 0:
            return buffer.raw[:count]
        capacity = -count


def detokenize(vocab, ids, special):
    array = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
    capacity = 4 * len(ids) + 64
    while True:
        buffer = ctypes.create_string_buffer(capacity)
        count = llama_cpp.llama_detokenize(vocab, array, len(ids), buffer, capacity, False, special)
        if count >= 0:
            return buffer.raw[:count]
        capacity = -count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-pieces", action="store_true", help="leave pieces / pieces_special empty (faster)")
    args = parser.parse_args()

    model, vocab = load_vocab(args.model)
    n_tokens = llama_cpp.llama_vocab_n_tokens(vocab)
    result = {
        "vocab": {
            "n_tokens": n_tokens,
            "bos": llama_cpp.llama_vocab_bos(vocab),
            "eos": llama_cpp.llama_vocab_eos(vocab),
            "eot": llama_cpp.llama_vocab_eot(vocab),
            "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
            "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
            "eog": [t for t in range(n_tokens) if llama_cpp.llama_vocab_is_eog(vocab, t)],
            "pieces": [] if args.no_pieces else [piece(vocab, t, False).hex() for t in range(n_tokens)],
            "pieces_special": [] if args.no_pieces else [piece(vocab, t, True).hex() for t in range(n_tokens)],
        },
        "lines": [],
    }
    with open(args.corpus, encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line).encode("utf-8")
            ids = tokenize(vocab, data, False, False)
            ids_special = tokenize(vocab, data, False, True)
            result["lines"].append({
                "ids": ids,
                "ids_special": ids_special,
                "ids_add": tokenize(vocab, data, True, True),
                "detok": detokenize(vocab, ids, False).hex(),
                "detok_special": detokenize(vocab, ids_special, True).hex(),
            })
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    llama_cpp.llama_model_free(model)


if __name__ == "__main__":
    main()
